"""Colour management: pixels tagged with an ICC profile other than sRGB become sRGB pixels.

Outputs carry no profile and training loaders ignore profiles anyway, so a dataset's pixels must
*be* sRGB: a Display P3 photo copied as if it were sRGB comes out dull, an Adobe RGB one washed out.
:func:`to_srgb` converts through the profile with LittleCMS (Pillow's ``ImageCms``); it works on any
Pillow image carrying ``info['icc_profile']`` (JPEG, PNG, WebP, TIFF, and HEIF through pillow-heif).

Most photos are tagged sRGB, so deciding that costs no transform: the profile's own colorants and
tone curves are compared with sRGB's (:func:`is_srgb`, a header and tag-table read), and the verdict
is remembered per profile (by digest, so a big CMYK profile is not kept in memory twice). Built
transforms are cached per profile and mode in the worker process, at most :data:`MAX_TRANSFORMS`.
A profile that cannot be read or used is never a failure: the pixels are kept and the caller gets
a sentence saying so (the row's ``icc`` warning). Rendering intent: perceptual (LittleCMS uses the
colorimetric matrix for matrix/TRC profiles, so RGB photos map exactly; CMYK profiles use their
perceptual tables), as before for CMYK.

>>> from PIL import Image
>>> im, problem = to_srgb(Image.new("RGB", (4, 4)))   # no profile: the same image, untouched
>>> problem is None
True
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

from .._media import Problem

__all__ = ["to_srgb", "loaded_to_srgb", "is_srgb", "needs_conversion", "MAX_TRANSFORMS"]

#: Built transforms kept per worker process (LittleCMS tables: up to a few MB for a CMYK profile).
MAX_TRANSFORMS = 8
_MAX_VERDICTS = 64
#: sRGB's colorants adapted to D50 (the columns of its RGB -> PCS XYZ matrix), as ICC profiles store them.
_SRGB_COLORANTS = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
_COLORANT_TOLERANCE = 0.003  # sRGB profiles in the wild differ by ~0.001 (rounding, adaptation method)
_CURVE_POINTS = (0.01, 0.03, 0.08, 0.15, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0)
_SPACES = {b"RGB ": "RGB", b"GRAY": "GRAY", b"CMYK": "CMYK"}


def _srgb_eotf(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


# ---------------------------------------------------------------- reading a profile's own numbers


def _tags(icc: bytes) -> dict[bytes, bytes]:
    """The tag table of an ICC profile -> {signature: data}. Raises on anything malformed."""
    if len(icc) < 132 or icc[36:40] != b"acsp":
        raise ValueError("not an ICC profile")
    (count,) = struct.unpack_from(">I", icc, 128)
    if 132 + 12 * count > len(icc):
        raise ValueError("tag table cut short")
    out = {}
    for i in range(count):
        sig, off, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
        if off + size > len(icc):
            raise ValueError("tag outside the profile")
        out[sig] = icc[off : off + size]
    return out


def _colorant(data: bytes) -> tuple[float, ...]:
    if data[:4] != b"XYZ " or len(data) < 20:
        raise ValueError("not an XYZ tag")
    return tuple(v / 65536 for v in struct.unpack_from(">3i", data, 8))


def _curve(data: bytes):
    """A tone curve tag (curv or para) as a function 0..1 -> 0..1."""
    kind = data[:4]
    if kind == b"curv":
        (n,) = struct.unpack_from(">I", data, 8)
        if n == 0:
            return lambda x: x
        if n == 1:
            gamma = struct.unpack_from(">H", data, 12)[0] / 256
            return lambda x: x**gamma
        table = struct.unpack_from(f">{n}H", data, 12)

        def lookup(x: float) -> float:
            pos = x * (n - 1)
            i = min(int(pos), n - 2)
            return (table[i] + (table[i + 1] - table[i]) * (pos - i)) / 65535

        return lookup
    if kind == b"para":
        (ftype,) = struct.unpack_from(">H", data, 8)
        nparams = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}[ftype]
        p = [v / 65536 for v in struct.unpack_from(f">{nparams}i", data, 12)] + [0.0] * (7 - nparams)
        g, a, b, c, d, e, f = p
        if ftype == 0:
            return lambda x: x**g
        if ftype == 1:
            return lambda x: (a * x + b) ** g if x >= -b / a else 0.0
        if ftype == 2:
            return lambda x: (a * x + b) ** g + c if x >= -b / a else c
        if ftype == 3:
            return lambda x: (a * x + b) ** g if x >= d else c * x
        return lambda x: (a * x + b) ** g + e if x >= d else c * x + f
    raise ValueError("not a tone curve")


def _is_srgb_curve(data: bytes) -> bool:
    f = _curve(data)
    return all(abs(f(x) - _srgb_eotf(x)) <= 0.001 + 0.01 * _srgb_eotf(x) for x in _CURVE_POINTS)


def is_srgb(icc: bytes) -> bool:
    """True when ``icc`` is a matrix/TRC profile that *is* sRGB by its numbers (colorants and tone
    curves), whatever it is called; for a grey profile, sRGB's tone curve. False otherwise, also for
    a profile that cannot be read (LittleCMS says why later)."""
    try:
        tags = _tags(icc)
        space = icc[16:20]
        if space == b"GRAY":
            return _is_srgb_curve(tags[b"kTRC"])
        if space != b"RGB ":
            return False
        for sig, want in zip((b"rXYZ", b"gXYZ", b"bXYZ"), _SRGB_COLORANTS):
            if any(abs(a - b) > _COLORANT_TOLERANCE for a, b in zip(_colorant(tags[sig]), want)):
                return False
        return all(_is_srgb_curve(tags[sig]) for sig in (b"rTRC", b"gTRC", b"bTRC"))
    except (KeyError, ValueError, struct.error, ZeroDivisionError, OverflowError):
        return False


# ---------------------------------------------------------------- verdicts and transforms, cached


@dataclass(frozen=True)
class _Verdict:
    convert: bool  # False: sRGB already, or unusable (then ``problem`` says why)
    space: str  # RGB, GRAY, CMYK or what the header says
    problem: str | None = None


class _Cache:
    """Verdicts by profile digest, and up to MAX_TRANSFORMS built transforms (least recently used
    goes first). Failures are cached too, so a bad profile on many files costs one attempt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.verdicts: OrderedDict[bytes, _Verdict] = OrderedDict()
        self.transforms: OrderedDict[tuple[bytes, str, str], object] = OrderedDict()

    def get(self, store: OrderedDict, key, make):
        with self._lock:
            if key in store:
                store.move_to_end(key)
                return store[key]
        value = make()  # outside the lock: building a CMYK transform takes tens of ms
        with self._lock:
            store[key] = value
            while len(store) > (MAX_TRANSFORMS if store is self.transforms else _MAX_VERDICTS):
                store.popitem(last=False)
        return value


