"""The progress state folds events into what every view draws: a pure fold, checked on generated builds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from toolkit._events import Event
from toolkit._state import Failure, ProgressState


def ev(kind, at=0.0, **data):
    return Event.make(kind, at=at, **data)


def started(files=4, nbytes=400, at=100.0, **extra):
    fields = dict(files=files, bytes=nbytes, batches=2, batch_size=2, budget_bytes=2**20, memory_limit=2**30, workers=2)
    return ev("run-started", at, **{**fields, **extra})


def row(status="ok", nbytes=100, source="a.jpg", error=None):
    r = {"source": source, "status": status, "bytes_in": nbytes}
    if error:
        r["error"] = {"type": error, "message": f"{source}: {error}"}
    return r


rows = st.lists(
    st.tuples(st.sampled_from(["ok", "failed", "skipped"]), st.integers(0, 10_000), st.booleans()),
    max_size=40,
)


@given(rows)
def test_files_bytes_and_failures_follow_the_items(items):
    todo = [(s, b) for s, b, left in items if not left]
    state = ProgressState().apply(started(files=len(todo), nbytes=sum(b for _, b in todo)))
    for i, (status, nbytes, left) in enumerate(items):
        error = "decode-error" if status == "failed" else None
        state.apply(ev("item", 101.0 + i, row=row(status, nbytes, f"f{i}.jpg", error), left_out=left))
    assert state.files_done == len(todo) and state.bytes_done == sum(b for _, b in todo)
    assert [f.source for f in state.failures] == [f"f{i}.jpg" for i, (s, _, _) in enumerate(items) if s == "failed"]
    assert state.failed == sum(s == "failed" for s, _, _ in items)  # left-out failures are listed too
    assert sum(state.counts.values()) == len(todo)
    assert state.fraction == (1.0 if todo else 0.0)  # 0 until a build with nothing to do finishes
    assert state.eta_seconds is None  # everything is done: no time left to guess


def test_eta_is_the_bytes_left_at_the_rate_so_far():
    state = ProgressState().apply(started(files=4, nbytes=400, at=100.0))
    assert state.eta_seconds is None  # no rate yet
    state.apply(ev("item", 102.0, row=row(nbytes=100)))
    assert state.eta_seconds == 6.0  # 100 bytes in 2 s, 300 left
    assert state.fraction == 0.25
    state.apply(ev("item", 104.0, row=row(nbytes=300)))
    assert state.eta_seconds == 0.0  # every byte in, two files to go


def test_batch_size_comes_from_the_events_that_set_it():
    state = ProgressState().apply(started(batch_size=8))
    assert state.batch_size == 8
    state.apply(ev("batch-started", batch="b1", files=8, est_bytes=10))
    state.apply(ev("settings-changed", batch_size=3, max_memory_percent=70.0))
    assert (state.batch_size, state.max_memory_percent, state.last_batch_files) == (3, 70.0, 8)
    state.apply(ev("settings-changed", batch_size=None, max_memory_percent=70.0))  # automatic: kept until told
    assert state.batch_size == 3
    state.apply(
        ev("throttle", action="shrink", memory_percent=91.0, max_memory_percent=70.0, batch_size=1, budget_bytes=16, reason="x")
    )
    assert (state.batch_size, state.throttle, state.paused) == (1, "shrink", False)
    state.apply(
        ev("throttle", action="pause", memory_percent=95.0, max_memory_percent=70.0, batch_size=1, budget_bytes=16, reason="x")
    )
    assert state.paused
    state.apply(ev("batch-started", batch="b2", files=1, est_bytes=10))
    assert (state.batches_started, state.last_batch_files) == (2, 1)


def test_resources_warnings_retries_and_the_end():
    state = ProgressState().apply(started())
    state.apply(ev("resources", system={"memory_percent": 40.0, "cpu_percent": 10.0}, workers={"w1": {"rss": 5, "limit": 10}}))
    state.apply(ev("warning", message="disk nearly full"))
    state.apply(ev("batch-retried", batch="b1", reason="killed", parts=2))
    state.apply(ev("item", 101.0, row=row("failed", 10, "x.png", "decode-error")))
    assert state.system["memory_percent"] == 40.0 and state.worker_resources["w1"]["rss"] == 5
    assert state.warnings == ["disk nearly full"] and state.retries == 1
    assert state.failures == [Failure("x.png", "decode-error", "x.png: decode-error")]
    state.apply(ev("run-finished", report="the report"))
    assert state.finished and state.report == "the report" and state.eta_seconds is None
