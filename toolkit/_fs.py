"""Small filesystem helpers: atomic writes and path text that survives any bytes."""

from __future__ import annotations

import base64
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

#: Every temporary file the toolkit creates ends with this suffix, so that a
#: later run can find and remove what a killed run left behind.
TMP_SUFFIX = ".dataprep-tmp"


def tmp_path_for(final: Path) -> Path:
    """A unique hidden temporary name in the same folder as ``final``."""
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")


@contextmanager
def atomic_write(final: Path, *, durable: bool = False) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``final``; rename it over ``final`` on success.

    A crash or an exception leaves ``final`` untouched (or absent) and removes the
    temporary file, so no reader ever sees a half-written output. ``durable`` also fsyncs
    before the rename (survives a power cut, costs milliseconds a file): the manifest uses it.

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> with atomic_write(d / "a.txt") as f: _ = f.write(b"hi")
    >>> (d / "a.txt").read_bytes()
    b'hi'
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_for(final)
    try:
        with open(tmp, "xb") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


def write_bytes_atomic(final: Path, data: bytes) -> None:
    with atomic_write(final) as fh:
        fh.write(data)


def remove_stale_tmp(root: Path) -> int:
    """Delete temporary files a killed run left under ``root``; return how many."""
    n = 0
    if not root.is_dir():
        return 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(TMP_SUFFIX):
                try:
                    os.unlink(os.path.join(dirpath, name))
                    n += 1
                except OSError:
                    pass
    return n


def path_text(p: os.PathLike | str) -> str:
    """Path as printable text: undecodable bytes escaped as ``\\xNN``."""
    raw = os.fsencode(p)
    return raw.decode("utf-8", errors="backslashreplace")


def path_b64(p: os.PathLike | str) -> str:
    """Base64 of the path's exact bytes, so any name round-trips."""
    return base64.b64encode(os.fsencode(p)).decode("ascii")
