"""Pure, typed image functions (Pillow only): probe headers, load safely, fit/fill/pad/exact, convert, encode.

Every geometry or conversion function returns a new image and leaves its argument alone.
Opening is restricted to :data:`ALLOWED_FORMATS`, so PostScript/EPS never reaches Ghostscript;
decompression bombs are refused from the header, before any pixel is decoded.

>>> from PIL import Image
>>> thumbnail(Image.new("RGB", (400, 200)), (100, 100)).size
(100, 50)
>>> resize(Image.new("RGB", (400, 200)), (64, 64), "fill").size
(64, 64)

Pillow keeps two safety switches in module globals (``Image.MAX_IMAGE_PIXELS`` and
``ImageFile.LOAD_TRUNCATED_IMAGES``). We set them per call through :class:`_Gate`, which lets
any number of threads decode at once when they need the same values and makes a thread that
needs different values wait until the others are done; the originals are restored whenever
the gate empties, so nothing leaks between calls or into the user's own Pillow code.
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import re
import struct
import threading
import warnings
import zlib
from contextlib import contextmanager
from typing import Iterator, Sequence

from PIL import Image, ImageColor, ImageFile, UnidentifiedImageError

from .._fs import path_text
from .._media import MediaInfo, Problem
from . import FileProblem, OpSpec, check_file, colour
from . import orientation as orient
from .orientation import swap

__all__ = [
    "ALLOWED_FORMATS",
    "probe_image",
    "load_image",
    "thumbnail",
    "resize",
    "render",
    "draft_hint",
    "prepare_for",
    "encode",
    "classify",
    "estimate_bytes",
]

# Only the plugins of the formats we open and write (AVIF when this Pillow has it, HEIF through
# pillow-heif: libheif, a library), not the ~45 that Pillow's ``Image.init()`` imports: ~17 ms
# less CPU in each process that imports this (the client and the workers' fork server); HEIF
# adds ~6 ms. (Pillow still imports the plugin its file name suggests as it opens a file, e.g.
# a JPEG named .eps; ``formats=ALLOWED_FORMATS`` keeps it unused.)
#: Pillow format names we open, in the order they are tried, with the modules that register
#: them. Never EPS/PS/PDF (Ghostscript) nor any other format that runs a program, nor the long
#: tail of rarely used plugins. AVIF before HEIF: both accept the generic ``mif1`` brand.
_PLUGINS = {
    "JPEG": "PIL.JpegImagePlugin",
    "MPO": "PIL.MpoImagePlugin",
    "PNG": "PIL.PngImagePlugin",
    "WEBP": "PIL.WebPImagePlugin",
    "GIF": "PIL.GifImagePlugin",
    "BMP": "PIL.BmpImagePlugin",
    "TIFF": "PIL.TiffImagePlugin",
    "PPM": "PIL.PpmImagePlugin",
    "ICO": "PIL.IcoImagePlugin",
    "ICNS": "PIL.IcnsImagePlugin",
    "AVIF": "PIL.AvifImagePlugin",
    "HEIF": "pillow_heif.HeifImagePlugin",
    "TGA": "PIL.TgaImagePlugin",
}
#: Formats without a signature at the start of the file: tried only on files with these extensions
#: (Pillow's TGA reader would otherwise get a go at every unrecognised file).
_BY_NAME_ONLY = {"TGA": (".tga",)}
for _module in dict.fromkeys(_PLUGINS.values()):
    try:
        importlib.import_module(_module)
    except ImportError:  # pragma: no cover - AVIF on an older Pillow, HEIF where pillow-heif has no wheel
        pass
# Pillow prints "Corrupt EXIF data" from inside Image.open (on workers: straight to the terminal);
# the damage is recorded on the row as an ``exif`` warning instead.
warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)
# Our own limit is exact (header and after load); Pillow's warning at half of it during load says nothing.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning, module="PIL")

#: The formats of ``_PLUGINS`` this Pillow opens (AVIF only when it was built with it).
ALLOWED_FORMATS: tuple[str, ...] = tuple(f for f in _PLUGINS if f in Image.OPEN)

_JPEG = ("JPEG", "MPO")
#: Decoded whole (no draft) by a library into its own buffer, then copied into Pillow's: twice the
#: pixels for a moment (a 12 MP HEIC: 46 MiB decoded, 95 MiB peak measured with or without irot).
_OWN_BUFFER = ("HEIF",)
#: Bytes per pixel of Pillow's in-memory storage (3- and 2-band modes are stored as 4 bytes).
_BPP = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_HIGH_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_OVERHEAD = 2 * 2**20  # interpreter-side buffers, codec state, the encoded output's slack
_SAVE = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_HOLDS = {"jpeg": ("L", "RGB"), "png": ("L", "LA", "RGB", "RGBA"), "webp": ("RGB", "RGBA")}
_BOMB_FIX = "raise `max_pixels` if this image is genuine"


class _ModeError(ValueError):
    """An image in a colour mode we cannot turn into an output (classified as ``unsupported-mode``)."""


# ---------------------------------------------------------------- Pillow's global switches


class _Gate:
    """Holds Pillow's global safety settings at the values the threads inside need.

    Threads needing the same settings share the gate; a thread needing other settings waits
    until it is empty (and, while it waits, no new thread is let in, so it cannot starve).
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._active = 0
        self._waiting = 0
        self._current: tuple[int | None, bool] | None = None
        self._saved: tuple[int | None, bool] | None = None

    @contextmanager
    def hold(self, max_image_pixels: int | None, truncated: bool) -> Iterator[None]:
        want = (max_image_pixels, truncated)
        with self._cv:
            queued = False
            while self._active and (self._current != want or (self._waiting and not queued)):
                if not queued:
                    self._waiting += 1
                    queued = True
                self._cv.wait()
            if queued:
                self._waiting -= 1
            if not self._active:
                self._saved = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
                Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = want
                self._current = want
            self._active += 1
        try:
            yield
        finally:
            with self._cv:
                self._active -= 1
                if not self._active:
                    assert self._saved is not None
                    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = self._saved
                    self._current = self._saved = None
                    self._cv.notify_all()


