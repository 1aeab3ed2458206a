"""Small filesystem helpers: atomic writes and path text that survives any bytes."""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO, Iterator

from ._errors import OutputWriteError

#: Every temporary file the toolkit creates ends with this suffix, so that a
#: later run can find and remove what a killed run left behind.
TMP_SUFFIX = ".dataprep-tmp"


def tmp_path_for(final: Path) -> Path:
    """A unique hidden temporary name in the same folder as ``final``."""
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Any ``OSError`` inside is a failure to write ``path`` (an output or the build's bookkeeping),
    raised as :class:`~toolkit._errors.OutputWriteError` with the OS's errno and reason: the seam
    that keeps a full or read-only output disk from being taken for a bad input."""
    try:
        yield
    except OutputWriteError:
        raise
    except OSError as exc:
        raise OutputWriteError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc


def nearest_existing(path: str | os.PathLike) -> str:
    """``path`` made absolute, or its nearest parent that exists (for a folder not made yet: the
    file system it will be on, what it will be measured by)."""
    p = os.path.abspath(path)
    while not os.path.exists(p) and os.path.dirname(p) != p:
        p = os.path.dirname(p)
    return p


def make_folder(folder: str | os.PathLike, root: str | os.PathLike | None = None) -> None:
    """Make ``folder`` and its parents, but never ``root`` itself (the output folder): a root that
    is gone (deleted, unmounted) is an ``OutputWriteError`` (ENOENT) naming it, not silently made anew."""
    if root is not None and not os.path.isdir(root):
        raise OutputWriteError(errno.ENOENT, os.strerror(errno.ENOENT), os.fspath(root))
    with writing(folder):
        os.makedirs(folder, exist_ok=True)


def place(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Rename a finished temporary file over ``final`` (an output write: errors are OutputWriteError)."""
    with writing(final):
        os.replace(tmp, final)


@contextlib.contextmanager
def atomic_write(final: Path, *, durable: bool = False, root: str | os.PathLike | None = None) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``final``; rename it over ``final`` on success.

    A crash or an exception leaves ``final`` untouched (or absent) and removes the
    temporary file, so no reader ever sees a half-written output. ``durable`` also fsyncs
    before the rename (survives a power cut, costs milliseconds a file): the manifest uses it.
    Any ``OSError`` (the body's writes included) is raised as ``OutputWriteError``; a missing
    folder is made, up to ``root`` (the output folder, which is never made again: see :func:`make_folder`).

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> with atomic_write(d / "a.txt") as f: _ = f.write(b"hi")
    >>> (d / "a.txt").read_bytes()
    b'hi'
    """
    with writing(final):
        tmp = tmp_path_for(final)
        try:
            fh = open(tmp, "xb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:  # its folder first (tried second: a folder is made once, a file often)
            make_folder(final.parent, root)
            fh = open(tmp, "xb")  # noqa: SIM115
        try:
            with fh:
                yield fh
                fh.flush()
                if durable:
                    os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise


#: test hook, off unless set: ``ERRNAME:N`` (``ENOSPC:3``, ``EROFS:1``) makes the Nth output this
#: process writes through :func:`write_bytes_atomic`, and every later one, fail with that error
#: after half its bytes (a disk that fills up, or turns read-only, under a running build)
TEST_WRITE_FAULT_ENV = "DATAPREP_TEST_WRITE_FAULT"
_outputs_written = 0


def write_bytes_atomic(final: Path, data: bytes, *, root: str | os.PathLike | None = None) -> None:
    """Write one output atomically (see :func:`atomic_write`); errors are ``OutputWriteError``."""
    global _outputs_written
    with atomic_write(final, root=root) as fh:
        fault = os.environ.get(TEST_WRITE_FAULT_ENV)
        if fault:
            _outputs_written += 1
            name, _, nth = fault.partition(":")
            if _outputs_written >= int(nth or 1):
                fh.write(data[: len(data) // 2])
                fh.flush()
                code = getattr(errno, name)
                raise OSError(code, os.strerror(code))
        fh.write(data)


class Placed:
    """The outputs one input file has put in place under ``root``, in order, each with the identity
    (device, inode) it had then. A failure removes exactly those: never a file that someone else (a
    later build, after this file's run was stopped) has since put under the same name."""

    def __init__(self, root: str | os.PathLike = "") -> None:
        self.root = os.fspath(root)
        self._ids: dict[str, tuple[int, int]] = {}  # name (relative to root) -> identity
        self._sizes: dict[str, int] = {}  # name -> its size when it landed
        self.bytes = 0  # their sizes, added up

    @property
    def names(self) -> list[str]:
        """The outputs placed so far, relative to ``root``, in the order they landed."""
        return list(self._ids)

    @property
    def sizes(self) -> list[int]:
        """The size (bytes) of each of :attr:`names`, in the same order."""
        return [self._sizes[n] for n in self._ids]

    def add(self, name: str | os.PathLike) -> None:
        st = os.stat(os.path.join(self.root, name))
        self._ids[os.fspath(name)] = (st.st_dev, st.st_ino)
        self._sizes[os.fspath(name)] = st.st_size
        self.bytes += st.st_size

    def remove(self) -> int:
        """Remove every output still as this file placed it; forget them all. -> how many."""
        removed = 0
        for name, ident in self._ids.items():
            path = os.path.join(self.root, name)
            try:
                st = os.stat(path)
                if (st.st_dev, st.st_ino) == ident:
                    os.unlink(path)
                    removed += 1
            except OSError:
                pass
        self._ids.clear()
        self._sizes.clear()
        self.bytes = 0
        return removed


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


#: what a terminal would act on instead of showing: C0 and C1 controls and DEL (a newline or CR
#: splits a row, ESC starts a terminal command), line and paragraph separators, the bidirectional
#: controls that reorder what follows (U+202E shows ``gpj.exe`` as ``exe.jpg``), lone surrogates
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def printable(text: str) -> str:
    """``text`` (a file name, a message naming one) safe to print as one line on a terminal: each
    character above written as the manifest's JSON writes a control character (``\\n``, ``\\u202e``).

    >>> printable("a\\nb\\u202egpj.exe")
    'a\\\\nb\\\\u202egpj.exe'
    """
    if text.isprintable():
        return text
    return _UNPRINTABLE.sub(lambda m: _SHORT_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def path_b64(p: os.PathLike | str) -> str:
    """Base64 of the path's exact bytes, so any name round-trips."""
    return base64.b64encode(os.fsencode(p)).decode("ascii")
