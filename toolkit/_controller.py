"""The batch controller: every decision about batches, and nothing else.

Pure: no Dask, no threads, no clock, no files. The driver (:mod:`toolkit._driver`) feeds it memory
samples and what became of each batch, and asks it for the next batch; it answers with batches,
results for the files it gives up on, and events to emit. So its rules are tested without a
cluster (``tests/test_controller.py``, with Hypothesis). What it decides:

- **Size**: the planned count and byte budget (:func:`toolkit._planning.prepare`); a size the user
  chose is kept to the end, automatic batches shrink near the end (:func:`tail_count`).
- **Live override** (``Run.set_batch_size``): used for the very next batch formed (after the
  shrink that ends a pause, so that batch has the size asked); ``None`` is worked out again for
  what is left, and the ``settings-changed`` event, emitted as that batch is formed, says the value used.
- **Memory throttle**: at ``max_memory_percent`` no batch is submitted; once the running ones have
  finished, count and budget halve (not below 1 file and 16 MiB) and submitting resumes; after
  ``GROW_AFTER_CALM_SAMPLES`` samples 10 points under the line they double back toward the plan.
- **Retry and isolation** after a batch ended badly: the rows its journal holds are kept (by the
  driver); the file that was running goes alone and the rest goes on, or, with no journal to go
  by, the batch splits in halves. A file that killed its worker alone is tried alone once more,
  then failed ``worker-killed``; a file the watchdog ended is failed ``timeout``. A batch that
  never started (queued on a worker that died) or that ended early because the run's marker
  vanished is run again as it was, up to ``MAX_REQUEUES`` times.
- **Stop**: nothing more is submitted; what was waiting gets no row (the next run does it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from ._fs import path_text
from ._media import Batch, ItemResult, MediaItem, problem_row
from ._planning import auto_batch_size, batch_estimate, batch_id, next_batch, tail_count

__all__ = ["BatchController", "Ticket", "Outcome", "Decision", "GROW_AFTER_CALM_SAMPLES", "MIN_BUDGET", "MAX_REQUEUES"]

GROW_AFTER_CALM_SAMPLES = 8  # looks at the latest sample (the driver looks every turn, at least every 0.25 s)
MIN_BUDGET = 16 * 2**20
MAX_REQUEUES = 5
#: exception kinds that mean the worker process died (rather than a bug in our code)
_DEATHS = ("KilledWorker", "CommClosedError", "StreamClosedError", "FutureCancelledError")

EventSpec = tuple[str, dict[str, Any]]
#: the row message of a file whose batch kept ending early because the run's marker vanished
_VANISHED = "was not processed: the run's marker in {folder} kept disappearing; is another build writing to this output?"


@dataclass(frozen=True)
class Ticket:
    """A batch handed to the driver to submit."""

    batch: Batch
    alone: bool = False  # a file that killed its worker, tried alone once more
    requeues: int = 0  # times run again as it was (queued on a lost worker, or its marker vanished)


@dataclass(frozen=True)
class Outcome:
    """What became of a submitted batch. ``done``: how many of its items have a row (returned,
    or read from its journal after an error); the rest is the journal's word on what happened."""

    status: Literal["finished", "cancelled", "error"]
    done: int = 0
    error: str = ""  # the exception's class name
    detail: str = ""  # its message
    started: int | None = None  # index of the file running when the worker died
    timed_out: int | None = None  # index of the file the watchdog ended
    began: bool = True  # whether the batch started any file at all


@dataclass
class Decision:
    """The controller's answer: results for files given up on, events, and whether the run's
    markers must be made again before anything more is submitted."""

    fail: list[ItemResult] = field(default_factory=list)
    events: list[EventSpec] = field(default_factory=list)
    rearm: bool = False


