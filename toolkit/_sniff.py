"""What a file is, from its name and first bytes: media kind and format, junk, or why it is left out.

The scan asks here for each file it meets. Nothing is decoded: a file is opened without following
links or blocking (a FIFO swapped in since the stat would hang the scan), checked to be regular,
and 64 bytes are read. A file whose name says media but whose bytes do not is *failed* by the
probe later, never skipped in silence.
"""

from __future__ import annotations

import os
import stat

from typing import Literal, NamedTuple

from ._fs import TMP_SUFFIX, path_text
from ._media import Kind

__all__ = ["sniff", "is_junk", "classify_file", "classify_head", "LeftOut", "IMAGE_EXT", "VIDEO_EXT", "JUNK_DIRS", "JUNK_FILES"]

JUNK_FILES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", ".localized", "icon\r"}
JUNK_DIRS = {
    "__macosx",
    "@eadir",
    ".git",
    ".svn",
    ".hg",
    "$recycle.bin",
    ".trash",
    ".trashes",
    ".spotlight-v100",
    ".fseventsd",
    ".ipynb_checkpoints",
    "__pycache__",
}
IMAGE_EXT = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".dib": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pbm": "PPM",
    ".ico": "ICO",
    ".icns": "ICNS",
    ".mpo": "MPO",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".hif": "HEIF",
    ".avif": "AVIF",
    ".eps": "EPS",
    ".ps": "EPS",
    ".psd": "PSD",
    ".jp2": "JPEG2000",
    ".tga": "TGA",
}
VIDEO_EXT = {
    ".mp4": "MP4",
    ".m4v": "MP4",
    ".mov": "MOV",
    ".mkv": "MKV",
    ".webm": "WEBM",
    ".avi": "AVI",
    ".mpg": "MPEG",
    ".mpeg": "MPEG",
    ".ts": "MPEG-TS",
    ".mts": "MPEG-TS",
    ".m2ts": "MPEG-TS",
    ".flv": "FLV",
    ".wmv": "ASF",
    ".3gp": "MP4",
    ".ogv": "OGG",
}


class LeftOut(NamedTuple):
    """A file the scan leaves out: ``failed`` (special, unreadable, empty media) or ``skipped`` (not media)."""

    status: Literal["failed", "skipped"]
    code: str
    message: str


