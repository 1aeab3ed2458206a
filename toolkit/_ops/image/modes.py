"""Colour modes: any image as one of L, LA, RGB, RGBA (8 bits per band, straight alpha, sRGB),
what resizing and every output handle; background colours for canvases."""

from __future__ import annotations

import warnings
from typing import cast

from PIL import Image, ImageColor

from .. import colour
from .errors import _ModeError

_HIGH_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _to_8bit(im: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float image as ``L``, its actual value range stretched to 0..255."""
    f = im if im.mode == "F" else im.convert("F")
    lo, hi = cast(tuple[float, float], f.getextrema())  # one band: (min, max)
    if not (lo == lo and hi == hi) or lo in (float("inf"), float("-inf")) or hi in (float("inf"), float("-inf")):
        return f.convert("L")  # NaN/inf: no meaningful range; Pillow clips
    if hi <= lo:  # flat: keep its level within the type's nominal range
        full = 65535.0 if im.mode.startswith("I;16") else 1.0 if (im.mode == "F" and 0.0 <= lo <= 1.0) else 255.0
        return Image.new("L", im.size, int(round(max(0.0, min(1.0, lo / full)) * 255)))
    k = 255.0 / (hi - lo)
    return f.point(lambda v: (v - lo) * k).convert("L")


def _working(im: Image.Image) -> Image.Image:
    """``im`` in one of L, LA, RGB, RGBA (8 bits per band, straight alpha, sRGB): what resizing and every
    output handle. An ICC profile other than sRGB still in ``info`` (an image not from :func:`load_image`)
    is applied first; one that cannot be is a Python warning.

    Returns ``im`` itself when it already is; otherwise a converted copy.
    """
    if im.info.get("icc_profile"):
        im, problem = colour.to_srgb(im)
        if problem:
            warnings.warn(f"{problem}; pixels kept as they are", UserWarning, stacklevel=3)
    m = im.mode
    if m in ("L", "LA", "RGB", "RGBA"):
        return im
    if m == "1":
        return im.convert("L")
    if m == "P":
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if m == "PA":
        return im.convert("RGBA")
    if m == "La":
        return im.convert("LA")
    if m == "RGBa":
        return im.convert("RGBA")
    if m in _HIGH_BIT:
        return _to_8bit(im)
    if m in ("CMYK", "RGBX", "YCbCr", "LAB", "HSV"):  # CMYK with a usable profile went through it above
        return im.convert("RGB")
    try:
        out = im.convert("RGBA" if im.has_transparency_data else "RGB")
    except (ValueError, OSError) as exc:
        raise _ModeError(f"colour mode {m} cannot be converted to RGB") from exc
    return out


def _rgb(background: str) -> tuple[int, int, int]:
    bg = background.strip()
    if len(bg) in (3, 6) and all(c in "0123456789abcdefABCDEF" for c in bg):
        bg = "#" + bg
    r, g, b = ImageColor.getrgb(bg)[:3]
    return r, g, b


def _canvas_fill(mode: str, background: str) -> tuple[str, int | tuple[int, ...]]:
    """(mode, fill) of a background canvas for an image in ``mode`` (L stays L only for a grey background)."""
    r, g, b = _rgb(background)
    if mode == "L" and r == g == b:
        return "L", r
    return "RGB", (r, g, b)
