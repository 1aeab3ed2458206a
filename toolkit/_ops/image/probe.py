"""Header facts of an image without decoding its pixels, and the peak memory its ops will need."""

from __future__ import annotations

import contextlib
import struct
from typing import Any, Sequence

from ..._media import MediaInfo
from ..._store import is_url
from ..._store._read import open_object
from .. import OpSpec, check_file, colour
from .. import orientation as orient
from ..orientation import swap
from .errors import _check_size
from .formats import _JPEG, _OWN_BUFFER
from .geometry import combined_draft
from .load import _open, _stored
from .modes import _HIGH_BIT

#: Bytes per pixel of Pillow's in-memory storage (3- and 2-band modes are stored as 4 bytes).
_BPP = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_OVERHEAD = 2 * 2**20  # interpreter-side buffers, codec state, the encoded output's slack


def _draft_scale(w: int, h: int, target: tuple[int, int] | None) -> int:
    """The DCT reduction (1, 2, 4 or 8) libjpeg applies for ``draft(mode, target)`` (as Pillow computes it)."""
    if not target:
        return 1
    fit = min(w // max(1, target[0]), h // max(1, target[1]))
    return next((s for s in (8, 4, 2) if fit >= s), 1)


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
    source_bytes: int = 0,
) -> int:
    """Estimated peak memory (bytes) of decoding a ``width`` x ``height`` (stored) image and running ``ops``.

    A pure function of header facts: JPEG draft reduction, bytes per pixel of ``mode``, the upright
    copy, the colour-managed copy (``converts_colour``: a profile other than sRGB), the working-mode
    conversion, each resize's intermediate and output, the output conversion and the encoded buffer.
    ``source_bytes``: the file's size. The worker holds the file's bytes while decoding (it hashes them
    and decodes from memory: one read), until the image is upright and in sRGB; not during the ops.
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
    dw, dh = swap((sw, sh), orientation)
    per_op = 0
    for op in ops:
        size = (op.get("size") if op.custom is None else None) or (dw, dh)  # an op of yours: as large as the image
        if op.name == "thumbnail":
            r = min(size[0] / dw, size[1] / dh, 1.0)
            ow, oh = max(1, round(dw * r)), max(1, round(dh * r))
        else:
            ow, oh = size
        inter = ow * dh * 4  # the horizontal pass of Pillow's two-pass resize
        out = ow * oh * 4
        encoded = ow * oh * (4 if out_format == "png" else 2)
        per_op = max(per_op, inter + out * 3 + encoded)  # result, output conversion, alpha canvas
    return decoded + max(source_bytes + max(library, upright, converted), working + per_op) + _OVERHEAD


_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}  # as Pillow names them


def _jpeg_header(path: str, limit: int = 1 << 17, src: Any = None) -> tuple[int, int, str, bytes | None, bytes | None] | None:
    """(width, height, mode, raw EXIF, ICC profile) of a plain 8-bit JPEG, read from its headers.

    About twice as cheap as ``Image.open`` (which also parses every table), and the probe runs
    on the client while the cluster starts, where every millisecond is shared. Reads every segment
    up to the start of the image data, as Pillow does. None for anything unusual (not a JPEG, MPO,
    12-bit, two frame headers, headers past ``limit`` bytes, cut short): Pillow decides then.
    """
    with open(path, "rb") if src is None else contextlib.nullcontext(src) as fh:  # src: an object (toolkit/_store)
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


def probe_image(
    path: str, *, ops: tuple[OpSpec, ...], fmt: str = "jpeg", max_pixels: int = 89_478_485, sniffed: str | None = None
) -> MediaInfo:
    """Header facts, no pixel decoding: displayed size, mode, frames, rotation, estimated peak memory.

    ``fmt`` is the output format; ``sniffed`` the format the scan found in the file's first bytes
    (a file it did not call JPEG is not read for a JPEG header). Raises :class:`FileProblem` for a
    file that cannot be used.
    """
    if is_url(path):  # an object: its headers read in ranges (toolkit/_store)
        with open_object(path) as src:
            return _probe(path, src.size, src, ops, fmt, max_pixels, sniffed)
    return _probe(path, check_file(path), None, ops, fmt, max_pixels, sniffed)


def _probe(path: str, size: int, src: Any, ops: tuple[OpSpec, ...], fmt: str, max_pixels: int, sniffed: str | None) -> MediaInfo:
    codec: str | None
    head = None
    if sniffed in (None, "JPEG"):
        try:
            head = _jpeg_header(path) if src is None else _jpeg_header(path, src=src)
        except OSError:
            pass  # Pillow's open below reports it properly
    if head is not None:
        w, h, mode, exif, icc = head
        _check_size(path, w, h, max_pixels)
        found = orient.Orientation(orient.exif_value(exif)[0]) if exif else orient.Orientation()
        codec, frames = "JPEG", 1
    else:
        if src is not None:
            src.seek(0)
        im = _open(path, max_pixels, src)
        try:
            found = orient.read(im, None if src is not None else path)
            (w, h), mode, codec = found.stored_size(im), im.mode, im.format
            icc = im.info.get("icc_profile")
            try:
                frames = max(1, int(getattr(im, "n_frames", 1) or 1))
            except Exception:  # noqa: BLE001 - a damaged later frame does not stop the first from loading
                frames = 1
        finally:
            im.close()
    est = estimate_bytes(
        w,
        h,
        mode,
        codec,
        ops,
        orientation=found.value,
        out_format=fmt,
        converts_colour=colour.needs_conversion(icc, mode),
        source_bytes=size,
    )
    dw, dh = swap((w, h), found.value)
    return MediaInfo(width=dw, height=dh, mode=mode, frames=frames, rotation=found.rotation, codec=codec, est_bytes=est)
