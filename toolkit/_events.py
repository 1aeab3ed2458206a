"""Events: what a build reports while it runs. Every front end (terminal, log, widget) renders these.

An :class:`Event` has a ``kind`` and a ``data`` dict. Kinds and their data:

``run-started``     files, bytes, batches, batch_size, budget_bytes, dashboard, output, cluster_seconds
``batch-started``   batch, files, est_bytes
``item``            row (a manifest row dict); left_out=True for rows decided by scan/probe (not progress)
``batch-finished``  batch, files, ok, failed, seconds
``batch-retried``   batch, reason, parts (a killed batch split in halves)
``resources``       system: {cpu_percent, memory_percent, disk_read_bps, disk_write_bps},
                    workers: {name: {rss, limit, cpu_percent}}
``throttle``        action (pause | shrink | resume | grow), memory_percent, max_memory_percent,
                    batch_size, budget_bytes, reason
``settings-changed`` batch_size, max_memory_percent (a live change from the API or a widget)
``warning``         message
``run-finished``    report (a RunReport)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Event", "EventBus"]


@dataclass(frozen=True)
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


Sink = Callable[[Event], None]


class EventBus:
    """Fan events out to sinks; a failing sink never breaks the build."""

    def __init__(self, sinks: list[Sink] | None = None, keep: int = 10_000):
        self._sinks: list[Sink] = list(sinks or [])
        self._lock = threading.Lock()
        self.history: list[Event] = []
        self._keep = keep

    def subscribe(self, sink: Sink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def emit(self, kind: str, **data: Any) -> Event:
        ev = Event(kind, data)
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
