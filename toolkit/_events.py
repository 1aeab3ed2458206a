"""Events: what a build reports while it runs. Every front end (terminal, log, widget) renders these.

The engine emits ``bus.emit("kind", **fields)``; the bus builds the kind's payload, a frozen
dataclass below, so a misspelt kind or field fails where it is emitted (``ValueError``,
``TypeError``) instead of showing as a blank in some view much later. A sink gets an
:class:`Event`: ``ev.kind``, ``ev.payload`` (the typed object) and ``ev.data`` (the same fields as a
dict, for sinks written before the payloads). Kinds and their fields (``=`` marks a default):

``run-started``      files, bytes, batches, batch_size, budget_bytes, memory_limit, workers,
                     dashboard=None, output="", cluster_seconds=0, carried=0, left_out=0
``batch-started``    batch, files, est_bytes, oversized=False
``item``             row (a manifest row dict), left_out=False (True: decided by scan/probe, not progress)
``batch-finished``   batch, files, ok, failed, seconds
``batch-retried``    batch, reason, parts (a killed batch split in halves)
``resources``        system: {cpu_percent, memory_percent, disk_read_bps, disk_write_bps},
                     workers: {name: {rss, limit, cpu_percent}}
``throttle``         action (pause | shrink | resume | grow), memory_percent, max_memory_percent,
                     batch_size, budget_bytes, reason
``settings-changed`` batch_size (the size batches are formed with from now on; None: none formed yet),
                     max_memory_percent (a live change from the API or a widget)
``stage``            name (curate | mirror | manifest_parquet | card | webdataset | imagefolder | parquet),
                     state (started | finished | stopped | failed), seconds=0.0 (since it started)
``warning``          message
``run-finished``     report (a RunReport)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar

__all__ = ["Event", "EventBus", "PAYLOADS"]


@dataclass(frozen=True)
class RunStarted:
    kind: ClassVar[str] = "run-started"
    files: int
    bytes: int
    batches: int
    batch_size: int
    budget_bytes: int
    memory_limit: int
    workers: int
    dashboard: str | None = None
    output: str = ""
    cluster_seconds: float = 0.0
    carried: int = 0  # files done by an earlier build and kept
    left_out: int = 0  # files decided before any batch (scan, probe): their item events come next


@dataclass(frozen=True)
class BatchStarted:
    kind: ClassVar[str] = "batch-started"
    batch: str
    files: int
    est_bytes: int
    oversized: bool = False  # one file over the budget, running alone


@dataclass(frozen=True)
class Item:
    kind: ClassVar[str] = "item"
    row: dict[str, Any]
    left_out: bool = False


@dataclass(frozen=True)
class BatchFinished:
    kind: ClassVar[str] = "batch-finished"
    batch: str
    files: int
    ok: int
    failed: int
    seconds: float


@dataclass(frozen=True)
class BatchRetried:
    kind: ClassVar[str] = "batch-retried"
    batch: str
    reason: str
    parts: int


@dataclass(frozen=True)
class Resources:
    kind: ClassVar[str] = "resources"
    system: dict[str, Any]
    workers: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Throttle:
    kind: ClassVar[str] = "throttle"
    action: str
    memory_percent: float
    max_memory_percent: float
    batch_size: int
    budget_bytes: int
    reason: str


@dataclass(frozen=True)
class SettingsChanged:
    kind: ClassVar[str] = "settings-changed"
    batch_size: int | None
    max_memory_percent: float


@dataclass(frozen=True)
class Stage:
    kind: ClassVar[str] = "stage"
    name: str  # a curator ("curate") or a sink's name, as summary.json's ``exports`` names it
    state: str  # started, finished, stopped (the run was asked to stop), failed
    seconds: float = 0.0


@dataclass(frozen=True)
class Warned:
    kind: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True)
class RunFinished:
    kind: ClassVar[str] = "run-finished"
    report: Any


#: kind -> its payload class
PAYLOADS: dict[str, type] = {
    c.kind: c
    for c in (
        RunStarted,
        BatchStarted,
        Item,
        BatchFinished,
        BatchRetried,
        Resources,
        Throttle,
        SettingsChanged,
        Stage,
        Warned,
        RunFinished,
    )
}


def payload(kind: str, **data: Any) -> Any:
    """The payload of ``kind`` from its fields: ``ValueError`` for an unknown kind, ``TypeError``
    for a missing or unknown field (the dataclass's own check)."""
    cls = PAYLOADS.get(kind)
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r}; known: {', '.join(PAYLOADS)}")
    return cls(**data)


@dataclass(frozen=True)
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
    payload: Any = None

    @classmethod
    def make(cls, kind: str, /, *, at: float | None = None, **data: Any) -> Event:
        """A checked event: its payload built from ``data``, and ``data`` with every field (defaults too)."""
        p = payload(kind, **data)
        full = {f.name: getattr(p, f.name) for f in fields(p)}
        return cls(kind, full, time.time() if at is None else at, p)


Sink = Callable[[Event], None]


class EventBus:
    """Fan events out to sinks; a failing sink never breaks the build (a wrong emit does: it is a bug)."""

    def __init__(self, sinks: list[Sink] | None = None, keep: int = 10_000):
        self._sinks: list[Sink] = list(sinks or [])
        self._lock = threading.Lock()
        self.history: list[Event] = []
        self._keep = keep

    def subscribe(self, sink: Sink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def emit(self, kind: str, /, **data: Any) -> Event:
        ev = Event.make(kind, **data)
        with self._lock:
            if kind != "item":
                self.history.append(ev)
                if len(self.history) > self._keep:
                    del self.history[: len(self.history) - self._keep]
            sinks = list(self._sinks)
        for sink in sinks:
            try:
                sink(ev)
            except Exception:  # noqa: BLE001 - a broken display must not stop the work
                pass
        return ev
