"""Which way up an image is shown, read from headers, and turning it upright exactly once.

Every output is the picture an image viewer shows. Where that orientation lives, and who turns
the pixels, depends on the format:

* JPEG, MPO, PNG (an ``eXIf`` chunk before or after the pixels), WebP, AVIF: the EXIF
  orientation tag; the decoder hands over the stored pixels and :func:`upright` turns them.
  (Pillow's AVIF plugin turns the container's ``irot``/``imir`` boxes into that EXIF value.)
* TIFF: its own tag 274. Pillow's TIFF plugin (both its own decoder for uncompressed files and
  libtiff for compressed ones) turns the pixels while loading, then deletes the tag; turning
  them again here was the bug of issue 13. :func:`upright` turns a TIFF only if the tag is
  still there after loading (a decoder that did not).
* HEIF: libheif applies the ``irot``/``imir`` boxes while decoding and pillow-heif resets the
  EXIF orientation to 1 (keeping the old value in ``info["original_orientation"]``), so the
  pixels arrive upright and ``im.size`` is already the displayed size.

Damaged EXIF never costs the image: the orientation is then 1 with a ``problem`` the caller
records as an ``exif`` warning.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass

from PIL import Image

__all__ = ["Orientation", "read", "exif_value", "swap", "TRANSPOSE"]

#: orientation -> how to turn the stored pixels upright
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: orientation -> rotation in degrees counter-clockwise (the convention of the video probe)
_ROTATION = {3: 180, 5: 90, 6: 270, 7: 270, 8: 90}
_TAG = 0x0112
#: formats whose decoder turns the pixels itself while loading
_BY_DECODER = ("TIFF", "HEIF")


@dataclass(frozen=True)
class Orientation:
    """An image's orientation (1..8 as EXIF and TIFF define it) and who applies it."""

    value: int = 1
    #: what is wrong with the metadata (then ``value`` is 1), for an ``exif`` warning
    problem: str | None = None
    #: the decoder turns the pixels while loading (TIFF in Pillow, HEIF in libheif)
    by_decoder: bool = False

    @property
    def rotation(self) -> int:
        return _ROTATION.get(self.value, 0)

    def upright(self, im: Image.Image) -> Image.Image:
        """The loaded ``im`` as displayed: turned if its decoder has not done it (``im`` is closed if replaced)."""
        value = self.value
        if self.by_decoder:
            tags = getattr(im, "tag_v2", None)
            if im.format != "TIFF" or tags is None or _TAG not in tags:
                return im  # the decoder did it (Pillow deletes the TIFF tag once it has turned the pixels)
            value = _tiff_value(tags.get(_TAG))[0]
        method = TRANSPOSE.get(value)
        if method is None:
            return im
        turned = im.transpose(method)
        im.close()
        return turned

    def stored_size(self, im: Image.Image) -> tuple[int, int]:
        """(width, height) of the pixel grid as stored, before the orientation, from an opened ``im``."""
        if im.format == "TIFF":  # Pillow may already report the displayed size before loading
            tags = getattr(im, "tag_v2", {})
            w, h = tags.get(256), tags.get(257)
            if isinstance(w, int) and isinstance(h, int):
                return w, h
        if self.by_decoder:  # the decoder reports the displayed size
            return swap(im.size, self.value)
        return im.size


def swap(size: tuple[int, int], value: int) -> tuple[int, int]:
    """A size in the other terms (stored <-> displayed) for orientation ``value``."""
    return (size[1], size[0]) if value in (5, 6, 7, 8) else (size[0], size[1])


def exif_value(raw: bytes) -> tuple[int, str | None]:
    """Orientation tag (274) from raw EXIF (a TIFF structure, maybe after ``Exif\\0\\0``).

    -> (orientation, None) or (1, what is wrong). Reads only IFD0, with bounds checks.
    """
    data = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    if len(data) < 8 or data[:4] not in (b"II*\x00", b"MM\x00*"):
        return 1, "its EXIF block has no valid TIFF header"
    end = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(end + "I", data, 4)
    if ifd < 8 or ifd + 2 > len(data):
        return 1, "its EXIF block points outside itself"
    (count,) = struct.unpack_from(end + "H", data, ifd)
    if ifd + 2 + 12 * count > len(data):
        return 1, "its EXIF block is cut short"
    for i in range(count):
        tag, typ, n = struct.unpack_from(end + "HHI", data, ifd + 2 + 12 * i)
        if tag != _TAG:
            continue
        if typ != 3 or n != 1:
            return 1, "its EXIF orientation tag has the wrong type"
        (value,) = struct.unpack_from(end + "H", data, ifd + 2 + 12 * i + 8)
        if value not in range(1, 9):
            return 1, f"its EXIF orientation value {value} is not 1..8"
        return value, None
    return 1, None


def _png_trailing_exif(source: str | bytes, limit: int = 1 << 20) -> bytes | None:
    """An ``eXIf`` chunk after the image data (Pillow only sees it after decoding): walk chunk headers.
    ``source``: the file's path, or its bytes when they were read already (the worker's one read)."""
    with open(source, "rb") if isinstance(source, str) else io.BytesIO(source) as fh:
        if fh.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        for _ in range(100_000):
            head = fh.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind == b"eXIf":
                return fh.read(length) if length <= limit else None
            if kind == b"IEND":
                return None
            fh.seek(length + 4, os.SEEK_CUR)
    return None


def _tiff_value(value: object) -> tuple[int, str | None]:
    if isinstance(value, tuple):
        value = value[0] if value else 1
    try:
        v = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        v = 0
    return (v, None) if v in range(1, 9) else (1, f"its orientation tag {value!r} is not 1..8")


def read(im: Image.Image, path: str | None = None, data: bytes | None = None) -> Orientation:
    """The orientation of an opened (not yet loaded) ``im``, from headers only; never decodes pixels.
    ``data``: the file's bytes, when they were read already (a PNG's trailing EXIF is looked for there)."""
    by_decoder = im.format in _BY_DECODER
    try:
        if im.format == "TIFF":
            return Orientation(*_tiff_value(getattr(im, "tag_v2", {}).get(_TAG, 1)), by_decoder=True)
        if im.format == "HEIF":
            return Orientation(_tiff_value(im.info.get("original_orientation") or 1)[0], by_decoder=True)
        if im.format == "PNG" and "exif" not in im.info and (path is not None or data is not None):
            raw = _png_trailing_exif(data if data is not None else path)  # type: ignore[arg-type]
            return Orientation(*exif_value(raw)) if raw else Orientation()
        raw = im.info.get("exif")
        if not raw:
            return Orientation()
        if isinstance(raw, str):
            raw = raw.encode("latin-1")
        return Orientation(*exif_value(bytes(raw)))
    except Exception as exc:  # noqa: BLE001 - EXIF is optional metadata: never lose the image over it
        return Orientation(1, f"its EXIF data cannot be read ({type(exc).__name__})", by_decoder)
