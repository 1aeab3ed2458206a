"""The run's ledger: every row that reaches the manifest passes here once, and is counted.

``account(rows)`` appends them to the manifest (an output that takes no more stops the run; the
rows then stay in their journals for the next run), tallies them for the report, emits an ``item``
event each, and moves the progress on (files, bytes, failures, an ETA from the bytes rate).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from ._manifest import Manifest
from ._outfault import OutputFault
from ._runreport import RunReport, Tally
from ._unseen import settle_rows

__all__ = ["Ledger", "new_progress", "MAX_FAILURES_KEPT"]

MAX_FAILURES_KEPT = 50  # in the report; the manifest has them all


def new_progress() -> dict[str, Any]:
    """``Run.progress`` before the batches start."""
    return {
        "files_done": 0,
        "files_total": 0,
        "bytes_done": 0,
        "bytes_total": 0,
        "batch_size": 0,
        "eta_seconds": None,
        "failed": 0,
    }


class Ledger:
    def __init__(
        self,
        manifest: Manifest,
        fault: OutputFault,
        on_fault: Callable[[Any], None],
        emit: Callable[..., Any],
        progress: dict[str, Any] | None = None,
    ):
        self.manifest = manifest
        self._fault, self._on_fault, self._emit = fault, on_fault, emit
        self.counted = Tally(MAX_FAILURES_KEPT)  # every row: carried, left out, and the batches'
        self.done_files = self.done_bytes = 0
        self.total_bytes = 0
        self.progress = progress if progress is not None else new_progress()  # the Run's, read by Run.progress
        self._t_work = time.perf_counter()

    def begin(self, files: int, total_bytes: int, batch_size: int) -> None:
        """The batches are about to start: the progress counts from here."""
        self.total_bytes = total_bytes
        self.progress.update(files_total=files, bytes_total=total_bytes, batch_size=batch_size)
        self._t_work = time.perf_counter()

    def tally(self, rows: Iterable[dict]) -> None:
        """Count rows for the report (rows decided before any batch: carried over, left out)."""
        self.counted.add(rows)

    def account(self, rows: list[dict]) -> None:
        """Rows the batches made: into the manifest, counted, told, and progress moved on."""
        if not rows:
            return
        settle_rows(rows)  # a not-on-worker row for a file the client does not see either: not-found
        with self._fault.caught(self._on_fault):  # if not, the rows stay in their journals for the next run
            self.manifest.append(rows)
        self.tally(rows)
        for r in rows:
            self._emit("item", row=r)
        self.done_files += len(rows)
        self.done_bytes += sum(r.get("bytes_in") or 0 for r in rows)
        rate = self.done_bytes / max(1e-6, time.perf_counter() - self._t_work)
        eta = (self.total_bytes - self.done_bytes) / rate if rate > 0 else None
        self.progress.update(
            files_done=self.done_files, bytes_done=self.done_bytes, eta_seconds=eta, failed=self.counted.counts["failed"]
        )

    def report(
        self,
        seconds: float,
        cluster_seconds: float,
        batches: int,
        restarts: int,
        peaks: dict[str, Any],
        stopped: bool,
        stop_reason: dict[str, Any] | None,
    ) -> RunReport:
        t = self.counted
        return RunReport(
            output=str(self.manifest.output),
            manifest=str(self.manifest.path),
            counts=dict(t.counts),
            errors=dict(t.errors),
            warnings=dict(t.warned),
            bytes_in=t.bytes_in,
            bytes_out=t.bytes_out,
            seconds=seconds,
            cluster_seconds=cluster_seconds,
            batches=batches,
            worker_restarts=restarts,
            files_per_second=self.done_files / max(1e-6, seconds),
            failures=tuple(t.failures),
            stopped=stopped,
            peaks=peaks,
            stop_reason=stop_reason,
        )
