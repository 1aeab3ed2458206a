"""The run's ledger: every row that reaches the manifest passes here once, and is counted.

``account(rows)`` appends them to the manifest (an output that takes no more stops the run; the
rows then stay in their journals for the next run), tallies them for the report, emits an ``item``
event each, and moves the progress on (files, bytes, failures, an ETA from the bytes rate).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable, Iterable

from ._manifest import Manifest
from ._outfault import OutputFault
from ._runreport import RunReport, ok_warning_types

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
        self.counts: Counter = Counter()
        self.errors: Counter = Counter()
        self.warned: Counter = Counter()  # warning types on files that finished ok (kept, but not quite whole)
        self.failures: list[tuple[str, str, str]] = []
        self.bytes_in = self.bytes_out = 0
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
        for r in rows:
            self.counts[r["status"]] += 1
            self.bytes_in += r.get("bytes_in") or 0
            self.bytes_out += r.get("bytes_out") or 0
            self.warned.update(ok_warning_types(r))
            if r["status"] == "failed":
                self.errors[r["error"]["type"]] += 1
                if len(self.failures) < MAX_FAILURES_KEPT:
                    self.failures.append((r["source"], r["error"]["type"], r["error"]["message"]))

    def account(self, rows: list[dict]) -> None:
        """Rows the batches made: into the manifest, counted, told, and progress moved on."""
        if not rows:
            return
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
            files_done=self.done_files, bytes_done=self.done_bytes, eta_seconds=eta, failed=self.counts["failed"]
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
        return RunReport(
            output=str(self.manifest.output),
            manifest=str(self.manifest.path),
            counts=dict(self.counts),
            errors=dict(self.errors),
            warnings=dict(self.warned),
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            seconds=seconds,
            cluster_seconds=cluster_seconds,
            batches=batches,
            worker_restarts=restarts,
            files_per_second=self.done_files / max(1e-6, seconds),
            failures=tuple(self.failures),
            stopped=stopped,
            peaks=peaks,
            stop_reason=stop_reason,
        )
