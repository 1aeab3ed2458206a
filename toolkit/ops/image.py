"""Pure, typed image functions (Pillow only): open safely, probe headers, fit/fill/pad/exact, convert, encode.

Every function returns a new image. Opening is restricted to an allow-list of formats, so
PostScript/EPS never reaches Ghostscript; decompression bombs are refused from the header.
"""

from __future__ import annotations

import errno
import io
import os
import warnings
import zlib
from typing import Sequence

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..media import MediaInfo, Problem
from . import FileProblem, OpSpec

__all__ = ["ALLOWED_FORMATS", "probe_image", "load_image", "thumbnail", "resize", "render", "draft_hint",
           "prepare_for", "encode", "classify"]

Image.init()
#: Formats we open (those this Pillow has). Never EPS/PS (Ghostscript) or other exotic plugins.
ALLOWED_FORMATS: tuple[str, ...] = tuple(f for f in ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "ICO", "AVIF")
                                         if f in Image.OPEN)
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "RGB": 4, "YCbCr": 4, "LAB": 4, "HSV": 4,
                    "RGBA": 4, "RGBa": 4, "RGBX": 4, "CMYK": 4, "I": 4, "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2,
                    "I;16N": 2}
_OVERHEAD = 4 * 2**20
_SAVE_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def _name(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _open(path: str, max_pixels: int) -> Image.Image:
    """Open (headers only) with the allow-list; bombs refused before any pixel is decoded."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path, formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FileProblem("decompression-bomb", f"{_name(path)} declares more pixels than the limit of {max_pixels:,} "
                                                "(a decompression bomb?); raise --max-pixels if it is genuine") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = old
    w, h = im.size
    if w * h > max_pixels:  # also for formats whose plugin does not check
        im.close()
        raise FileProblem("decompression-bomb", f"{_name(path)} is {w}x{h}, more pixels than the limit of {max_pixels:,}; "
                                                "raise --max-pixels if it is genuine")
    if w < 1 or h < 1:
        im.close()
        raise FileProblem("corrupt", f"{_name(path)} declares an empty size {w}x{h}")
    return im


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - broken EXIF: treat as upright
        return 1


def _draft_scale(w: int, h: int, target: tuple[int, int] | None) -> int:
    """The JPEG DCT reduction (1, 2, 4, 8) libjpeg will use for a draft request of ``target``."""
    if not target:
        return 1
    scale = 1
    for s in (8, 4, 2):
        if w // s >= target[0] and h // s >= target[1]:
            scale = s
            break
    return scale


def draft_hint(spec: OpSpec) -> tuple[int, int] | None:
    """The smallest decode size that keeps full quality for this op (JPEG draft), or None."""
    size = spec.get("size")
    if spec.name == "thumbnail" and size:
        return (size[0], size[1])
    if spec.name == "resize" and size:
        mode = spec.get("mode", "fit")
        if mode == "fit":
            return (size[0], size[1])
        return None  # fill/pad/exact need the source's full aspect; draft by the larger side is handled in load
    return None


def estimate_bytes(w: int, h: int, mode: str, fmt: str, ops: Sequence[OpSpec]) -> int:
    """Estimated peak memory to run ``ops`` on a ``w`` x ``h`` image in ``mode`` (from its header)."""
    bpp = _BYTES_PER_PIXEL.get(mode, 4)
    peak = 0
    for op in ops:
        if not op.applies_to("image"):
            continue
        scale = _draft_scale(w, h, draft_hint(op)) if fmt in ("JPEG", "MPO") else 1
        decoded = (w // scale) * (h // scale) * bpp
        # a conversion copy (mode / orientation) plus the resize's intermediate and output
        out = op.get("size") or (w, h)
        peak = max(peak, decoded * 2 + out[0] * out[1] * 4 * 2)
    return peak + _OVERHEAD


def probe_image(path: str, *, ops: tuple[OpSpec, ...], fmt: str = "jpeg", max_pixels: int = 89_478_485) -> MediaInfo:
    """Header facts without decoding pixels: displayed size, mode, frames, rotation, estimated peak memory."""
    try:
        im = _open(path, max_pixels)
    except FileProblem:
        raise
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, path) from exc
    try:
        w, h = im.size
        orient = _orientation(im)
        rotation = {3: 180, 6: 270, 8: 90}.get(orient, 0)
        if orient in (5, 6, 7, 8):
            w, h = h, w
        frames = int(getattr(im, "n_frames", 1) or 1) if im.format != "GIF" else None
        return MediaInfo(width=w, height=h, mode=im.mode, frames=frames, rotation=rotation,
                         est_bytes=estimate_bytes(im.size[0], im.size[1], im.mode, im.format or "", ops))
    finally:
        im.close()


def load_image(path: str, *, max_pixels: int, allow_truncated: bool = False,
               draft_size: tuple[int, int] | None = None) -> tuple[Image.Image, list[Problem]]:
    """Decode the first frame, upright (EXIF orientation applied). -> (image, warnings)."""
    problems: list[Problem] = []
    im = _open(path, max_pixels)
    try:
        if draft_size and im.format in ("JPEG", "MPO") and im.mode in ("RGB", "L", "CMYK", "YCbCr"):
            orient = _orientation(im)
            want = draft_size if orient not in (5, 6, 7, 8) else (draft_size[1], draft_size[0])
            im.draft(im.mode, want)
        try:
            im.load()
        except OSError as exc:
            if not _is_truncation(exc) or not allow_truncated:
                raise
            im.close()
            im = _open(path, max_pixels)
            if draft_size and im.format in ("JPEG", "MPO"):
                im.draft(im.mode, draft_size)
            ImageFile.LOAD_TRUNCATED_IMAGES = True
            try:
                im.load()
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = False
            problems.append(Problem("truncated", f"{_name(path)} is truncated; the missing part was filled in"))
        try:
            upright = ImageOps.exif_transpose(im)
        except Exception:  # noqa: BLE001 - broken EXIF must not lose the image
            upright = im
            problems.append(Problem("exif", f"{_name(path)} has unreadable EXIF data; orientation was not applied"))
        if upright is not im:
            im.close()
        else:
            upright = im.copy() if getattr(im, "fp", None) is not None else im
            if upright is not im:
                im.close()
        return upright, problems
    except FileProblem:
        im.close()
        raise
    except Exception as exc:  # noqa: BLE001
        im.close()
        raise classify(exc, path) from exc


def _is_truncation(exc: BaseException) -> bool:
    msg = str(exc).lower()
    return "truncated" in msg or "broken data stream" in msg or "premature end" in msg


# ---------------------------------------------------------------- geometry (pure)

def _resample(src: tuple[int, int], dst: tuple[int, int]) -> Image.Resampling:
    return Image.Resampling.LANCZOS if dst[0] * dst[1] < src[0] * src[1] else Image.Resampling.BICUBIC


def _work_mode(im: Image.Image) -> Image.Image:
    """A mode Pillow resizes correctly (P and 1 are converted; alpha premultiplied by Pillow itself)."""
    if im.mode == "P":
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode == "1":
        return im.convert("L")
    if im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return im.convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return _to_8bit(im)
    if im.mode == "F":
        return _to_8bit(im)
    if im.mode == "PA":
        return im.convert("RGBA")
    return im


def _to_8bit(im: Image.Image) -> Image.Image:
    """Scale a 16/32-bit or float image to 8-bit using its actual value range."""
    f = im.convert("F") if im.mode != "F" else im
    lo, hi = f.getextrema()
    if hi <= lo:
        return Image.new("L", im.size, 0 if hi <= 0 else 255)
    scale = 255.0 / (hi - lo)
    return f.point(lambda v: (v - lo) * scale).convert("L")


def thumbnail(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Fit inside ``size`` keeping the aspect ratio; never enlarges."""
    im = _work_mode(im)
    w, h = im.size
    r = min(size[0] / w, size[1] / h, 1.0)
    dst = (max(1, round(w * r)), max(1, round(h * r)))
    if dst == (w, h):
        return im.copy()
    return im.resize(dst, Image.Resampling.BICUBIC, reducing_gap=2.0)


def resize(im: Image.Image, size: tuple[int, int], mode: str = "fit", background: str = "#ffffff") -> Image.Image:
    """fit (inside, keep aspect), fill (cover, centre-crop), pad (fit on a canvas), exact (stretch)."""
    im = _work_mode(im)
    w, h = im.size
    tw, th = size
    if mode == "exact":
        return im.resize((tw, th), _resample((w, h), (tw, th)), reducing_gap=2.0)
    if mode == "fill":
        r = max(tw / w, th / h)
        sw, sh = max(tw, round(w * r)), max(th, round(h * r))
        scaled = im.resize((sw, sh), _resample((w, h), (sw, sh)), reducing_gap=2.0)
        left, top = (sw - tw) // 2, (sh - th) // 2
        return scaled.crop((left, top, left + tw, top + th))
    r = min(tw / w, th / h)
    fw, fh = max(1, round(w * r)), max(1, round(h * r))
    fitted = im.resize((fw, fh), _resample((w, h), (fw, fh)), reducing_gap=2.0) if (fw, fh) != (w, h) else im.copy()
    if mode == "fit":
        return fitted
    if mode == "pad":
        has_alpha = fitted.mode in ("RGBA", "LA")
        canvas_mode = "RGBA" if has_alpha else ("L" if fitted.mode == "L" else "RGB")
        fill = (0, 0, 0, 0) if has_alpha else _colour(background, canvas_mode)
        canvas = Image.new(canvas_mode, (tw, th), fill)
        canvas.paste(fitted.convert(canvas_mode), ((tw - fw) // 2, (th - fh) // 2))
        return canvas
    raise ValueError(f"unknown resize mode {mode!r}")


def render(im: Image.Image, spec: OpSpec, *, background: str = "#ffffff") -> Image.Image:
    """Apply an image op spec (``thumbnail`` or ``resize``)."""
    if spec.name == "thumbnail":
        return thumbnail(im, spec.get("size"))
    if spec.name == "resize":
        return resize(im, spec.get("size"), spec.get("mode", "fit"), background)
    raise ValueError(f"{spec.name} is not an image op")


# ---------------------------------------------------------------- output

def _colour(background: str, mode: str):
    from PIL import ImageColor

    bg = background if not (len(background) == 6 and all(c in "0123456789abcdefABCDEF" for c in background)) else "#" + background
    return ImageColor.getcolor(bg, mode)


def prepare_for(im: Image.Image, fmt: str, background: str = "#ffffff") -> Image.Image:
    """Convert on purpose so ``fmt`` can hold the image: every valid image gives a valid output."""
    im = _work_mode(im)
    if im.mode == "La":
        im = im.convert("LA")
    if im.mode == "RGBa":
        im = im.convert("RGBA")
    if fmt == "jpeg":
        if im.mode in ("RGBA", "LA"):
            base = Image.new("RGB", im.size, _colour(background, "RGB"))
            base.paste(im.convert("RGBA"), mask=im.getchannel("A"))
            return base
        if im.mode not in ("RGB", "L"):
            return im.convert("RGB")
        return im
    if fmt == "webp":
        return im if im.mode in ("RGB", "RGBA") else im.convert("RGBA" if im.mode == "LA" else "RGB")
    return im if im.mode in ("RGB", "RGBA", "L", "LA") else im.convert("RGB")


def encode(im: Image.Image, fmt: str, quality: int) -> bytes:
    """Encode to bytes: jpeg (4:2:0, not optimised: fast), png, webp."""
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=quality)
    elif fmt == "png":
        im.save(buf, "PNG", compress_level=6)
    elif fmt == "webp":
        im.save(buf, "WEBP", quality=quality, method=4)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return buf.getvalue()


def classify(exc: BaseException, path: str) -> FileProblem:
    """Any exception from Pillow or the OS -> a FileProblem with a stable code and a message naming the file."""
    n = _name(path)
    if isinstance(exc, FileProblem):
        return exc
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return FileProblem("decompression-bomb", f"{n} is a decompression bomb: {exc}; raise --max-pixels if it is genuine")
    if isinstance(exc, FileNotFoundError):
        return FileProblem("not-found", f"{n} vanished before it could be read")
    if isinstance(exc, PermissionError):
        return FileProblem("permission-denied", f"cannot read {n}: permission denied; check its permissions")
    if isinstance(exc, IsADirectoryError):
        return FileProblem("not-regular-file", f"{n} is not a regular file")
    if isinstance(exc, UnidentifiedImageError):
        try:
            with open(path, "rb") as fh:
                head = fh.read(16)
        except OSError:
            head = b""
        if head.startswith(b"%!PS") or head.startswith(b"\xc5\xd0\xd3\xc6"):
            return FileProblem("unsupported-format", f"{n} is PostScript/EPS, which is never opened (it would run Ghostscript)")
        from ..scan import sniff
        found = sniff(head)
        if found and found[1] not in ALLOWED_FORMATS:
            return FileProblem("unsupported-format", f"{n} is {found[1]}, a format this toolkit does not read; convert it first")
        if found:
            return FileProblem("corrupt", f"{n} looks like {found[1]} but its header is damaged")
        return FileProblem("unidentified", f"{n} is not an image Pillow can identify (wrong extension or damaged header)")
    msg = str(exc)
    low = msg.lower()
    if isinstance(exc, OSError) and _is_truncation(exc):
        return FileProblem("truncated", f"{n} is truncated ({msg}); re-copy it, or use --allow-truncated to keep what is there")
    if isinstance(exc, ValueError) and ("too large" in low or "limit" in low):
        return FileProblem("limit-exceeded", f"{n} exceeds a safety limit: {msg}")
    if isinstance(exc, zlib.error) or "decoder error" in low or "broken" in low or "corrupt" in low or isinstance(exc, (SyntaxError, struct_error())):
        return FileProblem("corrupt", f"{n} has corrupt image data: {msg}")
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
        return FileProblem("permission-denied", f"cannot read {n}: permission denied")
    if "mode" in low and ("not supported" in low or "cannot" in low or "unrecognized" in low):
        return FileProblem("unsupported-mode", f"{n} has a colour mode that cannot be converted: {msg}")
    if isinstance(exc, MemoryError):
        return FileProblem("limit-exceeded", f"{n} needs more memory than this worker has; raise --memory-limit")
    return FileProblem("corrupt", f"{n} could not be decoded: {type(exc).__name__}: {msg}")


def struct_error():
    import struct
    return struct.error