_CACHE = _Cache()


def _digest(icc: bytes) -> bytes:
    return hashlib.blake2b(icc, digest_size=16).digest()


def _judge(icc: bytes) -> _Verdict:
    space = _SPACES.get(icc[16:20], icc[16:20].decode("latin-1").strip() or "unknown") if len(icc) >= 20 else "unknown"
    if is_srgb(icc):
        return _Verdict(False, space)
    from PIL import ImageCms

    try:
        ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except Exception as exc:  # noqa: BLE001 - any failure to parse is a damaged profile
        return _Verdict(False, space, f"its ICC colour profile cannot be read ({exc})")
    if space not in ("RGB", "GRAY", "CMYK"):
        return _Verdict(False, space, f"its ICC colour profile is for {space} colours, which are not converted")
    return _Verdict(True, space)


def _verdict(icc: bytes, key: bytes) -> _Verdict:
    """``key``: the profile's :func:`_digest`, made once per image by the caller."""
    return _CACHE.get(_CACHE.verdicts, key, lambda: _judge(icc))


def needs_conversion(icc: bytes | None, mode: str) -> bool:
    """Whether an image in ``mode`` tagged with ``icc`` gets a converted copy (for memory estimates)."""
    if not icc:
        return False
    verdict = _verdict(icc, _digest(icc))
    return verdict.convert and _plan(mode, verdict.space) is not None


