"""Output: an image converted so an output format can hold it, and encoded to bytes."""

from __future__ import annotations

import io

from PIL import Image

from .modes import _canvas_fill, _working

_SAVE = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_HOLDS = {"jpeg": ("L", "RGB"), "png": ("L", "LA", "RGB", "RGBA"), "webp": ("RGB", "RGBA")}


def prepare_for(im: Image.Image, fmt: str, background: str = "#ffffff") -> Image.Image:
    """``im`` converted on purpose so ``fmt`` (jpeg, png, webp) can hold it; every valid image gives a valid output.

    Alpha is composited on ``background`` for jpeg and kept for png/webp; 16/32-bit and float images
    are stretched to 8 bits over their actual range; colours tagged with an ICC profile become sRGB; CMYK, YCbCr,
    LAB and HSV become RGB; ``1`` becomes L and P becomes RGB (RGBA if it has transparency).
    Returns ``im`` itself when nothing needs to change.
    """
    if fmt not in _HOLDS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(_HOLDS)}")
    work = _working(im)
    if work.mode in _HOLDS[fmt]:
        return work
    if fmt == "jpeg":  # LA or RGBA: composite over the background
        cmode, fill = _canvas_fill("L" if work.mode == "LA" else "RGB", background)
        base = Image.new(cmode, work.size, fill)
        base.paste(work.convert(cmode), mask=work.getchannel("A"))
        return base
    # webp holds only RGB/RGBA
    return work.convert("RGBA" if work.mode == "LA" else "RGB")


def encode(im: Image.Image, fmt: str, quality: int, background: str = "#ffffff") -> bytes:
    """Encode to bytes. jpeg: baseline, not optimised (speed), 4:2:0 chroma below quality 90 and 4:4:4 from 90
    up (always explicit, never inherited from a source JPEG); png: zlib level 6; webp: lossy at ``quality``.
    An image the format cannot hold is passed through :func:`prepare_for` first (alpha composited
    on ``background``).
    """
    if fmt not in _SAVE:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(_SAVE)}")
    if im.mode not in _HOLDS[fmt]:
        im = prepare_for(im, fmt, background)
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=int(quality), optimize=False, progressive=False, subsampling=0 if quality >= 90 else 2)
    elif fmt == "png":
        im.save(buf, "PNG", compress_level=6, optimize=False)
    else:
        im.save(buf, "WEBP", quality=int(quality), method=4)
    return buf.getvalue()
