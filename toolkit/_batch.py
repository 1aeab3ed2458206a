"""Runs on the workers: ``process_batch(items, job) -> BatchOutcome``. Never raises for one bad file.

Each item's outcome is an :class:`~toolkit._media.ItemResult`. As it goes, the batch appends to
its journal (:mod:`toolkit._journal`): which item started, each finished row. If the worker
process dies (memory limit, segfault, kill), the engine reads the journal to keep the finished
rows and to know which file was running. A watchdog thread enforces the per-file time limit: it
records ``timeout`` for the hung file in the journal, then ends the worker process (the nanny
starts a fresh one), because a hung C call cannot be interrupted from Python.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Sequence

from ._errors import OutputWriteError
from ._journal import Journal
from ._media import ItemResult, MediaItem
from ._worker import JobSpec, process_item

__all__ = ["BatchOutcome", "process_batch", "release_memory"]


class _Watchdog(threading.Thread):
    """Ends this worker process when one file runs past the time limit (after journalling it)."""

    def __init__(self, timeout: float, on_timeout: Callable[[int, float], None]):
        super().__init__(daemon=True, name="dataprep-watchdog")
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.current: tuple[int, float] | None = None
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(min(1.0, self.timeout / 4)):
            cur = self.current
            if cur is not None and time.monotonic() - cur[1] > self.timeout:
                self.on_timeout(cur[0], time.monotonic() - cur[1])
                os._exit(86)  # the nanny restarts the worker; the engine reads the journal

    def stop(self) -> None:
        self._done.set()


@dataclass
class BatchOutcome:
    """What one batch did: a result per item it finished, in order (fewer than its items when it
    ended early), and ``fault``, the :class:`OutputWriteError` that ended it early (the output
    takes no more, or its journal cannot be kept), else None."""

    results: list[ItemResult] = field(default_factory=list)
    fault: OutputWriteError | None = None

    def __len__(self) -> int:
        return len(self.results)

    def rows(self) -> list[dict[str, Any]]:
        """The results as manifest rows (the manifest's, the journal's and the events' form)."""
        return [r.to_row() for r in self.results]


def process_batch(items: Sequence[MediaItem], job: JobSpec, batch_id: str = "") -> BatchOutcome:
    """Process every item of a batch; return one result per item, in order.

    Once the run is stopped (``job.go_file`` gone) the batch ends after the file it is on and
    returns the results it has: fewer than its items. Once the run is over (``job.alive_file``
    gone) not even the current file's outputs are put in place. Once the output takes no more (disk
    full, read-only, ...: see :mod:`toolkit._outfault`) the batch ends at once, without decoding
    another file; the file being written gets no result, and ``outcome.fault`` says what happened.
    """
    journal = Journal(job, batch_id)
    dog = _Watchdog(job.timeout, journal.timed_out)
    dog.start()
    outcome = BatchOutcome()
    try:
        journal.open()
        for i, item in enumerate(items):
            if not job.go():  # stopped, or the run is over: hand back what is done
                break
            journal.started(i)
            dog.current = (i, time.monotonic())
            try:
                result = process_item(item, job, batch_id)
            finally:
                dog.current = None
            if result.error is not None and result.error.type == "stopped":
                break  # made after its run was over: no output was put in place, and no row either
            outcome.results.append(result)  # before its journal line: a result whose line cannot be written still counts
            journal.finished(i, result.to_row())
    except OutputWriteError as exc:  # the output takes no more: no file more is decoded in vain
        outcome.fault = exc
    finally:
        dog.stop()
        journal.close()
        release_memory()
    return outcome


def release_memory() -> None:
    """Hand the memory this process freed back to the system (glibc's ``malloc_trim``); called after
    every batch. Within a batch, freed buffers are reused by the next file without page faults
    (Dask's per-``free`` trimming is left out on our cluster for that); between batches, what the
    batch used is returned, so a worker's memory between batches is what it holds. Our workers
    run with one malloc arena (``cluster.ARENAS``): the trim shrinks only the main arena's top, and
    a batch runs in a Dask thread. Nothing happens where there is no glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl and others: nothing to call
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn
