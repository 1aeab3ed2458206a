"""The batch controller's rules, without a cluster: the driver's side is simulated here (what a
batch returns, what its journal says after its worker died, memory samples, live changes)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from toolkit._controller import GROW_AFTER_CALM_SAMPLES, MAX_REQUEUES, MIN_BUDGET, BatchController, Outcome
from toolkit._media import MediaInfo, MediaItem

MiB = 2**20


def items(sizes: list[int]) -> list[MediaItem]:
    return [
        MediaItem(
            path=f"/in/f{i:04d}.jpg",
            rel=f"f{i:04d}.jpg",
            root="/in",
            kind="image",
            format="JPEG",
            size=s,
            mtime_ns=0,
            out_rel=f"f{i:04d}",
            info=MediaInfo(width=10, height=10, est_bytes=s),
        )
        for i, s in enumerate(sizes)
    ]


def controller(its, count=8, budget=256 * MiB, fixed=False, workers=2, **kw) -> BatchController:
    kw.setdefault("max_memory_percent", 80.0)
    return BatchController(its, count=count, budget=budget, fixed=fixed, workers=workers, memory_limit=1024 * MiB, **kw)


def kinds(events):
    return [k for k, _ in events]


# ---------------------------------------------------------------- properties

outcome_kinds = st.sampled_from(["ok", "ok", "ok", "early", "died", "died-unstarted", "timeout", "bug", "cancelled"])


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 300 * MiB), min_size=1, max_size=40),
    count=st.integers(1, 12),
    fixed=st.booleans(),
    data=st.data(),
)
def test_every_item_gets_exactly_one_row_whatever_the_outcomes(sizes, count, fixed, data):
    its = items(sizes)
    c = controller(its, count=count, budget=128 * MiB, fixed=fixed)
    rows: dict[str, int] = {}
    flying = []
    seen_first: set[str] = set()
    for step in range(2000):
        if data.draw(st.booleans(), label="sample"):
            c.sample(data.draw(st.floats(0, 100), label="memory"))
        if data.draw(st.integers(0, 9), label="override?") == 0:
            c.set_batch_size(data.draw(st.none() | st.integers(1, 10), label="override"))
        while len(flying) < 4:
            t, ev = c.take()
            changed = [f for k, f in ev if k == "settings-changed"]
            assert all(f["batch_size"] >= 1 for f in changed) and (t is not None or not changed)
            if t is None:
                break
            b = t.batch
            assert len(b) >= 1
            if b.items[0].rel not in seen_first:  # a batch formed from the queue, not a retry
                assert len(b) <= c.count and (b.est_bytes <= c.budget or len(b) == 1)
                assert b.oversized == (len(b) == 1 and b.est_bytes > c.budget)
            seen_first.update(i.rel for i in b.items)
            flying.append(t)
        if not flying:
            assert not c.busy
            break
        t = flying.pop(data.draw(st.integers(0, len(flying) - 1), label="which"))
        n = len(t.batch)
        what = data.draw(outcome_kinds, label="outcome") if step < 1500 else "ok"
        k = data.draw(st.integers(0, n - 1), label="done") if what != "ok" else n
        for it in t.batch.items[:k]:  # the rows the batch returned, or its journal holds
            rows[it.rel] = rows.get(it.rel, 0) + 1
        outcome = {
            "ok": Outcome("finished", done=n),
            "early": Outcome("finished", done=k),
            "died": Outcome("error", done=k, error="KilledWorker", started=k),
            "died-unstarted": Outcome("error", done=0, error="KilledWorker", began=False),
            "timeout": Outcome("error", done=k, error="KilledWorker", timed_out=k),
            "bug": Outcome("error", done=k, error="ValueError", detail="boom"),
            "cancelled": Outcome("cancelled"),
        }[what]
        if what == "died-unstarted":
            for it in t.batch.items[:k]:
                rows[it.rel] -= 1  # nothing started: no rows after all
        if what == "cancelled":
            for it in t.batch.items[:k]:
                rows[it.rel] -= 1
        decision = c.finished(t, outcome)
        for r in decision.fail:
            rows[r.source] = rows.get(r.source, 0) + 1
            assert r.status == "failed" and r.error is not None
        assert 1 <= c.count <= c.planned_count and MIN_BUDGET <= c.budget <= c.planned_budget
    assert not c.busy
    assert {i.rel: rows.get(i.rel, 0) for i in its} == {i.rel: 1 for i in its}


@settings(max_examples=100, deadline=None)
@given(
    samples=st.lists(st.floats(0, 100), max_size=120),
    count=st.integers(1, 64),
    budget=st.integers(16 * MiB, 2048 * MiB),
)
def test_shrink_never_below_one_file_and_16_MiB_and_grow_never_above_the_plan(samples, count, budget):
    c = controller(items([MiB] * 500), count=count, budget=budget, max_memory_percent=50)
    flying = []
    for m in samples:
        c.sample(m)
        t, _ = c.take()
        if t is not None:
            flying.append(t)
        if flying and m > 30:  # now and then a batch ends
            c.finished(flying.pop(0), Outcome("finished", done=len(flying[0].batch) if flying else 0))
        assert 1 <= c.count <= count and MIN_BUDGET <= c.budget <= budget


@settings(max_examples=60, deadline=None)
@given(in_flight=st.integers(1, 5), high=st.floats(80, 100))
def test_after_a_pause_nothing_is_submitted_until_running_batches_finish(in_flight, high):
    c = controller(items([MiB] * 200), count=8, max_memory_percent=80)
    tickets = [c.take()[0] for _ in range(in_flight)]
    assert kinds(c.sample(high)) == ["throttle"] and c.paused
    for t in tickets:
        assert c.take()[0] is None  # still running: nothing more
        c.finished(t, Outcome("finished", done=len(t.batch)))
    t, events = c.take()  # drained: smaller batches from now on
    assert [e["action"] for _, e in events] == ["shrink", "resume"]
    assert t is not None and len(t.batch) == 4 and c.budget == 128 * MiB


@settings(max_examples=60, deadline=None)
@given(n=st.none() | st.integers(1, 50), left=st.integers(60, 400))
def test_a_live_change_is_used_for_the_very_next_batch_and_reported_as_used(n, left):
    c = controller(items([MiB] * left), count=8, budget=1024 * MiB)
    c.take()
    c.set_batch_size(n)
    t, events = c.take()  # told as the batch that uses it is formed
    ((kind, fields),) = events
    assert kind == "settings-changed" and isinstance(fields["batch_size"], int)
    assert len(t.batch) == fields["batch_size"] if n is not None else len(t.batch) <= fields["batch_size"]
    if n is None:  # automatic: worked out again for what is left
        assert fields["batch_size"] == c.planned_count >= 1


@settings(max_examples=60, deadline=None)
@given(n=st.none() | st.integers(1, 50))
def test_a_live_change_asked_during_a_pause_is_the_size_of_the_first_batch_after_it(n):
    """The shrink that ends the pause comes first, then the change: the batch has the size asked
    (as the old engine did), and settings-changed says the size that batch has."""
    c = controller(items([MiB] * 400), count=8, max_memory_percent=80)
    t, _ = c.take()
    c.sample(90)  # paused, one batch running
    c.set_batch_size(n)
    assert c.take() == (None, [])  # still running: nothing formed, nothing told
    c.finished(t, Outcome("finished", done=len(t.batch)))
    t, events = c.take()
    assert [f.get("action", k) for k, f in events] == ["shrink", "resume", "settings-changed"]
    assert len(t.batch) == events[-1][1]["batch_size"] == (n if n is not None else c.planned_count)


# ---------------------------------------------------------------- the rules, one by one


def test_the_journal_names_the_file_that_killed_the_batch_it_goes_alone_and_the_rest_goes_on():
    c = controller(items([MiB] * 8), count=8, fixed=True)
    t, _ = c.take()
    d = c.finished(t, Outcome("error", done=3, error="KilledWorker", started=3))
    assert not d.fail and d.events == [("batch-retried", {"batch": t.batch.id, "reason": "KilledWorker", "parts": 2})]
    alone, rest = c.take()[0], c.take()[0]
    assert [i.rel for i in alone.batch.items] == ["f0003.jpg"] and alone.alone
    assert [i.rel for i in rest.batch.items] == [f"f{i:04d}.jpg" for i in range(4, 8)] and not rest.alone


def test_without_a_journal_a_killed_batch_splits_in_halves():
    c = controller(items([MiB] * 6), count=6, fixed=True)
    t, _ = c.take()
    c.finished(t, Outcome("error", done=0, error="CommClosedError"))
    assert [len(c.take()[0].batch) for _ in range(2)] == [3, 3]


def test_a_file_that_kills_its_worker_alone_is_tried_once_more_then_failed_worker_killed():
    c = controller(items([MiB]), count=1)
    t, _ = c.take()
    assert not c.finished(t, Outcome("error", error="KilledWorker", started=0)).fail
    t2, _ = c.take()
    assert t2.alone
    (r,) = c.finished(t2, Outcome("error", error="KilledWorker", started=0)).fail
    assert r.error.type == "worker-killed" and "f0000.jpg" in r.error.message
    assert "`memory_limit`" in r.error.message and "`jobs`" in r.error.message and "1024 MiB" in r.error.message
    assert not c.busy


def test_a_file_the_watchdog_ended_fails_timeout_and_the_rest_goes_on():
    c = controller(items([MiB] * 5), count=5, fixed=True, timeout=7)
    t, _ = c.take()
    d = c.finished(t, Outcome("error", done=2, error="KilledWorker", timed_out=2))
    assert [(r.source, r.error.type) for r in d.fail] == [("f0002.jpg", "timeout")]
    assert "7 s limit" in d.fail[0].error.message and "`timeout`" in d.fail[0].error.message
    assert [i.rel for i in c.take()[0].batch.items] == ["f0003.jpg", "f0004.jpg"]


def test_a_bug_in_a_lone_file_fails_internal_error_at_once():
    c = controller(items([MiB]), count=1)
    t, _ = c.take()
    (r,) = c.finished(t, Outcome("error", error="ValueError", detail="boom", started=0)).fail
    assert r.error.type == "internal-error" and "ValueError: boom" in r.error.message


def test_a_batch_queued_on_a_lost_worker_runs_again_as_it_was_up_to_five_times():
    c = controller(items([MiB] * 4), count=4, fixed=True)
    t, _ = c.take()
    for n in range(MAX_REQUEUES):
        d = c.finished(t, Outcome("error", error="KilledWorker", began=False))
        assert "queued on a lost worker" in d.events[0][1]["reason"]
        t, _ = c.take()
        assert len(t.batch) == 4 and t.requeues == n + 1
    c.finished(t, Outcome("error", error="KilledWorker", began=False))  # then it is split as any other
    assert len(c.take()[0].batch) == 2


def test_a_batch_that_ended_early_because_its_marker_vanished_runs_the_rest_then_fails_it():
    c = controller(items([MiB] * 10), count=10, fixed=True, journal_dir="/data/out/.dataprep/journal")
    t, _ = c.take()
    for _ in range(MAX_REQUEUES):
        d = c.finished(t, Outcome("finished", done=1))
        assert d.rearm and not d.fail
        t, _ = c.take()
    d = c.finished(t, Outcome("finished", done=1))
    assert [r.error.type for r in d.fail] == ["worker-killed"] * (len(t.batch) - 1)
    msg = d.fail[0].error.message  # the file, and the folder whose marker vanished (where to look)
    assert t.batch.items[1].rel in msg and "marker in /data/out/.dataprep/journal kept disappearing" in msg and not c.busy


def test_stop_cancels_what_waits_and_nothing_is_run_again():
    c = controller(items([MiB] * 40), count=4, fixed=True)
    t, _ = c.take()
    assert kinds(c.stop()) == ["warning"] and c.stop() == []
    assert c.take() == (None, []) and c.busy  # the running batch is still out
    c.finished(t, Outcome("error", done=1, error="KilledWorker", started=1))
    assert not c.busy  # its rest is not retried: the next run does it


def test_a_chosen_size_is_kept_to_the_end_and_automatic_batches_shrink_at_the_tail():
    fixed = controller(items([MiB] * 40), count=8, fixed=True, workers=2)
    auto = controller(items([MiB] * 40), count=8, fixed=False, workers=2)
    assert [len(fixed.take()[0].batch) for _ in range(5)] == [8] * 5
    assert [len(auto.take()[0].batch) for _ in range(8)] == [8, 8, 6, 5, 4, 3, 2, 1]


def test_memory_calm_grows_batches_back_toward_the_plan():
    c = controller(items([MiB] * 400), count=8, max_memory_percent=80)
    t, _ = c.take()
    c.sample(90)
    c.finished(t, Outcome("finished", done=len(t.batch)))
    c.take()
    assert c.count == 4
    for _ in range(GROW_AFTER_CALM_SAMPLES - 1):
        assert c.sample(50) == []
    ((_, grow),) = c.sample(50)
    assert grow["action"] == "grow" and c.count == 8 and c.budget == 256 * MiB
    for _ in range(3 * GROW_AFTER_CALM_SAMPLES):
        assert c.sample(50) == []  # at the plan: no more growing