class BatchController:
    """Forms batches from ``items`` and decides what follows every outcome (see the module)."""

    def __init__(
        self,
        items: Sequence[MediaItem],
        *,
        count: int,
        budget: int,
        fixed: bool,
        workers: int,
        memory_limit: int,
        max_memory_percent: float,
        batch_mode: bool = True,
        timeout: float = 300.0,
        settings: str = "",
        journal_dir: str = "",
    ):
        self.queue: deque[MediaItem] = deque(items)
        self.ready: deque[Ticket] = deque()  # batches to run again, before any new one
        self.planned_count = self.count = count
        self.planned_budget = self.budget = budget
        self.fixed = fixed  # a size the user chose is kept to the end (no tail shrinking)
        self.workers = max(1, workers)
        self.memory_limit, self.max_memory, self.timeout = memory_limit, max_memory_percent, timeout
        self.batch_mode, self.settings, self.journal_dir = batch_mode, settings, journal_dir  # (named in messages)
        self.in_flight, self._calm = 0, 0
        self.paused = self.stopping = False
        self._mem: float | None = None
        self._asked: tuple[int | None] | None = None  # a live batch size not used yet: (n,)

    @property
    def pending(self) -> bool:
        """Whether anything waits to be submitted."""
        return bool(self.queue or self.ready)

    @property
    def busy(self) -> bool:
        """Whether the run has anything left: waiting or running."""
        return self.pending or self.in_flight > 0

    # ---- live settings
    def set_batch_size(self, n: int | None) -> None:
        """A live change: ``n`` files a batch, or automatic (``None``), from the next batch formed on."""
        self._asked = (n,)

    def _use_asked(self) -> EventSpec:
        """The live change, as the next batch is formed: ``None`` is worked out for what is left.
        The byte budget stays as throttling left it."""
        (n,) = self._asked or (None,)
        self._asked = None
        if n is not None:
            self.planned_count = n
        elif self.batch_mode:
            self.planned_count = auto_batch_size(len(self.queue), self.workers, total_bytes=sum(i.size for i in self.queue))
        else:
            self.planned_count = 1
        self.count = self.planned_count
        self.fixed = n is not None or not self.batch_mode
        return ("settings-changed", {"batch_size": self.count, "max_memory_percent": self.max_memory})

    def set_max_memory(self, percent: float) -> None:
        self.max_memory = float(percent)

    # ---- memory
    def sample(self, memory_percent: float) -> list[EventSpec]:
        """A new system memory sample: pause at the line, grow back after a calm spell."""
        mem = self._mem = memory_percent
        if self.stopping:
            return []
        if not self.paused and mem >= self.max_memory and self.pending:
            self.paused, self._calm = True, 0
            return [self._throttle("pause", f"system memory {mem:.0f}% >= max {self.max_memory:.0f}%")]
        if (
            not self.paused
            and mem < self.max_memory - 10
            and (self.count < self.planned_count or self.budget < self.planned_budget)
        ):
            self._calm += 1
            if self._calm >= GROW_AFTER_CALM_SAMPLES:
                self._calm = 0
                self.count = min(self.planned_count, self.count * 2)
                self.budget = min(self.planned_budget, self.budget * 2)
                return [self._throttle("grow", f"memory calm below {self.max_memory - 10:.0f}%")]
            return []
        self._calm = 0
        return []

    def _throttle(self, action: str, reason: str) -> EventSpec:
        memory = {"memory_percent": round(self._mem or 0.0, 1), "max_memory_percent": self.max_memory}
        return ("throttle", {"action": action, **memory, "batch_size": self.count, "budget_bytes": self.budget, "reason": reason})

    # ---- submitting
    def take(self) -> tuple[Ticket | None, list[EventSpec]]:
        """The next batch to submit (None: nothing to submit now), and events to emit first."""
        events: list[EventSpec] = []
        if self.paused and self.in_flight == 0 and not self.stopping:
            self.count = max(1, self.count // 2)
            self.budget = max(MIN_BUDGET, self.budget // 2)
            events.append(self._throttle("shrink", "running batches finished; smaller batches from now on"))
            self.paused = False
            events.append(self._throttle("resume", "submitting again"))
        if self.paused or self.stopping or not self.pending:
            return None, events
        if self._asked is not None:  # after the shrink above: this batch has the size asked
            events.append(self._use_asked())
        if self.ready:
            ticket = self.ready.popleft()
        else:
            size = self.count if self.fixed else tail_count(self.count, len(self.queue), self.workers)
            ticket = Ticket(next_batch(self.queue, budget=self.budget, count=size))  # type: ignore[arg-type]
        self.in_flight += 1
        return ticket, events

    def stop(self) -> list[EventSpec]:
        """Nothing more is submitted; running batches end after their current file."""
        if self.stopping:
            return []
        self.stopping = True
        self.queue.clear()
        self.ready.clear()
        return [("warning", {"message": "stopping: pending batches cancelled; running ones end after their current file"})]

    def abandon(self, ticket: Ticket) -> None:
        """A running batch given up on after a stop's grace period (its journal's rows are kept)."""
        self.in_flight -= 1

    # ---- outcomes
    def finished(self, ticket: Ticket, outcome: Outcome) -> Decision:
        """What follows a batch that ended (see the module for the rules)."""
        self.in_flight -= 1
        batch = ticket.batch
        rest = list(batch.items[outcome.done :])
        if outcome.status == "cancelled":  # lost without our asking (scheduler restart): run it again
            self._again(Ticket(batch, ticket.alone, ticket.requeues))
            return Decision()
        if outcome.status == "finished":
            if not rest or self.stopping:
                return Decision()
            # it ended early without a stop: this run's marker went missing (another build started
            # on the same output?). Put it back and run the rest, a few times at most.
            if ticket.requeues < MAX_REQUEUES:
                self._again(Ticket(_rebatch(rest, batch), ticket.alone, ticket.requeues + 1))
                return Decision(rearm=True)
            why = _VANISHED.format(folder=path_text(self.journal_dir))
            return Decision(
                fail=[_fail(it, batch, self.settings, "worker-killed", f"{path_text(it.path)} {why}") for it in rest], rearm=True
            )
        return self._failed(ticket, outcome, rest)

    def _failed(self, ticket: Ticket, outcome: Outcome, items: list[MediaItem]) -> Decision:
        batch, kind = ticket.batch, outcome.error
        if outcome.timed_out is not None:
            it = batch.items[outcome.timed_out]
            msg = (
                f"{path_text(it.path)} took longer than the {self.timeout:g} s limit per file; "
                "its worker was restarted (raise `timeout` if it is genuinely slow)"
            )
            after = list(batch.items[outcome.timed_out + 1 :])
            if after:
                self._again(Ticket(_rebatch(after, batch)))
            event = ("batch-retried", {"batch": batch.id, "reason": "timeout", "parts": 1 if after else 0})
            return Decision(fail=[_fail(it, batch, self.settings, "timeout", msg)], events=[event])
        if not items:
            return Decision()
        if not outcome.began and ticket.requeues < MAX_REQUEUES:
            # queued on a worker that died, never started: not its fault; run it again as it was
            self._again(Ticket(_rebatch(items, batch), ticket.alone, ticket.requeues + 1))
            return Decision(events=[_retried(batch, f"{kind} (queued on a lost worker)", 1)])
        died = kind in _DEATHS or "Killed" in kind
        if len(items) == 1:
            it = items[0]
            if died and not ticket.alone:  # once more alone: a worker can die for reasons of its own
                self._again(Ticket(_rebatch(items, batch), alone=True))
                return Decision(events=[_retried(batch, kind, 1)])
            if died:
                msg = (
                    f"{path_text(it.path)} killed its worker (memory limit {self.memory_limit / 2**20:.0f} MiB per "
                    "worker); it needs more memory than a worker has: raise `memory_limit` or use fewer `jobs`"
                )
                return Decision(fail=[_fail(it, batch, self.settings, "worker-killed", msg)])
            return Decision(
                fail=[_fail(it, batch, self.settings, "internal-error", f"{path_text(it.path)}: {kind}: {outcome.detail}")]
            )
        if outcome.started is not None:  # the journal names the file that was running: it goes alone, the rest go on
            parts = [Ticket(_rebatch([batch.items[outcome.started]], batch), alone=True)]
            after = list(batch.items[outcome.started + 1 :])
            if after:
                parts.append(Ticket(_rebatch(after, batch)))
        else:  # no journal to go by: split in halves
            mid = len(items) // 2
            parts = [Ticket(_rebatch(items[:mid], batch)), Ticket(_rebatch(items[mid:], batch))]
        for p in reversed(parts):
            self._again(p)
        return Decision(events=[_retried(batch, kind, len(parts))])

    def _again(self, ticket: Ticket) -> None:
        if not self.stopping:  # after a stop, what did not run gets no row: the next run does it
            self.ready.appendleft(ticket)


def _retried(batch: Batch, reason: str, parts: int) -> EventSpec:
    return ("batch-retried", {"batch": batch.id, "reason": reason, "parts": parts})


def _rebatch(items: list[MediaItem], parent: Batch) -> Batch:
    est = batch_estimate(items)
    return Batch(id=batch_id(items), items=tuple(items), est_bytes=est, oversized=parent.oversized and len(items) == 1)


def _fail(it: MediaItem, batch: Batch, settings: str, code: str, message: str) -> ItemResult:
    w, h = (it.info.width, it.info.height) if it.info else (None, None)
    fields: dict[str, Any] = {"mtime_ns": it.mtime_ns, "batch": batch.id, "settings": settings, "width": w, "height": h}
    return problem_row(it.root, it.rel, "failed", code, message, size=it.size, **fields)
