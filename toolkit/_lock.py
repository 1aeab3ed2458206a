"""One build at a time per output folder: ``OUTPUT/.dataprep/lock``, the kernel's ``flock``.

Two builds writing one folder would interleave their manifests and remove each other's temporary
files and journals. A build that is killed releases the lock with its process, so a stale lock
file never blocks the next run. The file says who holds it (pid, host, start time), for the
message of the build that is refused; that record is never missing while the lock is held: a
build writes it into a file of its own, locks that file, and only then puts it under the lock's
name (a hard link, which fails if a lock file is there; over a killed build's file, a rename made
while holding that file's lock). Where a file system has no hard links the record follows the lock
at once, and a reader that finds none re-reads for a moment, then says the build has just started.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import socket
import time
from pathlib import Path

from ._fs import TMP_SUFFIX  # a record file's suffix: a later run cleans it up, should we be killed while making it

__all__ = ["OutputBusy", "OutputLock", "lock_holder", "holder_text", "holder_gone"]

_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class OutputBusy(Exception):
    """Another build holds the output folder's lock; ``holder`` is what it wrote about itself
    (``{}``: a build that has just started and could not be asked yet)."""

    def __init__(self, holder: dict):
        super().__init__(holder)
        self.holder = holder


class OutputLock:
    """An exclusive lock on an output folder for the length of one build.

    :meth:`release` removes the file; a build that opened it just before then finds that its lock
    is on a removed file and tries again on the current one. Where there is no ``flock``
    (Windows) or the file system refuses it, builds run unlocked (``acquire`` returns False).
    """

    def __init__(self, output: str | os.PathLike):
        self.path = Path(output, ".dataprep", "lock").absolute()  # a later chdir changes nothing
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock or raise :class:`OutputBusy` at once (it never waits for a holder to end;
        it may wait a moment for one that is starting to say who it is). -> False if unlocked.
        Other ``OSError``: the folder cannot be used (e.g. no permission to create it)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return False
        for _attempt in range(20):  # each retry means a holder started or ended just then: a few at most
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd: int | None
            try:
                fd = _open(self.path)
            except FileNotFoundError:
                fd = self._publish(fcntl)
                if fd is None:  # another build put its file there first: ask it
                    continue
                self._fd = fd if fd >= 0 else None
                return fd >= 0
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _holder_of(fd, self.path) if exc.errno in _BUSY else {}
                os.close(fd)
                if exc.errno not in _BUSY:
                    return False  # no lock to be had here (e.g. ENOLCK on some network file systems)
                if holder is None:  # replaced while we read it: ask the current file
                    continue
                raise OutputBusy(holder) from None
            if not _is_current(fd, self.path):  # locked a file its holder removed as it ended: lock the current one
                os.close(fd)
                continue
            self._fd = self._replace(fcntl, fd)  # a killed build's file: ours replaces it, record and all
            return True
        raise OSError(errno.EAGAIN, f"could not lock {self.path}")

    def _record(self, fcntl) -> tuple[int, Path] | None:
        """A new file beside the lock holding our record, locked by us; None if it cannot be locked
        (no ``flock`` on this file system). ``OSError``: it cannot be made (the folder is unusable)."""
        tmp = self.path.with_name(f".lock.{secrets.token_hex(4)}{TMP_SUFFIX}")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o644)
        _write_record(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            tmp.unlink()
            return None
        return fd, tmp

    def _publish(self, fcntl) -> int | None:
        """No lock file: make ours its name. -> its fd; None if another build's came first; -1: run unlocked."""
        try:
            made = self._record(fcntl)
        except FileNotFoundError:  # .dataprep/ went with a build that ended just then: make it and look again
            return None
        if made is None:
            return -1
        made_fd, tmp = made
        fd: int | None = made_fd
        try:
            os.link(tmp, self.path)  # never replaces a file: if one appeared meanwhile, it wins
        except (FileExistsError, FileNotFoundError):  # another's came first; ours was cleaned away: look again
            os.close(made_fd)
            fd = None
        except OSError:  # no hard links on this file system: take the name, our record follows at once
            os.close(made_fd)
            fd = _legacy(fcntl, self.path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if fd is not None and fd >= 0 and not _is_current(fd, self.path):  # removed by a build that just ended
            os.close(fd)
            return None
        return fd

    def _replace(self, fcntl, stale: int) -> int:
        """Holding a killed build's file: put one with our record in its place, so nobody reads the
        dead build's record as ours, then let the old one go. -> the fd we hold."""
        try:
            made = self._record(fcntl)
        except OSError:  # a read-only folder: the old file's lock holds all the same
            made = None
        if made is None:
            return stale
        fd, tmp = made
        try:
            os.replace(tmp, self.path)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return stale
        os.close(stale)
        return fd

    def release(self) -> None:
        """Remove the lock file, then let go (no-op if not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | _CLOEXEC)
    except PermissionError:  # left by a killed build of another user: flock needs only reading
        return os.open(path, os.O_RDONLY | _CLOEXEC)


def _legacy(fcntl, path: Path) -> int | None:
    """Lock by creating the file itself, then write the record (readers wait for it). None: taken."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o644)
    except FileExistsError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    _write_record(fd)
    return fd


def _write_record(fd: int) -> None:
    """Who we are, for the build that is refused. A full disk leaves it empty: readers then say
    the holder has just started, and the lock holds all the same."""
    with contextlib.suppress(OSError):
        os.write(
            fd,
            json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
            ).encode(),
        )


def lock_holder(output: str | os.PathLike) -> dict | None:
    """Who holds the output folder's lock (pid, host, started; ``{}``: a build that has just
    started), or None if nobody."""
    try:
        import fcntl
    except ImportError:
        return None
    path = Path(output, ".dataprep", "lock")
    for _attempt in range(20):
        try:
            fd = os.open(path, os.O_RDONLY | _CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder_of(fd, path) if exc.errno in _BUSY else None
            if exc.errno not in _BUSY or holder is not None:
                return holder
            continue  # replaced while we read it: ask the current file
        finally:
            os.close(fd)  # also lets go of a lock taken just above
        return None
    return {}


def holder_text(holder: dict) -> str:
    """``process 123 on host, started …``; without a record, that it has just started."""
    if not holder:
        return "a build that has just started in another process"
    return f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is the file now under the lock's name (not one removed or replaced since)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _holder_of(fd: int, path: Path, wait: float = 1.0) -> dict | None:
    """The record in a lock file someone holds. One that is missing, torn, or names a process of
    this host that is gone belongs to a file being replaced (a build taking over a killed one's, or
    one without hard links writing its record): re-read for up to ``wait`` s, then ``{}``.
    None: the file was replaced meanwhile (ask the new one)."""
    deadline = time.monotonic() + wait
    while True:
        holder = _read_holder(fd)
        if holder.get("pid") and not holder_gone(holder):
            return holder
        if not _is_current(fd, path):
            return None
        if time.monotonic() >= deadline:
            return {}
        time.sleep(0.02)


def holder_gone(holder: dict) -> bool:
    """The record names a process of this host that no longer runs (a killed build's record)."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: it runs
        return False
    return False


def _read_holder(fd: int) -> dict:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}