def sniff(head: bytes) -> tuple[Kind, str] | None:
    """(kind, format) from a file's first bytes, or None if not recognised.

    >>> sniff(b"\\xff\\xd8\\xff\\xe0" + bytes(12))
    ('image', 'JPEG')
    """
    h = head
    if h.startswith(b"\xff\xd8\xff"):
        return "image", "JPEG"
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "PNG"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "GIF"
    if h.startswith(b"RIFF") and h[8:12] == b"WEBP":
        return "image", "WEBP"
    if h.startswith(b"RIFF") and h[8:12] in (b"AVI ", b"AVIX"):
        return "video", "AVI"
    if h.startswith(b"BM") and len(h) >= 14:
        return "image", "BMP"
    if h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image", "TIFF"
    if len(h) >= 3 and h[0:1] == b"P" and h[1:2] in b"123456" and h[2:3] in b" \t\r\n#":
        return "image", "PPM"
    if h.startswith(b"%!PS") or h.startswith(b"\xc5\xd0\xd3\xc6"):
        return "image", "EPS"
    if h.startswith(b"8BPS"):
        return "image", "PSD"
    if h.startswith(b"\x00\x00\x01\x00") and len(h) > 6 and h[4:6] != b"\x00\x00":
        return "image", "ICO"
    if h.startswith(b"icns"):
        return "image", "ICNS"
    if h[4:8] == b"ftyp":
        brand = h[8:12]
        if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"):
            return "image", "HEIF"
        if brand in (b"avif", b"avis"):
            return "image", "AVIF"
        return "video", "MOV" if brand == b"qt  " else "MP4"
    if h[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "video", "MOV"
    if h.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "WEBM" if b"webm" in h[:64] else "MKV"
    if h.startswith(b"FLV"):
        return "video", "FLV"
    if h.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video", "ASF"
    if h.startswith(b"\x00\x00\x01\xba") or h.startswith(b"\x00\x00\x01\xb3"):
        return "video", "MPEG"
    if h.startswith(b"\x00\x00\x00\x0cjP  ") or h.startswith(b"\xff\x4f\xff\x51"):
        return "image", "JPEG2000"
    return None


def _tga(head: bytes) -> bool:
    """Whether an 18-byte TGA header is consistent (TGA has no signature: its name says it, this checks it)."""
    if len(head) < 18:
        return False
    cmap, kind, entry_bits, depth, descriptor = head[1], head[2], head[7], head[16], head[17]
    width, height = int.from_bytes(head[12:14], "little"), int.from_bytes(head[14:16], "little")
    mapped = cmap == 1 and kind in (1, 9) and entry_bits in (15, 16, 24, 32)  # colour-mapped, plain or RLE
    direct = cmap == 0 and kind in (2, 3, 10, 11)  # true-colour or grey, plain or RLE
    return (mapped or direct) and width > 0 and height > 0 and depth in (1, 8, 15, 16, 24, 32) and not descriptor & 0xC0


#: formats without a signature, recognised by their extension plus a header check
_BY_NAME = {".tga": ("TGA", _tga)}


def is_junk(name: str) -> bool:
    """System junk (.DS_Store, ._*, Thumbs.db, editor backups, our temporary files)."""
    low = name.lower()
    return low in JUNK_FILES or name.startswith("._") or name.endswith(TMP_SUFFIX) or low.endswith("~")


def classify_file(abspath: str, st: os.stat_result) -> tuple[Kind, str | None] | LeftOut:
    """Open without following links or blocking, check it is regular, sniff. -> (kind, format) or why it is left out.

    The format is None for a file named as media whose bytes are not recognised: it is failed later."""
    if st.st_size == 0:
        return classify_head(abspath, 0, b"")
    shown = path_text(abspath)
    try:
        fd = os.open(abspath, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except PermissionError:
        return LeftOut("failed", "permission-denied", f"cannot read {shown}: permission denied; check its permissions")
    except FileNotFoundError:
        return LeftOut("failed", "not-found", f"{shown} vanished during the scan")
    except OSError as exc:
        return LeftOut("failed", "corrupt", f"cannot open {shown}: {exc.strerror}")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a special file since the stat
            return LeftOut("failed", "not-regular-file", f"{shown} is not a regular file; it was not opened")
        head = os.read(fd, 64)
    except OSError as exc:
        return LeftOut("failed", "corrupt", f"cannot read {shown}: {exc.strerror}")
    finally:
        os.close(fd)
    return classify_head(abspath, st.st_size, head)


def classify_head(name: str, size: int, head: bytes) -> tuple[Kind, str | None] | LeftOut:
    """The verdict from a file's name, size and first 64 bytes, wherever they were read (a disk, an object store)."""
    ext = os.path.splitext(name)[1].lower()
    by_ext: tuple[Kind, str] | None = (
        ("image", IMAGE_EXT[ext]) if ext in IMAGE_EXT else ("video", VIDEO_EXT[ext]) if ext in VIDEO_EXT else None
    )
    shown = path_text(name)
    if size == 0:
        if by_ext:
            return LeftOut("failed", "empty-file", f"{shown} is empty (0 bytes); re-copy it from its source")
        return LeftOut("skipped", "not-media", f"{shown} is an empty file, not media")
    found = sniff(head)
    if found:
        return found
    if ext in _BY_NAME and _BY_NAME[ext][1](head):
        return "image", _BY_NAME[ext][0]
    if by_ext:  # claims to be media but the bytes say otherwise: fail it, never silently skip
        return by_ext[0], None
    return LeftOut("skipped", "not-media", f"{shown} is not an image or video (content not recognised)")
