"""The Dask driver: submits batches, gathers them, and asks the controller what follows.

It decides nothing about batches (:mod:`toolkit._controller` does): it keeps at most
``in_flight_per_worker`` batches per worker submitted (backpressure, so a pause takes effect at
once), feeds the controller the latest memory sample on every turn, live settings and each batch's outcome (for a
batch that failed, what its journal says), and carries out the answers: submit, account rows,
emit events, make the run's markers again. At a stop it removes the ``go`` marker (running
batches end after their current file) and, after the grace period, the ``alive`` marker, keeping
what the abandoned batches' journals hold.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ._batch import process_batch
from ._controller import BatchController, Outcome, Ticket
from ._journal import arm, disarm, forget, journal_path, read_journal
from ._ledger import Ledger
from ._media import Batch
from ._outfault import OutputFault
from ._worker import JobSpec

__all__ = ["Controls", "Driver"]


@dataclass
class Controls:
    """What the Run's control surface hands the driver; changed from other threads."""

    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)  # a batch ended, a stop, a live change
    lock: threading.RLock = field(default_factory=threading.RLock)  # a sink may call set_batch_size from inside an event
    grace: float = 5.0
    batch_size: tuple[int | None] | None = None  # a live change not applied yet: (n,)
    max_memory: float = 80.0


@dataclass
class _Flight:
    ticket: Ticket
    future: Any
    started: float


