"""One video file's budget: its time limit, its memory cap, whether its outputs may still be put
in place, and the outputs it has placed. Every ffmpeg call of the ops runs through :meth:`_Deadline.run`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence


from ..._fs import Placed, path_text, write_bytes_atomic
from ..._outfault import ffmpeg_output_fault
from ..._media import Problem
from .. import FileProblem
from .. import ffmpeg
from .. import ffmpeg_diag as ffdiag
from ..ffmpeg import FFMPEG_BASELINE_BYTES, memory_in_use
from .probe import classify_ffmpeg_error

#: frames decoded at once per seek-based ffmpeg call (each input holds its own decoder); fewer
#: when a worker's memory cap leaves too little for that many decoders (``_Deadline.seek_chunk``)
SEEK_CHUNK = 8


class _Deadline:
    """One file's time limit; the memory this process and its ffmpeg calls may hold together
    (``memory_cap``, None: no cap); whether its outputs may still be put in place (``may_write``:
    false once its run is over, so a late file never replaces what a later build wrote); and the
    outputs it has put in place (``placed``), which a failure removes."""

    def __init__(
        self,
        timeout: float,
        may_write: Callable[[], bool] | None = None,
        placed: Placed | None = None,
        memory_cap: int | None = None,
        per_input: int = 0,
    ):
        self.end = time.monotonic() + timeout
        self.may_write = may_write
        self.placed = placed if placed is not None else Placed()  # every output as it lands, by name under its root
        self.memory_cap = memory_cap
        self.per_input = per_input  # estimated bytes of one input's decoder (seeking opens one per time)
        self.diag: ffdiag.Diag | None = None  # what the last ffmpeg run said (ffmpeg_diag)
        self.damage: dict[str, Problem] = {}  # the file's damage warnings, one per type (ffmpeg_diag.merge)

    def room(self) -> int | None:
        """Bytes an ffmpeg may still take beyond its baseline under the memory cap (None: no cap)."""
        return None if self.memory_cap is None else self.memory_cap - memory_in_use() - FFMPEG_BASELINE_BYTES

    def seek_chunk(self) -> int:
        """Times to seek to in one ffmpeg call: ``SEEK_CHUNK``, fewer when the decoders of that
        many inputs would not fit in what the memory cap leaves now (at least 1)."""
        room = self.room()  # None: no cap
        if room is None or self.per_input <= 0:
            return SEEK_CHUNK
        return max(1, min(SEEK_CHUNK, room // self.per_input))

    @property
    def said(self) -> ffdiag.Diag:
        """What the last ffmpeg run said (read only after a run, which always sets it)."""
        if self.diag is None:
            raise RuntimeError("no ffmpeg run yet")
        return self.diag

    def left(self) -> float:
        return self.end - time.monotonic()

    def run(
        self, args: Sequence[str | bytes], *, path: str, cwd: str | None = None, capture: bool = False
    ) -> tuple[int, bytes, str]:
        """:func:`_run` within this file's time left and memory cap. ffmpeg's messages are read
        (``self.diag``; what the demuxer and decoder reported goes to ``self.damage``) and the
        stderr handed back is the text at info level, as without :data:`ffmpeg_diag.LOG_ARGS`.
        A failed run raises: ``limit-exceeded`` for want of memory or for frames too large, an
        ``OutputWriteError`` when ffmpeg could not write its output in ``cwd``, else the input's
        problem (:func:`classify_ffmpeg_error`)."""
        rc, out, err = ffmpeg._run(
            [*ffdiag.LOG_ARGS, *args], timeout=self.left(), path=path, cwd=cwd, capture=capture, memory_cap=self.memory_cap
        )
        self.diag = ffdiag.parse(err)
        if rc != 0:
            raise (
                ffdiag.failed_run(path, self.diag)
                or (ffmpeg_output_fault(self.diag.text, cwd, path) if cwd is not None else None)
                or classify_ffmpeg_error(self.diag.text, path)
            )
        ffdiag.merge(self.damage, ffdiag.seek_damage(path, self.diag))
        return rc, out, self.diag.text

    def before_write(self, path: str) -> None:
        """Raise ``stopped`` if the run is over: checked just before each output is put in place."""
        if self.may_write is not None and not self.may_write():
            raise FileProblem("stopped", f"the run ended before {path_text(path)} was done; the next run does it")

    def put(self, path: str, rel: str, data: bytes) -> None:
        """Write output ``rel`` (under ``placed.root``) of video ``path`` atomically, if the run goes on."""
        self.before_write(path)
        write_bytes_atomic(Path(self.placed.root, rel), data, root=self.placed.root)
        self.placed.add(rel)
