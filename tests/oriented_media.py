"""Test pictures whose *displayed* look is known, stored in every format with an orientation.

The displayed picture has four flat quadrants (red top-left, blue top-right, green bottom-left,
grey bottom-right) and is wider than tall, so each of the eight orientations, applied zero,
one or two times, puts a different colour in the top-left corner or gives other dimensions.
Each writer stores the picture pre-transformed (the inverse of what a viewer applies) and
records the orientation the way its format does: EXIF in JPEG/MPO/PNG/WebP, tag 274 in TIFF,
irot/imir boxes in HEIF/AVIF (written by their encoders from the EXIF orientation).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

from PIL import Image, features

from helpers import exif_bytes
from toolkit._synth import png_chunk

#: displayed size (width, height)
SIZE = (96, 64)
RED, BLUE, GREEN, GREY = (230, 20, 20), (20, 20, 230), (20, 200, 20), (128, 128, 128)
#: what a viewer does to the stored pixels for each orientation; its inverse builds the stored ones
_SHOW = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_INVERSE = {**_SHOW, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def displayed() -> Image.Image:
    w, h = SIZE
    im = Image.new("RGB", SIZE, GREY)
    im.paste(RED, (0, 0, w // 2, h // 2))
    im.paste(BLUE, (w // 2, 0, w, h // 2))
    im.paste(GREEN, (0, h // 2, w // 2, h))
    return im


def stored(orientation: int) -> Image.Image:
    im = displayed()
    return im.transpose(_INVERSE[orientation]) if orientation in _INVERSE else im


def quadrants(im: Image.Image) -> tuple[str, str, str, str]:
    """The colour names at the centres of the top-left, top-right, bottom-left, bottom-right quadrants."""
    rgb = im.convert("RGB")
    w, h = rgb.size
    names = {"red": RED, "blue": BLUE, "green": GREEN, "grey": GREY}

    def name(x: int, y: int) -> str:
        px = rgb.getpixel((x, y))
        return min(names, key=lambda n: sum((a - b) ** 2 for a, b in zip(px, names[n])))

    return name(w // 4, h // 4), name(3 * w // 4, h // 4), name(w // 4, 3 * h // 4), name(3 * w // 4, 3 * h // 4)


UPRIGHT = ("red", "blue", "green", "grey")


def _png_trailing(path: Path, o: int) -> None:
    buf = io.BytesIO()
    stored(o).save(buf, "PNG")
    data = buf.getvalue()
    iend = data.rindex(b"IEND") - 4  # the eXIf chunk after the pixels, as some writers put it
    path.write_bytes(data[:iend] + png_chunk(b"eXIf", exif_bytes(o)) + data[iend:])


def _tiff(compression: str) -> Callable[[Path, int], None]:
    def write(path: Path, o: int) -> None:
        stored(o).save(path, "TIFF", compression=compression, tiffinfo={0x0112: o})

    return write


def _heif(path: Path, o: int) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    stored(o).save(path, "HEIF", exif=exif_bytes(o), quality=95)


WRITERS: dict[str, tuple[str, Callable[[Path, int], None]]] = {
    "jpeg": ("jpg", lambda p, o: stored(o).save(p, "JPEG", exif=exif_bytes(o), quality=95)),
    "mpo": (
        "mpo",
        lambda p, o: stored(o).save(p, "MPO", save_all=True, append_images=[stored(o)], exif=exif_bytes(o), quality=95),
    ),
    "png-exif": ("png", lambda p, o: stored(o).save(p, "PNG", exif=exif_bytes(o))),
    "png-trailing-exif": ("png", _png_trailing),
    "webp": ("webp", lambda p, o: stored(o).save(p, "WEBP", exif=exif_bytes(o), lossless=True)),
    "tiff-raw": ("tif", _tiff("raw")),  # Pillow's own decoder
    "tiff-lzw": ("tif", _tiff("tiff_lzw")),  # libtiff
    "tiff-deflate": ("tif", _tiff("tiff_adobe_deflate")),  # libtiff
    "tiff-jpeg": ("tif", _tiff("jpeg")),  # libtiff, YCbCr (read through libtiff's RGBA interface)
    "heif": ("heic", _heif),
}
if features.check("avif"):
    WRITERS["avif"] = ("avif", lambda p, o: stored(o).save(p, "AVIF", exif=exif_bytes(o), quality=95))


def write(folder: Path, kind: str, orientation: int) -> Path:
    ext, writer = WRITERS[kind]
    path = Path(folder) / f"{kind}-o{orientation}.{ext}"
    writer(path, orientation)
    return path
