"""Output-side faults: failing to write an output or the build's bookkeeping is the output's condition.

A full disk, a read-only or vanished output folder, a folder this user may not write: none of
these says anything about the input being processed. The write helpers (``_fs.writing``,
``atomic_write``, ``make_folder``, ``place``) raise :class:`~toolkit._errors.OutputWriteError`, and
ffmpeg's own complaints about its output are recognised here (:func:`ffmpeg_output_fault`), so such
an error never reaches an input classifier (``ops.image.classify``, ``classify_ffmpeg_error``).

When the output takes no more (:func:`is_dead`: no space, quota, read-only, no permission, the
output folder gone), decoding more files would only fill the void: a worker ends its batch at
once (the file being written gets no row: the next run does it), and the engine stops the run
through its stop path, keeping every finished row, the manifest whole, and a ``summary.json`` that
says why (:class:`OutputFault`). Any other write error (a name too long, a file too large for the
file system) fails that one file as ``output-write-failed`` and the run goes on.

The manifest is appended with :func:`append_whole`, which cuts a line that a full disk took only
part of back off, and :func:`cut_torn_tail` mends the end of one left by a crash: every line whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Any, Callable, Iterator

from ._fs import TMP_SUFFIX, nearest_existing, path_text, printable, writing
from ._errors import OutputWriteError

__all__ = [
    "TYPE",
    "DEAD_ERRNOS",
    "is_dead",
    "mount_of",
    "fix_for",
    "file_message",
    "ffmpeg_output_fault",
    "OutputFault",
    "append_whole",
    "cut_torn_tail",
]

#: the manifest error type (and the summary's stop reason) of an output-side fault
TYPE = "output-write-failed"

#: errors after which the output takes no more writes from this build
DEAD_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM") if hasattr(errno, n))

AGAIN = "then run the same command again: files already done are skipped, the rest are done"


def is_dead(exc: OSError, output: str | os.PathLike) -> bool:
    """Whether after ``exc`` the output (folder ``output``) can take no more writes from this build."""
    return exc.errno in DEAD_ERRNOS or (exc.errno == errno.ENOENT and not os.path.isdir(output))


def mount_of(path: str | os.PathLike) -> str:
    """The mount point of the file system that holds ``path`` (or would, for a path not made yet):
    the longest mount point above its real path in the system's mount table, so a bind mount
    (which ``os.path.ismount`` does not see inside one file system) is named, not its parent."""
    p = os.path.realpath(nearest_existing(path))
    try:
        import psutil

        points = [m.mountpoint for m in psutil.disk_partitions(all=True)]
    except Exception:  # noqa: BLE001 - no mount table to read: walk up to what the OS calls a mount
        points = []
    inside = [m for m in points if p == m or p.startswith(m.rstrip("/") + "/")]
    if inside:
        return max(inside, key=len)
    while not os.path.ismount(p):
        p = os.path.dirname(p)
    return p


def fix_for(exc: OSError, output: str | os.PathLike) -> str:
    """What the user does about ``exc`` on the output (a clause, without the rerun advice)."""
    where = exc.filename or output
    code = exc.errno
    if code == errno.ENOSPC:
        return f"free space on {path_text(mount_of(where))} (or build into a folder on another disk)"
    if code == getattr(errno, "EDQUOT", None):
        return f"free space within your quota on {path_text(mount_of(where))}, or have the quota raised"
    if code == errno.EROFS:
        return f"{path_text(mount_of(where))} is read-only: make it writable again (remount it read-write)"
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"let this user write to {path_text(os.path.dirname(os.fspath(where)) or where)} "
            "(check the permissions and owner of the output folder)"
        )
    if code == errno.ENOENT and not os.path.isdir(output):
        return f"the output folder {path_text(output)} is gone (deleted or unmounted): bring it back"
    if code == errno.ENAMETOOLONG:
        return "the output name is too long for the file system: shorten the input's name or path"
    if code == errno.EFBIG:
        return "the output is too large for the file system: choose a smaller size or another disk"
    return "check the output disk"


def _reason(exc: OSError) -> str:
    return exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))


def file_message(exc: OSError, source: str | os.PathLike, output: str | os.PathLike) -> str:
    """The row message of one file whose output could not be written (the run goes on)."""
    return (
        f"the output of {path_text(source)} could not be written to {path_text(exc.filename or output)}: "
        f"{_reason(exc)}; {fix_for(exc, output)}, then run again to redo it"
    )


#: the OS's reason as ffmpeg prints it at the end of an error line -> its errno
_FFMPEG_REASONS = tuple(
    (text, getattr(errno, name))
    for text, name in (
        ("no space left on device", "ENOSPC"),
        ("disk quota exceeded", "EDQUOT"),
        ("read-only file system", "EROFS"),
        ("file too large", "EFBIG"),
        ("permission denied", "EACCES"),
    )
    if hasattr(errno, name)
)


def ffmpeg_output_fault(stderr: str, folder: str | os.PathLike, source: str | os.PathLike) -> OutputWriteError | None:
    """ffmpeg writes our video outputs itself (into ``folder``): its complaint about its *output* is
    an output-side fault, not a bad input. -> the error to raise, or None if it is about the input.

    Only an error line that *ends* with the OS's reason counts (``…: No space left on device``,
    ``… (No space left on device)``): a file name or a metadata tag that merely contains those
    words (a video titled "No space left on device", a file named "…read-only file system….mp4")
    is never taken for one; metadata lines are indented and are passed over. "Permission denied"
    and "File too large" are the output's only where the line is about the output (muxing into
    it, opening it, a temporary name of ours), not the input (``[in#0] Error opening input``).
    A full disk, a quota or a read-only file system stop the run; the others fail this file."""
    src = os.fsdecode(source).lower()
    for raw in stderr.splitlines():
        if not raw or raw[0].isspace():
            continue  # the stream and metadata listing of the input: tags can say anything
        line = raw.lower().rstrip(" .!)")
        for text, code in _FFMPEG_REASONS:
            if not line.endswith(text):
                continue
            if code in (errno.EACCES, errno.EFBIG) and (
                src in line or not ("output" in line or "muxer" in line or "[out#" in line or TMP_SUFFIX in line)
            ):
                continue
            return OutputWriteError(code, os.strerror(code), os.fspath(folder))
    return None


class OutputFault:
    """The first output-side fault of a run, and the stop reason it gives (``summary.json``,
    the report, the command's message)."""

    def __init__(self, output: str | os.PathLike):
        self.output = os.fspath(output)
        self.error: OutputWriteError | None = None
        self._reason: dict[str, Any] | None = None

    def note(self, exc: OutputWriteError) -> bool:
        """Remember ``exc`` if it is the run's first fault; -> whether it was."""
        if self.error is not None:
            return False
        self.error = exc
        self._reason = self._describe(exc)  # once: it reads the mount table, and every reader sees the same text
        return True

    @contextlib.contextmanager
    def caught(self, then: Callable[[OutputWriteError], None] | None = None) -> Iterator[None]:
        """An ``OutputWriteError`` inside is not raised further: ``then(exc)`` acts on it (the engine's
        stop, which notes it itself and, for the run's first fault, says so), or without ``then`` it
        is noted. Any other error goes on as it was."""
        try:
            yield
        except OutputWriteError as exc:
            if then is None:
                self.note(exc)
            else:
                then(exc)  # noting it first would make then() take the first fault for a later one

    @property
    def reason(self) -> dict[str, Any] | None:
        """``{type, message, path, errno}`` or None: the message names the path, the OS's reason and the fix."""
        return self._reason

    def _describe(self, exc: OutputWriteError) -> dict[str, Any]:
        path = exc.filename or self.output
        fix = fix_for(exc, self.output)
        return {
            "type": TYPE,
            "path": path_text(path),
            "errno": errno.errorcode.get(exc.errno or 0, str(exc.errno)),
            # printed by the CLI, the summary and the panel: a name's newline or bidi control escaped
            "message": printable(f"cannot write {path_text(path)}: {_reason(exc)}. {fix[0].upper()}{fix[1:]}, {AGAIN}."),
        }


def _write_some(fd: int, data: memoryview) -> int:
    """One ``write`` of :func:`append_whole` (tests replace it to fill the disk halfway through a line)."""
    return os.write(fd, data)


def append_whole(fd: int, data: bytes, path: str | os.PathLike) -> None:
    """Append ``data`` (whole lines) and fsync. A disk that fills up can take part of a write: on
    any error the file is cut back to where it ended before, so it never ends in half a line."""
    with writing(path):
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[_write_some(fd, view) :]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, end)
                os.fsync(fd)
            except OSError:
                pass
            raise


def cut_torn_tail(path: str | os.PathLike) -> None:
    """Cut a file of lines back to its last whole line (a write that failed, a crash), and fsync it."""
    try:
        with open(path, "r+b") as fh:
            size = fh.seek(0, os.SEEK_END)
            end = size
            while end > 0:
                start = max(0, end - 65536)
                fh.seek(start)
                chunk = fh.read(end - start)
                if end == size and chunk.endswith(b"\n"):
                    return  # whole already
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    end = start + nl + 1
                    break
                end = start
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        pass
