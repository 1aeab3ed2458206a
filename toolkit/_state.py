"""One progress state for every view: the events of a build folded into what a view draws.

The terminal bar and the notebook panel show the same numbers (files and bytes done, the ETA, the
batch size in use, failures, throttling, the workers' memory, warnings) because both fold the same
events here and only draw the result, as Dask's progress bars keep their state apart from their
drawing. The fold reads nothing but the events (their fields and times): no polling of the run,
no clock, no I/O, so a sequence of events always gives the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._events import (
    BatchFinished,
    BatchRetried,
    BatchStarted,
    Event,
    Item,
    Resources,
    RunFinished,
    RunStarted,
    SettingsChanged,
    Throttle,
    Stage,
    Warned,
)

__all__ = ["ProgressState", "Failure"]


@dataclass(frozen=True)
class Failure:
    source: str
    type: str
    message: str


@dataclass
class ProgressState:
    """What a build has done so far; :meth:`apply` folds one event in.

    ``files_total``/``bytes_total`` count the files this build processes (not those an earlier
    build did, ``carried``, nor those decided before any batch, ``left_out``); ``files_done`` and
    ``bytes_done`` count their item events. ``failures`` lists every failed file, left-out ones
    included. ``batch_size`` is the size the run forms batches with, as its events tell it
    (planned, then each throttle or live change); ``last_batch_files`` what the last batch held.
    """

    max_memory_percent: float = 80.0
    started: bool = False
    finished: bool = False
    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    carried: int = 0
    left_out: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # status -> files, this build's rows only
    failures: list[Failure] = field(default_factory=list)
    batch_size: int | None = None
    budget_bytes: int | None = None
    last_batch_files: int | None = None
    batches_planned: int = 0
    batches_started: int = 0
    batches_finished: int = 0
    retries: int = 0
    workers: int = 0
    memory_limit: int | None = None
    dashboard: str | None = None
    throttle: str | None = None  # the last throttle action: pause, shrink, resume or grow
    paused: bool = False
    system: dict[str, Any] = field(default_factory=dict)  # the last resources sample
    worker_resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    report: Any = None
    started_at: float | None = None  # the run-started event's time
    last_item_at: float | None = None
    stage: str | None = None  # the curate or export stage running now (after the batches)
    stages: list[tuple[str, str, float]] = field(default_factory=list)  # (name, state, seconds) of each that ended

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def fraction(self) -> float:
        """Files done over files to do: 0 to 1 (1 for a finished build with nothing to do)."""
        if self.files_total:
            return min(1.0, self.files_done / self.files_total)
        return 1.0 if self.finished else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Time left at the byte rate so far (bytes, not files: a folder mixes thumbnails and videos)."""
        if self.finished or self.files_done >= self.files_total or self.started_at is None or self.last_item_at is None:
            return None  # nothing left, or no rate yet
        spent = self.last_item_at - self.started_at
        if spent <= 0 or self.bytes_done <= 0:
            return None
        return (self.bytes_total - self.bytes_done) / (self.bytes_done / spent)

    def apply(self, ev: Event) -> ProgressState:
        """Fold ``ev`` in (returns this state, so ``state.apply(a).apply(b)`` reads as a fold)."""
        p = ev.payload
        if isinstance(p, Item):
            row = p.row
            status = str(row.get("status", "?"))
            if status == "failed":
                err = row.get("error") or {}
                self.failures.append(Failure(str(row.get("source", "?")), str(err.get("type", "?")), str(err.get("message", ""))))
            if not p.left_out:
                self.counts[status] = self.counts.get(status, 0) + 1
                self.files_done += 1
                self.bytes_done += int(row.get("bytes_in") or 0)
                self.last_item_at = ev.time
        elif isinstance(p, BatchStarted):
            self.batches_started += 1
            self.last_batch_files = p.files
        elif isinstance(p, BatchFinished):
            self.batches_finished += 1
        elif isinstance(p, Resources):
            self.system, self.worker_resources = dict(p.system), dict(p.workers)
        elif isinstance(p, Throttle):
            self.throttle, self.paused = p.action, p.action == "pause"
            self.batch_size, self.budget_bytes, self.max_memory_percent = p.batch_size, p.budget_bytes, p.max_memory_percent
        elif isinstance(p, SettingsChanged):
            self.max_memory_percent = p.max_memory_percent
            if p.batch_size is not None:  # None: max memory moved before any batch size was told
                self.batch_size = p.batch_size
        elif isinstance(p, BatchRetried):
            self.retries += 1
        elif isinstance(p, Stage):
            self.stage = p.name if p.state == "started" else None
            if p.state != "started":
                self.stages.append((p.name, p.state, p.seconds))
        elif isinstance(p, Warned):
            self.warnings.append(p.message)
        elif isinstance(p, RunStarted):
            self._start(p, ev.time)
        elif isinstance(p, RunFinished):
            self.finished, self.report, self.paused = True, p.report, False
        return self

    def _start(self, p: RunStarted, at: float) -> None:
        self.started, self.started_at = True, at
        self.files_total, self.bytes_total, self.batches_planned = p.files, p.bytes, p.batches
        self.batch_size, self.budget_bytes = p.batch_size, p.budget_bytes
        self.workers, self.memory_limit, self.dashboard = p.workers, p.memory_limit, p.dashboard
        self.carried, self.left_out = p.carried, p.left_out