_GATE = _Gate()


# ---------------------------------------------------------------- opening


def _pillow_limit(max_pixels: int) -> int:
    """``Image.MAX_IMAGE_PIXELS`` that makes Pillow's bomb error (at twice it) fire just above ``max_pixels``."""
    return max(1, -(-max_pixels // 2))


def _bomb(path: str, exc: Image.DecompressionBombError, max_pixels: int) -> FileProblem:
    """Pillow refused an image inside ``path`` (the file's own, or one a container holds) as too large."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)):,} pixels" if found else "more pixels"
    return FileProblem(
        "decompression-bomb",
        f"{path_text(path)} declares an image of {size}, more than the limit of "
        f"{max_pixels:,} (a decompression bomb?); {_BOMB_FIX}",
    )


def _formats_for(path: str) -> tuple[str, ...]:
    """The formats tried on ``path``: every allowed one with a signature, and those known by name if it has theirs."""
    ext = os.path.splitext(path)[1].lower()
    return tuple(f for f in ALLOWED_FORMATS if f not in _BY_NAME_ONLY or ext in _BY_NAME_ONLY[f])


def _open(path: str, max_pixels: int) -> ImageFile.ImageFile:
    """Open headers only, with the allow-list; more than ``max_pixels`` is a decompression bomb.

    Containers (ICO, ICNS) hold whole images whose own headers declare their size, and ICO decodes
    its image while opening: Pillow checks those sizes, so its limit is on here too (at half, its
    error fires exactly above ``max_pixels``); ``_check_size`` then applies it to the declared size.
    """
    try:
        with _GATE.hold(_pillow_limit(max_pixels), False):
            im = Image.open(path, formats=_formats_for(path))
    except Image.DecompressionBombError as exc:
        raise _bomb(path, exc, max_pixels) from exc
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, path) from exc
    try:
        _check_size(path, im.width, im.height, max_pixels)
    except FileProblem:
        im.close()
        raise
    return im


def _draft_scale(w: int, h: int, target: tuple[int, int] | None) -> int:
    """The DCT reduction (1, 2, 4 or 8) libjpeg applies for ``draft(mode, target)`` (as Pillow computes it)."""
    if not target:
        return 1
    fit = min(w // max(1, target[0]), h // max(1, target[1]))
    return next((s for s in (8, 4, 2) if fit >= s), 1)


def _stored(size: tuple[int, int] | None, orientation: int) -> tuple[int, int] | None:
    """A displayed size in stored (pre-rotation) terms."""
    return None if size is None else swap(size, orientation)


def combined_draft(ops: Sequence[OpSpec]) -> tuple[int, int] | None:
    """One draft size that serves every image op (None if any needs the full image); as the worker does."""
    hints = [draft_hint(o) for o in ops if o.applies_to("image")]
    if not hints or any(h is None for h in hints):
        return None
    return (max(h[0] for h in hints), max(h[1] for h in hints))  # type: ignore[index]


# ---------------------------------------------------------------- probe


def estimate_bytes(
    width: int,
    height: int,
    mode: str,
    fmt: str | None,
    ops: Sequence[OpSpec],
    *,
    orientation: int = 1,
    out_format: str = "jpeg",
    converts_colour: bool = False,
) -> int:
    """Estimated peak memory (bytes) of decoding a ``width`` x ``height`` (stored) image and running ``ops``.

    A pure function of header facts: JPEG draft reduction, bytes per pixel of ``mode``, the upright
    copy, the colour-managed copy (``converts_colour``: a profile other than sRGB), the working-mode
    conversion, each resize's intermediate and output, the output conversion and the encoded buffer.
    """
    ops = [o for o in ops if o.applies_to("image")]
    scale = _draft_scale(width, height, _stored(combined_draft(ops), orientation)) if fmt in _JPEG else 1
    sw, sh = -(-width // scale), -(-height // scale)
    n = sw * sh
    decoded = n * _BPP.get(mode, 4)
    upright = decoded if orientation != 1 else 0  # the transposed copy exists next to the original for a moment
    library = decoded if fmt in _OWN_BUFFER else 0  # the library's decoded buffer, copied into Pillow's
    # the sRGB copy exists next to the decoded one for a moment (grey/palette: via an RGB copy, then the result)
    converted = n * 4 * (1 if mode in ("RGB", "RGBA", "RGBX", "CMYK") else 2) if converts_colour else 0
    if mode in _HIGH_BIT:
        working = n * 4 * 2 + n  # float copy, its scaled copy, then the 8-bit result
    elif mode in ("1", "L", "LA", "RGB", "RGBA"):
        working = 0
    else:
        working = n * 4  # P, CMYK, YCbCr ... -> L/RGB/RGBA copy
    dw, dh = _stored((sw, sh), orientation)
    per_op = 0
    for op in ops:
        size = op.get("size") or (dw, dh)
        if op.name == "thumbnail":
            r = min(size[0] / dw, size[1] / dh, 1.0)
            ow, oh = max(1, round(dw * r)), max(1, round(dh * r))
        else:
            ow, oh = size
        inter = ow * dh * 4  # the horizontal pass of Pillow's two-pass resize
        out = ow * oh * 4
        encoded = ow * oh * (4 if out_format == "png" else 2)
        per_op = max(per_op, inter + out * 3 + encoded)  # result, output conversion, alpha canvas
    return decoded + max(library, upright, converted, working + per_op) + _OVERHEAD


_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}  # as Pillow names them


def _jpeg_header(path: str, limit: int = 1 << 17) -> tuple[int, int, str, bytes | None, bytes | None] | None:
    """(width, height, mode, raw EXIF, ICC profile) of a plain 8-bit JPEG, read from its headers.

    About twice as cheap as ``Image.open`` (which also parses every table), and the probe runs
    on the client while the cluster starts, where every millisecond is shared. Reads every segment
    up to the start of the image data, as Pillow does. None for anything unusual (not a JPEG, MPO,
    12-bit, two frame headers, headers past ``limit`` bytes, cut short): Pillow decides then.
    """
    with open(path, "rb") as fh:
        data = fh.read(16384)  # most headers end well within this; more is read only if needed
        if data[:3] != b"\xff\xd8\xff":
            return None
        i, exif, frame, icc = 2, None, None, {}
        while True:
            while i + 4 > len(data) or i + 2 + int.from_bytes(data[i + 2 : i + 4], "big") > len(data):
                more = fh.read(min(65536, limit - len(data))) if len(data) < limit else b""
                if not more:
                    return None
                data += more
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker == 0xDA:  # start of the image data: the headers are complete
                return (*frame, exif, b"".join(icc[k] for k in sorted(icc)) or None) if frame else None
            if marker == 0x01 or 0xD0 <= marker <= 0xD9:
                return None  # no such marker belongs in the headers
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if length < 2:
                return None
            seg = data[i + 4 : i + 2 + length]
            if marker == 0xE1 and exif is None and seg.startswith(b"Exif\x00\x00"):
                exif = seg
            elif marker == 0xE2 and seg.startswith(b"MPF\x00"):
                return None  # a multi-picture file: Pillow opens it as MPO
            elif marker == 0xE2 and seg.startswith(b"ICC_PROFILE\x00") and len(seg) > 14:
                icc[seg[12]] = seg[14:]  # chunks in sequence order, as Pillow joins them
            elif marker in _SOF:
                if frame is not None or len(seg) < 6:
                    return None
                bits, h, w, layers = struct.unpack_from(">BHHB", seg, 0)
                mode = _JPEG_MODES.get(layers)
                if bits != 8 or mode is None or w < 1 or h < 1:
                    return None
                frame = (w, h, mode)
            i += 2 + length


def _check_size(path: str, w: int, h: int, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise FileProblem(
            "decompression-bomb",
            f"{path_text(path)} declares {w}x{h} = {w * h:,} pixels, more than "
            f"the limit of {max_pixels:,} (a decompression bomb?); {_BOMB_FIX}",
        )
    if w < 1 or h < 1:
        raise FileProblem("corrupt", f"{path_text(path)} declares an empty size {w}x{h}; re-copy it from its source")


def probe_image(
    path: str, *, ops: tuple[OpSpec, ...], fmt: str = "jpeg", max_pixels: int = 89_478_485, sniffed: str | None = None
) -> MediaInfo:
    """Header facts, no pixel decoding: displayed size, mode, frames, rotation, estimated peak memory.

    ``fmt`` is the output format; ``sniffed`` the format the scan found in the file's first bytes
    (a file it did not call JPEG is not read for a JPEG header). Raises :class:`FileProblem` for a
    file that cannot be used.
    """
    check_file(path)
    head = None
    if sniffed in (None, "JPEG"):
        try:
            head = _jpeg_header(path)
        except OSError:
            pass  # Pillow's open below reports it properly
    if head is not None:
        w, h, mode, exif, icc = head
        _check_size(path, w, h, max_pixels)
        found = orient.Orientation(orient.exif_value(exif)[0]) if exif else orient.Orientation()
        codec, frames = "JPEG", 1
    else:
        im = _open(path, max_pixels)
        try:
            found = orient.read(im, path)
            (w, h), mode, codec = found.stored_size(im), im.mode, im.format
            icc = im.info.get("icc_profile")
            try:
                frames = max(1, int(getattr(im, "n_frames", 1) or 1))
            except Exception:  # noqa: BLE001 - a damaged later frame does not stop the first from loading
                frames = 1
        finally:
            im.close()
    est = estimate_bytes(
        w, h, mode, codec, ops, orientation=found.value, out_format=fmt, converts_colour=colour.needs_conversion(icc, mode)
    )
    dw, dh = swap((w, h), found.value)
    return MediaInfo(width=dw, height=dh, mode=mode, frames=frames, rotation=found.rotation, codec=codec, est_bytes=est)


# ---------------------------------------------------------------- load


def _is_truncation(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and "truncated" in str(exc).lower()


def _decode(
    path: str, max_pixels: int, draft_size: tuple[int, int] | None, truncated: bool
) -> tuple[Image.Image, orient.Orientation]:
    """Open, draft, load the first frame; -> (loaded image with its file closed, its orientation)."""
    im = _open(path, max_pixels)
    try:
        found = orient.read(im, path)
        if draft_size and im.format in _JPEG and im.mode in ("L", "RGB", "CMYK"):
            im.draft(im.mode, _stored(draft_size, found.value))
        # Pillow checks sizes again for frames found while loading (ICO, GIF); with half the limit its
        # error (at twice the setting) fires exactly above max_pixels.
        with _GATE.hold(_pillow_limit(max_pixels), truncated):
            try:
                im.load()
            except Image.DecompressionBombError as exc:
                raise _bomb(path, exc, max_pixels) from exc
        if im.width * im.height > max_pixels:
            raise FileProblem(
                "decompression-bomb",
                f"{path_text(path)} grew to {im.width}x{im.height} while decoding, "
                f"more than the limit of {max_pixels:,} pixels; {_BOMB_FIX}",
            )
        # GIF and multi-frame files keep their file open (to seek to later frames); we only ever use
        # the first frame, so close it now and keep the pixels (a copy only if this Pillow cannot).
        close_file = getattr(im, "_close_fp", None)
        if callable(close_file):
            close_file()
            im.fp = None
        else:  # pragma: no cover - older/newer Pillow without ImageFile._close_fp
            loaded = im.copy()
            im.close()
            im = loaded
        return im, found
    except BaseException:
        im.close()
        raise


def load_image(
    path: str, *, max_pixels: int, allow_truncated: bool = False, draft_size: tuple[int, int] | None = None
) -> tuple[Image.Image, list[Problem]]:
    """Decode the first frame, upright, with its file closed. -> (image, warnings).

    ``draft_size`` (as displayed) lets a JPEG decode at 1/2, 1/4 or 1/8 scale, never below it.
    Pixels tagged with an ICC profile other than sRGB are converted to sRGB (:mod:`.colour`).
    Warnings: ``exif`` (damaged EXIF: orientation not applied), ``truncated`` (with ``allow_truncated``),
    ``icc`` (a profile that cannot be read or used: pixels kept as they are).
    """
    problems: list[Problem] = []
    name = path_text(path)
    check_file(path)
    try:
        try:
            im, found = _decode(path, max_pixels, draft_size, False)
        except OSError as exc:
            if not (allow_truncated and _is_truncation(exc)):
                raise
            im, found = _decode(path, max_pixels, draft_size, True)
            problems.append(Problem("truncated", f"{name} is truncated; the missing part was filled with grey"))
        if found.problem:
            problems.append(Problem("exif", f"{name}: {found.problem}; its orientation was not applied"))
        # upright first: whether to turn it is read from the image as decoded (a TIFF's surviving tag),
        # which a converted copy no longer carries; the transposed copy keeps the profile for the colour step
        im, icc_problem = colour.loaded_to_srgb(found.upright(im), name)
        problems += [icc_problem] if icc_problem else []
        return im, problems
    except FileProblem:
        raise
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, path) from exc


# ---------------------------------------------------------------- modes


def _to_8bit(im: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float image as ``L``, its actual value range stretched to 0..255."""
    f = im if im.mode == "F" else im.convert("F")
    lo, hi = f.getextrema()
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


# ---------------------------------------------------------------- geometry


def _fit_size(w: int, h: int, box: tuple[int, int], enlarge: bool) -> tuple[int, int]:
    r = min(box[0] / w, box[1] / h)
    if not enlarge:
        r = min(r, 1.0)
    return max(1, min(box[0], round(w * r))), max(1, min(box[1], round(h * r)))


#: Big shrinks first box-reduce by a whole factor to at least this many times the output, then
#: Lanczos (Pillow's ``reducing_gap``; its ``thumbnail`` uses 2.0 too). Thumbnails stay at least
#: as close to a full-decode Lanczos reference as seed 000's ``Image.thumbnail`` (tested); a 24 MP
#: JPEG's 128 px thumbnail costs ~1.8 ms less. 1.5 would save more but falls below the seed's.
REDUCING_GAP = 2.0


def _scaled(im: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None = None) -> Image.Image:
    """A resized copy: Lanczos, after a cheap box pre-reduction on big shrinks (same look, faster)."""
    return im.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP)


def thumbnail(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Fit inside ``size`` keeping the aspect ratio; never enlarges. Returns a new image.

    >>> thumbnail(Image.new("L", (50, 20)), (200, 200)).size
    (50, 20)
    """
    work = _working(im)
    dst = _fit_size(work.width, work.height, size, enlarge=False)
    if dst == work.size:
        return work.copy() if work is im else work
    return _scaled(work, dst)


def resize(im: Image.Image, size: tuple[int, int], mode: str = "fit", background: str = "#ffffff") -> Image.Image:
    """Scale to ``size``: ``fit`` (inside, keep aspect, may enlarge), ``fill`` (cover, centre-crop to
    exactly ``size``), ``pad`` (fit, centred on a ``size`` canvas of ``background``, transparent if the
    image has alpha), ``exact`` (stretch). Returns a new image.

    >>> resize(Image.new("RGB", (300, 100)), (90, 90), "pad").size
    (90, 90)
    """
    tw, th = int(size[0]), int(size[1])
    if tw < 1 or th < 1:
        raise ValueError(f"resize: size must be at least 1x1, got {size!r}")
    work = _working(im)
    w, h = work.size
    if mode == "exact":
        return _scaled(work, (tw, th))
    if mode == "fill":
        target = tw / th
        if w / h > target:  # wider than the target: crop the sides
            cw = h * target
            box = ((w - cw) / 2, 0.0, (w + cw) / 2, float(h))
        else:
            ch = w / target
            box = (0.0, (h - ch) / 2, float(w), (h + ch) / 2)
        return _scaled(work, (tw, th), box)
    if mode not in ("fit", "pad"):
        raise ValueError(f"resize: unknown mode {mode!r}; choose from fit, fill, pad, exact")
    fw, fh = _fit_size(w, h, (tw, th), enlarge=True)
    fitted = _scaled(work, (fw, fh)) if (fw, fh) != (w, h) else (work.copy() if work is im else work)
    if mode == "fit":
        return fitted
    offset = ((tw - fw) // 2, (th - fh) // 2)
    if fitted.mode in ("LA", "RGBA"):
        canvas = Image.new(fitted.mode, (tw, th), 0)  # fully transparent margins
        canvas.paste(fitted, offset)
        return canvas
    cmode, fill = _canvas_fill(fitted.mode, background)
    canvas = Image.new(cmode, (tw, th), fill)
    canvas.paste(fitted if fitted.mode == cmode else fitted.convert(cmode), offset)
    return canvas


def render(im: Image.Image, spec: OpSpec, *, background: str = "#ffffff") -> Image.Image:
    """Apply a ``thumbnail`` or ``resize`` op spec; returns a new image in L, LA, RGB or RGBA."""
    size = spec.get("size")
    if spec.name == "thumbnail":
        return thumbnail(im, size or (128, 128))
    if spec.name == "resize":
        return resize(im, size or (512, 512), spec.get("mode", "fit"), background)
    raise ValueError(f"{spec.name} is not an image op (image ops: thumbnail, resize)")


def draft_hint(spec: OpSpec) -> tuple[int, int] | None:
    """The smallest decode size (as displayed) that loses nothing for this op; None means full decode.

    Every resize mode needs a source at least ``size`` on both sides to only ever shrink, and a JPEG
    draft guarantees exactly that, so the op's size is the hint for thumbnail and all resize modes.
    """
    if spec.name in ("thumbnail", "resize"):
        size = spec.get("size")
        return (int(size[0]), int(size[1])) if size else None
    return None


# ---------------------------------------------------------------- output


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


# ---------------------------------------------------------------- errors


def _sniffed_format(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if head.startswith(b"%PDF"):
        return "PDF"
    from .._scan import sniff

    found = sniff(head)
    return found[1] if found else None


def classify(exc: BaseException, path: str) -> FileProblem:
    """Map any exception from Pillow or the OS to a :class:`FileProblem` naming ``path`` and the fix."""
    if isinstance(exc, FileProblem):
        return exc
    n = path_text(path)
    msg = str(exc) or type(exc).__name__
    low = msg.lower()
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return FileProblem("decompression-bomb", f"{n} has more pixels than allowed ({msg}); {_BOMB_FIX}")
    if isinstance(exc, MemoryError):
        return FileProblem(
            "limit-exceeded",
            f"{n} needs more memory than is free; give workers more memory (`memory_limit`) or lower `max_pixels`",
        )
    if isinstance(exc, _ModeError):
        return FileProblem("unsupported-mode", f"{n}: {msg}; convert it to RGB first")
    if isinstance(exc, UnidentifiedImageError):
        found = _sniffed_format(path)
        if found in ("EPS", "PDF"):
            return FileProblem(
                "unsupported-format",
                f"{n} is {found} (PostScript), which is never opened because it would run Ghostscript; convert it to PNG first",
            )
        if found and found not in ALLOWED_FORMATS:
            return FileProblem(
                "unsupported-format",
                f"{n} is {found}, which is not among the formats read ({', '.join(ALLOWED_FORMATS)}); convert it first",
            )
        if found:
            return FileProblem("corrupt", f"{n} looks like {found} but its header is damaged; re-copy it from its source")
        return FileProblem(
            "unidentified",
            f"{n} is not an image in any of the formats read ({', '.join(ALLOWED_FORMATS)}): wrong extension or damaged file",
        )
    if isinstance(exc, FileNotFoundError):
        return FileProblem("not-found", f"{n} does not exist (moved or deleted since the scan?)")
    if isinstance(exc, PermissionError):
        return FileProblem("permission-denied", f"cannot read {n}: permission denied; check its permissions")
    if isinstance(exc, IsADirectoryError):
        return FileProblem("not-regular-file", f"{n} is a directory, not a regular file")
    if isinstance(exc, OSError) and exc.errno in (errno.ELOOP,):
        return FileProblem("symlink-loop", f"{n} is a symbolic link that loops; fix or remove the link")
    if _is_truncation(exc):
        return FileProblem(
            "truncated",
            f"{n} is truncated ({msg}); re-copy it from its source, or set `allow_truncated` to keep the part that is there",
        )
    if isinstance(exc, ValueError) and ("too large" in low or "too much memory" in low or "limit" in low or "too many" in low):
        return FileProblem("limit-exceeded", f"{n} exceeds one of Pillow's safety limits ({msg}); the file is probably malformed")
    if isinstance(exc, ValueError) and (
        low.startswith("conversion from")
        or ("mode" in low and ("not supported" in low or "wrong mode" in low or "unrecognized" in low or "unknown" in low))
    ):
        return FileProblem("unsupported-mode", f"{n} has a colour mode that cannot be converted ({msg}); convert it to RGB first")
    if isinstance(exc, (SyntaxError, struct.error, zlib.error, EOFError, IndexError, KeyError, ValueError, TypeError)) or (
        isinstance(exc, OSError) and exc.errno is None
    ):
        return FileProblem("corrupt", f"{n} has damaged image data ({type(exc).__name__}: {msg}); re-copy it from its source")
    if isinstance(exc, OSError):
        return FileProblem(
            "corrupt", f"{n} could not be read ({msg}); check the disk or network share, then run again to retry it"
        )
    return FileProblem("corrupt", f"{n} could not be decoded ({type(exc).__name__}: {msg})")
