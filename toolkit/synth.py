"""Seeded, photo-like synthetic media for tests, the sample data set and benchmarks (Pillow only).

Photo-like means smooth gradients, a few soft shapes and moderate sensor-like noise — so JPEG
sizes and decode costs are realistic — never pure noise. Generation stays fast at 24 MP: the
structure is drawn small and scaled up, the noise is a tile repeated over the frame.
"""

from __future__ import annotations

import random
import struct
import zlib
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["photo", "write_photo", "write_truncated_jpeg", "write_garbage", "write_empty", "write_bomb_png",
           "write_big_png", "write_eps", "write_with_exif_orientation", "write_broken_exif_jpeg"]


@lru_cache(maxsize=4)
def _noise_tile(seed: int, size: int = 509) -> Image.Image:
    return Image.effect_noise((size, size), 24).convert("RGB") if seed >= 0 else Image.new("RGB", (size, size))


def photo(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    """A photo-like image of ``width`` x ``height``: the same seed gives the same picture."""
    rnd = random.Random(seed)
    sw, sh = max(8, width // 8), max(8, height // 8)
    top = tuple(rnd.randrange(40, 230) for _ in range(3))
    bottom = tuple(rnd.randrange(10, 200) for _ in range(3))
    grad = Image.linear_gradient("L").resize((sw, sh))
    base = Image.composite(Image.new("RGB", (sw, sh), bottom), Image.new("RGB", (sw, sh), top), grad)
    draw = ImageDraw.Draw(base)
    for _ in range(rnd.randrange(4, 9)):
        x, y = rnd.randrange(sw), rnd.randrange(sh)
        r = rnd.randrange(max(2, sw // 20), max(3, sw // 4))
        colour = tuple(rnd.randrange(256) for _ in range(3))
        if rnd.random() < 0.5:
            draw.ellipse((x - r, y - r // 2, x + r, y + r), fill=colour)
        else:
            draw.polygon([(x + rnd.randrange(-r, r), y + rnd.randrange(-r, r)) for _ in range(rnd.randrange(3, 6))], fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(max(1, sw // 200)))
    im = base.resize((width, height), Image.Resampling.BILINEAR)
    tile = _noise_tile(seed % 3)
    noise = Image.new("RGB", (width, height))
    for ty in range(0, height, tile.height):
        for tx in range(0, width, tile.width):
            noise.paste(tile, (tx, ty))
    im = Image.blend(im, noise, 0.12)
    return im if mode == "RGB" else im.convert(mode)


def write_photo(path, width: int, height: int, seed: int, fmt: str | None = "JPEG", quality: int = 90, **save_kw) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    im = photo(width, height, seed)
    if fmt in ("JPEG", "WEBP"):
        save_kw.setdefault("quality", quality)
    im.save(p, fmt, **save_kw)
    return p


def write_truncated_jpeg(path, seed: int = 0, width: int = 640, height: int = 480) -> Path:
    p = write_photo(path, width, height, seed)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def write_garbage(path, seed: int = 0, size: int = 4096) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(random.Random(seed).randbytes(size))
    return p


def write_empty(path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_bomb_png(path, width: int = 40000, height: int = 40000) -> Path:
    """A tiny PNG whose (valid) header declares ``width`` x ``height`` pixels."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    idat = zlib.compress(b"\x00" * 1024)
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                  + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))
    return p


def write_big_png(path, width: int, height: int, seed: int = 0) -> Path:
    """A valid RGB PNG of smooth bands whose decode needs width*height*3 bytes, written in constant memory."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    comp = zlib.compressobj(6)
    parts = []
    for y in range(height):
        v = (y * 255 // height + seed * 37) % 256
        parts.append(comp.compress(b"\x00" + bytes((v, 255 - v, (v * 3) % 256)) * width))
    parts.append(comp.flush())
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                  + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b""))
    return p


def write_eps(path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nnewpath 0 0 moveto 100 100 lineto stroke\nshowpage\n%%EOF\n")
    return p


def write_with_exif_orientation(path, width: int, height: int, orientation: int, seed: int = 0) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    im = photo(width, height, seed)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(p, "JPEG", quality=90, exif=exif.tobytes())
    return p


def write_broken_exif_jpeg(path, seed: int = 0, width: int = 400, height: int = 300) -> Path:
    """A JPEG whose APP1/EXIF segment is garbage but whose image data decodes."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    import io
    buf = io.BytesIO()
    photo(width, height, seed).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    junk = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + bytes(random.Random(seed).randbytes(40))
    seg = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    p.write_bytes(data[:2] + seg + data[2:])
    return p