def _transform(icc: bytes, key: bytes, in_mode: str, out_mode: str):
    """A built transform, or the text of why it cannot be built."""
    from PIL import ImageCms

    def build():
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.buildTransform(
                src, ImageCms.createProfile("sRGB"), in_mode, out_mode, renderingIntent=ImageCms.Intent.PERCEPTUAL
            )
        except Exception as exc:  # noqa: BLE001
            return f"its ICC colour profile cannot be used ({exc})"

    return _CACHE.get(_CACHE.transforms, (key, in_mode, out_mode), build)


# ---------------------------------------------------------------- converting

#: (image mode, profile space) -> (mode handed to LittleCMS, its output mode, the result's mode)
_PLANS = {
    ("RGB", "RGB"): ("RGB", "RGB", "RGB"),
    ("RGBA", "RGB"): ("RGBA", "RGBA", "RGBA"),
    ("RGBX", "RGB"): ("RGBX", "RGB", "RGB"),
    ("P", "RGB"): ("RGB", "RGB", "RGB"),
    ("PA", "RGB"): ("RGBA", "RGBA", "RGBA"),
    ("CMYK", "CMYK"): ("CMYK", "RGB", "RGB"),
    # grey: LittleCMS has no sRGB grey to aim at, so grey -> sRGB RGB (three equal bands) -> grey again
    ("L", "GRAY"): ("L", "RGB", "L"),
    ("LA", "GRAY"): ("L", "RGB", "L"),  # alpha set aside, put back
    ("I;16", "GRAY"): ("I;16", "RGB", "L"),
    ("I;16L", "GRAY"): ("I;16L", "RGB", "L"),
    ("I;16B", "GRAY"): ("I;16B", "RGB", "L"),
}


def _plan(mode: str, space: str) -> tuple[str, str, str] | None:
    return _PLANS.get((mode, space))


def to_srgb(im: Image.Image) -> tuple[Image.Image, str | None]:
    """``im`` with sRGB pixels and no profile in its ``info``, and what went wrong (or None).

    Returns ``im`` itself when it has no profile, an sRGB one, or one that cannot be used (then the
    sentence says which: the pixels are kept as they are). A 16-bit grey image with a grey profile
    becomes 8-bit ``L`` through the profile (its values are colorimetric, so they are not stretched);
    a palette image becomes RGB (RGBA with transparency). Alpha is carried over unchanged.
    """
    icc = im.info.get("icc_profile")
    if not icc:
        return im, None
    icc = bytes(icc)
    key = _digest(icc)  # one hash of the profile per image: the verdict and the transform are cached by it
    verdict = _verdict(icc, key)
    if not verdict.convert:
        return im, verdict.problem
    mode = "PA" if im.mode == "P" and im.has_transparency_data else im.mode
    plan = _plan(mode, verdict.space)
    if plan is None:
        if im.mode == "1" or (im.mode in ("I", "F") and verdict.space == "GRAY"):
            return im, None  # bilevel: black and white stay so; 32-bit grey is stretched over its range later
        return im, f"its ICC colour profile is for {verdict.space} but its pixels are {im.mode}"
    cms_in, cms_out, result = plan
    transform = _transform(icc, key, cms_in, cms_out)
    if isinstance(transform, str):
        return im, transform
    alpha = im.getchannel("A") if im.mode == "LA" else None  # LittleCMS drops LA's alpha
    src = im.getchannel("L") if alpha else im if im.mode == cms_in else im.convert(cms_in)
    out = transform.apply(src)
    if src is not im:
        src.close()
    if out.mode != result:
        grey = out.convert(result)  # equal bands: exact for grey (Rec. 601 weights sum to 1)
        out.close()
        out = grey
    if alpha is not None:
        out = Image.merge("LA", (out, alpha))
    out.info.pop("icc_profile", None)
    return out, None


def loaded_to_srgb(im: Image.Image, name: str) -> tuple[Image.Image, Problem | None]:
    """:func:`to_srgb` for a freshly loaded image: closes ``im`` when it was replaced, drops the
    profile from ``info`` either way (it has been dealt with), and turns a problem into the row's
    ``icc`` warning naming the file and what was done instead."""
    out, problem = to_srgb(im)
    if out is not im:
        im.close()
    out.info.pop("icc_profile", None)
    if problem is None:
        return out, None
    done = (
        "its colours were converted with the plain CMYK formula"
        if out.mode == "CMYK"
        else "its pixels were kept as they are (read as sRGB)"
    )
    return out, Problem("icc", f"{name}: {problem}; {done}")