class Driver:
    def __init__(
        self,
        client: Any,
        job: JobSpec,
        controller: BatchController,
        ledger: Ledger,
        controls: Controls,
        emit: Callable[..., Any],
        fault: OutputFault,
        on_fault: Callable[[Any], None],
        max_flight: int,
    ):
        self.client, self.job, self.controller, self.ledger = client, job, controller, ledger
        self.controls, self.emit, self.fault, self.on_fault = controls, emit, fault, on_fault
        self.max_flight = max(1, max_flight)
        self.batches = 0
        self._in_flight: dict[Any, _Flight] = {}
        self._stopping_since: float | None = None

    def run(self, monitor: Any) -> None:
        """Until every batch is accounted for, or a stop's grace period is over."""
        try:
            while self.controller.busy or self._in_flight:
                self._sync_stop()
                if self._stopping_since is not None and time.monotonic() - self._stopping_since > self.controls.grace:
                    self._abandon()
                    break
                self.controller.set_max_memory(self.controls.max_memory)
                mem = (monitor.latest.get("system") or {}).get("memory_percent")
                if mem is not None:  # the latest sample, looked at on every turn (a pause takes effect at once)
                    self._tell(self.controller.sample(mem))
                self._submit_what_fits()
                if not self._in_flight:
                    if self.controller.busy:  # paused
                        self._sleep(0.1)
                    continue
                finished = [k for k, f in self._in_flight.items() if f.future.status in ("finished", "error", "cancelled")]
                if not finished:
                    self._sleep(0.25)  # woken by a finishing future, stop() or a live change
                    continue
                for k in finished:
                    fl = self._in_flight.pop(k)
                    if not self._finish(fl):
                        self._in_flight[k] = fl  # its state moved on (a lost result being recomputed)
        except BaseException:
            self.client.cancel([f.future for f in self._in_flight.values()], force=True)
            raise
        finally:
            disarm(self.job.go_file, self.job.alive_file)  # whatever ended the run, batches still running end too

    def _sleep(self, seconds: float) -> None:
        self.controls.wake.wait(seconds)
        self.controls.wake.clear()

    def _tell(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        # the batch size in use is noted before its events go out, under the lock that Run.set_max_memory
        # holds to read it: its settings-changed event never tells a size these events replaced
        with self.controls.lock:
            self.ledger.progress["batch_size"] = self.controller.count
            for kind, fields in events:
                if kind == "throttle":
                    from ._progress import log

                    log.info(
                        "throttle %s: %s (memory %.1f%%, max %g%%, batch size %d, budget %d MiB)",
                        *(fields[k] for k in ("action", "reason", "memory_percent", "max_memory_percent", "batch_size")),
                        fields["budget_bytes"] // 2**20,
                    )
                self.emit(kind, **fields)

    def _sync_stop(self) -> None:
        if self.controls.stop.is_set() and self._stopping_since is None:
            self._stopping_since = time.monotonic()
            disarm(self.job.go_file)  # running batches end after their current file
            self._tell(self.controller.stop())

    def _abandon(self) -> None:
        """The grace period is over: what running batches make from now on is not taken."""
        disarm(self.job.alive_file)
        self.client.cancel([f.future for f in self._in_flight.values()], force=True)
        for fl in self._in_flight.values():  # keep what the running batches finished
            self.ledger.account(read_journal(journal_path(self.job, fl.ticket.batch.id)).rows)
            self.controller.abandon(fl.ticket)
        self._in_flight.clear()

    def _submit_what_fits(self) -> None:
        while len(self._in_flight) < self.max_flight:
            # a live change applies to the very next batch formed; under the lock its
            # settings-changed event and this batch-started come in the order they happened,
            # and that event has the max memory percent set last (Run.set_max_memory sets it under the lock)
            with self.controls.lock:
                if self.controls.batch_size is not None:
                    self.controller.set_batch_size(*self.controls.batch_size)
                    self.controls.batch_size = None
                self.controller.set_max_memory(self.controls.max_memory)
                ticket, events = self.controller.take()
                self._tell(events)
                if ticket is None:
                    return
                fut = self._submit(ticket.batch)
                fut.add_done_callback(lambda _f: self.controls.wake.set())
                self._in_flight[fut.key] = _Flight(ticket, fut, time.monotonic())
                self.batches += 1
                b = ticket.batch
                self.emit("batch-started", batch=b.id, files=len(b), est_bytes=b.est_bytes, oversized=b.oversized)

    def _submit(self, batch: Batch) -> Any:
        import dask.bag as db

        forget(self.job, batch.id)
        name = f"dataprep-{batch.id}-{time.monotonic_ns():x}"
        # the partition *is* the process_batch task (one task per batch). A bag of the items mapped
        # with map_partitions makes two tasks, and then Dask tells the client a batch finished only
        # when the worker's next batch finishes too: the engine refilled late and workers sat idle.
        part = db.Bag({(name, 0): (process_batch, list(batch.items), self.job, batch.id)}, name, 1)
        return self.client.compute(part.to_delayed()[0])

    def _finish(self, fl: _Flight) -> bool:
        """Account a batch that ended; False if its future is not in a final state after all."""
        fut, ticket = fl.future, fl.ticket
        if fut.status == "finished":
            outcome = fut.result()
            rows = outcome.rows()
            self.ledger.account(rows)
            if outcome.fault is not None:  # the output takes no more: the rest waits for the next run
                self.on_fault(outcome.fault)
            self._sync_stop()
            decision = self.controller.finished(ticket, Outcome("finished", done=len(rows)))
            if decision.rearm:  # markers that cannot be made stop the run: the output takes no more
                with self.fault.caught(self.on_fault):
                    arm(self.job)
                self._sync_stop()
            self._apply(decision)
            ok, failed = sum(r["status"] == "ok" for r in rows), sum(r["status"] == "failed" for r in rows)
            seconds = time.monotonic() - fl.started
            self.emit("batch-finished", batch=ticket.batch.id, files=len(rows), ok=ok, failed=failed, seconds=seconds)
            return True
        if fut.status == "cancelled":
            self._sync_stop()
            self._apply(self.controller.finished(ticket, Outcome("cancelled")))
            return True
        if fut.status != "error":  # the result was lost and is being recomputed: look again later
            return False
        exc = fut.exception()
        fut.release()
        j = read_journal(journal_path(self.job, ticket.batch.id))
        self.ledger.account(j.rows)
        self._sync_stop()
        kind = type(exc).__name__
        outcome = Outcome("error", len(j.rows), kind, str(exc), j.started, j.timed_out, j.began)
        self._apply(self.controller.finished(ticket, outcome))
        return True

    def _apply(self, decision: Any) -> None:
        self.ledger.account([r.to_row() for r in decision.fail])
        self._tell(decision.events)
