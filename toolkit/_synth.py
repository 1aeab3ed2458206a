"""Seeded synthetic media for tests, the sample data set and benchmarks (Pillow only).

Photo-like images are built from smooth structure drawn at low resolution (gradients, soft
ellipses and polygons), upscaled, then given full-resolution grain, so they compress like real
photographs (a 24 MP quality-90 JPEG is a few MB) and are fast to make even at 24 MP.
The same arguments always give the same pixels (for a given Pillow version).

>>> photo(64, 48, seed=1).size
(64, 48)

Hostile files (truncated, garbage, empty, decompression bomb, EPS, broken EXIF) each return the
path written; parent folders are created.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

__all__ = [
    "photo",
    "write_photo",
    "write_truncated_jpeg",
    "write_garbage",
    "write_empty",
    "write_bomb_png",
    "write_big_png",
    "write_eps",
    "write_with_exif_orientation",
    "write_broken_exif_jpeg",
]

ORIENTATION_TAG = 0x0112
_STRUCTURE_LONG_SIDE = 384  # structure is drawn at most this large, then upscaled
_GRAIN_TILE = 1021  # grain tile side (prime, so it does not line up with 8x8 JPEG blocks)
_GRAIN_AMPLITUDE = 7  # +/- levels of full-resolution grain per channel
_TEXTURE_AMPLITUDE = 14  # +/- levels of mid-frequency texture (grain drawn at 1/2 scale)


def _parent(path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


@lru_cache(maxsize=16)
def _grain_tile(side: int, seed: int, amplitude: int) -> Image.Image:
    """An RGB tile of uniform noise centred on 128 (+/- amplitude), seeded."""
    rng = random.Random(seed * 7919 + side)
    raw = rng.randbytes(side * side * 3)
    lut = [128 - amplitude + (v * (2 * amplitude + 1)) // 256 for v in range(256)] * 3
    return Image.frombytes("RGB", (side, side), raw).point(lut)


def _tiled(tile: Image.Image, size: tuple[int, int], dx: int, dy: int) -> Image.Image:
    w, h = size
    tw, th = tile.size
    out = Image.new(tile.mode, size)
    for y in range(-(dy % th), h, th):
        for x in range(-(dx % tw), w, tw):
            out.paste(tile, (x, y))
    return out


def _grain(size: tuple[int, int], seed: int, amplitude: int) -> Image.Image:
    """Full-size noise centred on 128: one seeded tile repeated from a seeded offset."""
    rng = random.Random(seed ^ 0x5EED)
    side = _GRAIN_TILE
    return _tiled(_grain_tile(side, seed % 8, amplitude), size, rng.randrange(side), rng.randrange(side))


def _structure(w: int, h: int, rng: random.Random) -> Image.Image:
    """Low-resolution smooth scene: two crossed gradients, soft shapes, a horizon and a few strokes."""

    def colour(lo=0, hi=255):
        return tuple(rng.randint(lo, hi) for _ in range(3))

    top, bottom = colour(), colour()
    grad = Image.linear_gradient("L").resize((w, h), Image.Resampling.BILINEAR)
    img = Image.composite(Image.new("RGB", (w, h), bottom), Image.new("RGB", (w, h), top), grad)
    side = Image.linear_gradient("L").rotate(90).resize((w, h), Image.Resampling.BILINEAR)
    img = Image.composite(img, Image.new("RGB", (w, h), colour()), side.point(lambda v: 255 - v // 3))

    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(4, 9)):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.05, 0.35) * w, rng.uniform(0.05, 0.35) * h
        fill = colour() + (rng.randint(90, 230),)
        if rng.random() < 0.55:
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)
        else:
            n = rng.randint(3, 7)
            pts = [(cx + rng.uniform(-rx, rx), cy + rng.uniform(-ry, ry)) for _ in range(n)]
            draw.polygon(pts, fill=fill)
    # a horizon line and a few thin strokes give edges the JPEG encoder has to spend bits on
    y0 = rng.uniform(0.3, 0.7) * h
    draw.line((0, y0, w, y0 + rng.uniform(-0.1, 0.1) * h), fill=colour() + (200,), width=max(1, w // 150))
    for _ in range(rng.randint(3, 8)):
        draw.line(
            (rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, h)),
            fill=colour() + (160,),
            width=max(1, w // 200),
        )
    img.paste(layer, (0, 0), layer)
    return img.filter(ImageFilter.GaussianBlur(max(0.6, min(w, h) / 300)))


def photo(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    """A deterministic photo-like image of ``width`` x ``height`` pixels.

    ``mode`` may be any mode Pillow converts RGB to (``"L"``, ``"RGBA"``, ``"CMYK"``, ``"P"``,
    ...), plus ``"I;16"`` (16-bit grey using the full 0..65535 range). ``"RGBA"`` gets a
    smooth alpha ramp with a transparent corner.

    >>> photo(32, 24, 3).tobytes() == photo(32, 24, 3).tobytes()
    True
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    rng = random.Random(seed)
    scale = min(1.0, _STRUCTURE_LONG_SIDE / max(width, height))
    sw, sh = max(1, round(width * scale)), max(1, round(height * scale))
    img = _structure(sw, sh, rng)
    # mid-frequency texture at low-ish resolution (cheap), then fine grain at full resolution
    tw, th = max(1, width // 2), max(1, height // 2)
    texture = _grain((tw, th), seed + 1, _TEXTURE_AMPLITUDE).filter(ImageFilter.BoxBlur(1))
    img = img.resize((tw, th), Image.Resampling.BILINEAR)
    img = ImageChops.add(img, texture, scale=1.0, offset=-128)
    img = img.resize((width, height), Image.Resampling.BILINEAR)
    img = ImageChops.add(img, _grain((width, height), seed, _GRAIN_AMPLITUDE), scale=1.0, offset=-128)
    return _to_mode(img, mode)


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    if mode == "RGB":
        return img
    if mode == "RGBA":
        alpha = Image.radial_gradient("L").resize(img.size, Image.Resampling.BILINEAR)
        alpha = alpha.point(lambda v: 255 if v < 128 else max(0, 255 - (v - 128) * 3))
        rgba = img.convert("RGBA")
        rgba.putalpha(alpha)
        return rgba
    if mode == "P":
        return img.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    if mode in ("I;16", "I"):
        wide = img.convert("L").convert("I").point(lambda v: v * 257)
        return wide if mode == "I" else wide.convert("I;16")
    return img.convert(mode)


def write_photo(
    path, width: int, height: int, seed: int, fmt: str | None = "JPEG", quality: int = 90, mode: str = "RGB", **save_kw
) -> Path:
    """Write ``photo(width, height, seed, mode)`` to ``path`` as ``fmt``; returns the path.

    ``fmt=None`` takes the format from the file name. ``quality`` applies to lossy formats;
    other keyword arguments go to ``Image.save``. A GIF is quantised to a palette first.
    """
    p = _parent(path)
    img = photo(width, height, seed, mode)
    fmt = (fmt or Image.registered_extensions().get(p.suffix.lower(), "JPEG")).upper()
    if fmt in ("JPEG", "WEBP", "JPEG2000", "AVIF"):
        save_kw.setdefault("quality", quality)
    if fmt == "GIF" and img.mode not in ("P", "L"):
        img = img.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    img.save(p, fmt, **save_kw)
    return p


def _jpeg_bytes(width: int, height: int, seed: int, quality: int = 90, **save_kw) -> bytes:
    buf = io.BytesIO()
    photo(width, height, seed).save(buf, "JPEG", quality=quality, **save_kw)
    return buf.getvalue()


def write_truncated_jpeg(path, seed: int, width: int = 640, height: int = 480) -> Path:
    """A JPEG cut off half-way through its scan: headers parse, decoding fails."""
    p = _parent(path)
    data = _jpeg_bytes(width, height, seed)
    p.write_bytes(data[: len(data) // 2])
    return p


def write_garbage(path, seed: int, size: int = 4096) -> Path:
    """``size`` seeded random bytes that match no known file signature."""
    p = _parent(path)
    data = bytearray(random.Random(seed).randbytes(size))
    if data:
        data[0] = 0x01  # no image/video magic starts with 0x01
    p.write_bytes(bytes(data))
    return p


def write_empty(path) -> Path:
    """A zero-byte file."""
    p = _parent(path)
    p.write_bytes(b"")
    return p


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and its CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_bomb_png(path, width: int = 40000, height: int = 40000) -> Path:
    """A valid-looking PNG (correct CRCs) of a few hundred bytes that declares ``width`` x ``height``.

    The IDAT stream holds only the first rows (zeros); anything that trusts the header and
    allocates the full frame (40000 x 40000 RGB = 4.8 GB) is in trouble. Pillow refuses it at
    ``Image.open`` with ``DecompressionBombError`` (above 2x ``MAX_IMAGE_PIXELS``).
    """
    p = _parent(path)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    rows = zlib.compress(b"\x00" * (1 + 3 * width) * 4, 9)  # 4 rows of filter-0 black
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b""))
    return p


def write_big_png(path, width: int, height: int, seed: int = 0) -> Path:
    """A valid RGB PNG of smooth bands, written row by row in constant memory (any size).

    Decoding it needs ``width * height * 3`` bytes: the file for memory-limit tests and
    benchmarks, where a real 100 MP photo would take too long to make.
    """
    p = _parent(path)
    comp = zlib.compressobj(6)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(p, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr))
        for y in range(height):
            v = (y * 255 // max(1, height - 1) + seed * 37) % 256
            chunk = comp.compress(b"\x00" + bytes((v, 255 - v, (v * 3 + seed) % 256)) * width)
            if chunk:
                fh.write(png_chunk(b"IDAT", chunk))
        fh.write(png_chunk(b"IDAT", comp.flush()) + png_chunk(b"IEND", b""))
    return p


def write_eps(path) -> Path:
    """A small, valid Encapsulated PostScript file. Opening it for pixels would run Ghostscript:
    a toolkit must refuse it by format before ``load()``."""
    p = _parent(path)
    p.write_text(
        "%!PS-Adobe-3.0 EPSF-3.0\n"
        "%%BoundingBox: 0 0 64 48\n"
        "%%Title: synthetic EPS (must never reach Ghostscript)\n"
        "%%EndComments\n"
        "0.2 0.4 0.8 setrgbcolor\n"
        "0 0 64 48 rectfill\n"
        "1 1 0 setrgbcolor\n"
        "32 24 16 0 360 arc fill\n"
        "showpage\n"
        "%%EOF\n",
        encoding="ascii",
    )
    return p


def write_with_exif_orientation(path, width: int, height: int, orientation: int, seed: int) -> Path:
    """A JPEG whose stored pixels are ``width`` x ``height`` with EXIF Orientation = ``orientation``
    (1-8). After ``ImageOps.exif_transpose`` orientations 5-8 swap width and height."""
    if not 1 <= orientation <= 8:
        raise ValueError(f"EXIF orientation must be 1..8, got {orientation}")
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    return write_photo(path, width, height, seed, exif=exif.tobytes())


def write_broken_exif_jpeg(path, seed: int, width: int = 320, height: int = 240) -> Path:
    """A JPEG that decodes fine but whose APP1 EXIF block is corrupt: the IFD claims 300 entries
    but the segment ends after two, an entry has an unknown type, and the next-IFD offset
    points far past the end."""
    p = _parent(path)
    data = _jpeg_bytes(width, height, seed)
    tiff = bytearray(b"II*\x00" + struct.pack("<I", 8))
    tiff += struct.pack("<H", 300)  # entry count: a lie
    tiff += struct.pack("<HHII", ORIENTATION_TAG, 3, 1, 6)  # orientation = 6 (valid)
    tiff += struct.pack("<HHII", 0x8769, 0x77, 9, 0x7FFFFFF0)  # ExifIFD, bogus type + offset
    tiff += struct.pack("<I", 0xFFFFFF00)  # next IFD: far out of range
    payload = b"Exif\x00\x00" + bytes(tiff)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    p.write_bytes(data[:2] + app1 + data[2:])
    return p
