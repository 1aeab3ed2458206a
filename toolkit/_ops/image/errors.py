"""What went wrong with an image file: every exception from Pillow or the OS becomes a
:class:`~toolkit._ops.FileProblem` with a stable code and a sentence naming the file and the fix."""

from __future__ import annotations

import errno
import re
import struct
import zlib

from PIL import Image, UnidentifiedImageError

from ..._fs import path_text
from ..._store import StoreError
from .. import FileProblem
from .formats import ALLOWED_FORMATS

_BOMB_FIX = "raise `max_pixels` if this image is genuine"


class _ModeError(ValueError):
    """An image in a colour mode we cannot turn into an output (classified as ``unsupported-mode``)."""


def _is_truncation(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and "truncated" in str(exc).lower()


def _bomb(path: str, exc: Image.DecompressionBombError, max_pixels: int) -> FileProblem:
    """Pillow refused an image inside ``path`` (the file's own, or one a container holds) as too large."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)):,} pixels" if found else "more pixels"
    return FileProblem(
        "decompression-bomb",
        f"{path_text(path)} declares an image of {size}, more than the limit of "
        f"{max_pixels:,} (a decompression bomb?); {_BOMB_FIX}",
    )


def _check_size(path: str, w: int, h: int, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise FileProblem(
            "decompression-bomb",
            f"{path_text(path)} declares {w}x{h} = {w * h:,} pixels, more than "
            f"the limit of {max_pixels:,} (a decompression bomb?); {_BOMB_FIX}",
        )
    if w < 1 or h < 1:
        raise FileProblem("corrupt", f"{path_text(path)} declares an empty size {w}x{h}; re-copy it from its source")


def _sniffed_format(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if head.startswith(b"%PDF"):
        return "PDF"
    from ..._sniff import sniff

    found = sniff(head)
    return found[1] if found else None


def classify(exc: BaseException, path: str) -> FileProblem:
    """Map any exception from Pillow or the OS to a :class:`FileProblem` naming ``path`` and the fix."""
    if isinstance(exc, FileProblem):
        return exc
    if isinstance(exc, StoreError):  # an object store's refusal, already in words (toolkit/_store)
        return FileProblem(exc.code, exc.message)
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
