"""The planner's invariants, by property: every item in exactly one batch; the budget holds
except for a lone oversized item; order and determinism; the bag's partitions are the batches."""

import dataclasses
from collections import deque

import pytest
from hypothesis import given, settings, strategies as st

from toolkit._media import MediaInfo, MediaItem
from toolkit._planning import FILE_SLACK, Plan, auto_batch_size, batch_id, budget_for, next_batch, plan_batches


def B(n: int) -> int:
    """A budget of ``n`` over the one per-file slack a batch counts (so ``n`` is in the units of :func:`item`)."""
    return FILE_SLACK + n


def item(i: int, est: int) -> MediaItem:
    """A file estimated at ``est`` plus the per-file slack (every real estimate has it)."""
    return MediaItem(
        path=f"/in/{i}.jpg",
        rel=f"{i}.jpg",
        root="/in",
        kind="image",
        format="JPEG",
        size=est // 10 + 1,
        mtime_ns=0,
        out_rel=str(i),
        info=MediaInfo(width=10, height=10, est_bytes=FILE_SLACK + est),
    )


ests = st.lists(st.integers(min_value=1, max_value=5_000), min_size=0, max_size=300)


@given(ests, st.integers(min_value=1, max_value=4_000), st.integers(min_value=1, max_value=50))
@settings(max_examples=300, deadline=None)
def test_every_item_once_and_budget_respected(sizes, budget, count):
    items = [item(i, s) for i, s in enumerate(sizes)]
    batches = plan_batches(items, budget=B(budget), count=count)
    flat = [it for b in batches for it in b.items]
    assert flat == items  # each exactly once, order kept
    for b in batches:
        assert 1 <= len(b) <= count
        assert b.est_bytes == FILE_SLACK + sum(i.est_bytes - FILE_SLACK for i in b.items)  # the slack once
        if len(b) > 1:
            assert b.est_bytes <= B(budget)
        assert b.oversized == (len(b) == 1 and b.est_bytes > B(budget))


@given(ests)
@settings(max_examples=100, deadline=None)
def test_plan_is_deterministic_and_ids_ascii(sizes):
    items = [item(i, s) for i, s in enumerate(sizes)]
    a = plan_batches(items, budget=B(3000), count=7)
    b = plan_batches(items, budget=B(3000), count=7)
    assert [x.id for x in a] == [y.id for y in b]
    assert all(x.id.isascii() and x.id.isalnum() for x in a)


def test_greedy_packs_to_the_count_when_bytes_allow():
    items = [item(i, 10) for i in range(100)]
    batches = plan_batches(items, budget=10**9, count=32)
    assert [len(b) for b in batches] == [32, 32, 32, 4]


def test_oversized_item_runs_alone_and_is_flagged():
    items = [item(0, 10), item(1, 10_000), item(2, 10)]
    batches = plan_batches(items, budget=B(100), count=10)
    assert [len(b) for b in batches] == [1, 1, 1]
    assert [b.oversized for b in batches] == [False, True, False]


def test_next_batch_consumes_the_queue():
    q = deque(item(i, 10) for i in range(5))
    b = next_batch(q, budget=B(25), count=10)
    assert len(b) == 2 and len(q) == 3


def test_budget_is_well_under_dask_target_fraction():
    for gib in (0.5, 1, 2, 8):
        limit = int(gib * 2**30)
        assert budget_for(limit) <= 0.6 * limit


def test_auto_size_uses_workers_and_file_count():
    assert auto_batch_size(0, 2) == 1
    assert auto_batch_size(10, 2) == 1
    assert auto_batch_size(1000, 2) == 32
    assert auto_batch_size(1000, 8) < auto_batch_size(1000, 2)
    assert auto_batch_size(10**6, 2) == 64  # capped
    # file sizes: photos keep 64 files a batch at most; small files make bigger batches (~64 MiB, <= 1024 files)
    assert auto_batch_size(10**6, 2, total_bytes=10**6 * 3 * 2**20) == 64
    assert auto_batch_size(10**6, 2, total_bytes=10**6 * 256 * 2**10) == 256
    assert auto_batch_size(10**6, 2, total_bytes=10**6 * 600) == 1024
    assert auto_batch_size(1000, 2, total_bytes=1000 * 600) == 32  # still ~16 batches per worker


def test_batch_id_depends_on_members():
    assert batch_id([item(1, 1)]) != batch_id([item(2, 1)])
    assert batch_id([item(1, 1)]) == batch_id([item(1, 5)])


def test_to_bag_partitions_are_the_batches():
    items = [item(i, 10) for i in range(23)]
    batches = plan_batches(items, budget=B(10**6), count=5)
    p = Plan(batches=batches, budget_bytes=B(10**6), batch_size=5, memory_limit=2**30, workers=2)
    bag = p.to_bag()
    assert bag.npartitions == len(batches) == 5
    parts = [d.compute(scheduler="sync") for d in bag.to_delayed()]
    assert [[i.rel for i in part] for part in parts] == [[i.rel for i in b.items] for b in batches]
    assert bag.map(lambda it: it.info.est_bytes - FILE_SLACK).sum().compute(scheduler="sync") == 230
    assert "OVERSIZED" not in str(p) and "5 batches" in str(p)


@given(n=st.integers(1, 3000), workers=st.integers(1, 16), count=st.integers(1, 64))
def test_automatic_batches_shrink_at_the_tail_so_workers_finish_together(n, workers, count):
    from toolkit._planning import tail_count

    left, sizes = n, []
    while left:
        size = tail_count(count, left, workers)
        sizes.append(size)
        left -= size
    assert sum(sizes) == n and all(1 <= s <= count for s in sizes)
    assert sizes == sorted(sizes, reverse=True)  # never bigger again once shrinking began
    # no batch holds more than an equal share of what was left among 2 in flight per worker
    left = n
    for s in sizes:
        assert s <= max(1, -(-left // (2 * workers)))
        left -= s


def test_a_plan_of_small_files_takes_more_than_64_a_batch():
    """toolkit.plan sizes automatic batches from the files' sizes too: 2,000 files of ~1 KB on one
    worker make batches of 125 (2,000 / 16), where files of a MiB or more would stop at 64."""
    import toolkit

    small = [item(i, 10_000) for i in range(2000)]  # 1 KB each on disk
    assert {len(b) for b in toolkit.plan(small, memory_limit="1GiB", jobs=1).batches} == {125}
    big = [dataclasses.replace(it, size=2**20) for it in small]
    assert max(len(b) for b in toolkit.plan(big, memory_limit="1GiB", jobs=1).batches) == 64


def test_a_plan_names_every_file_it_left_out_and_why(tmp_path, cli, capsys):
    """toolkit.plan and `dataprep plan` put a file that fails its probe (here a JPEG cut short in its
    headers) or that the scan left out (system junk) in no batch, and say which and why."""
    import toolkit
    from toolkit import _synth as synth

    for i in range(2):
        synth.write_photo(tmp_path / f"good{i}.jpg", 64, 48, i)
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "good0.jpg").read_bytes()[:40])
    (tmp_path / ".DS_Store").write_bytes(b"\0" * 64)

    p = toolkit.plan(str(tmp_path), memory_limit="1GiB", jobs=1)
    assert sorted(i.rel for i in p.items) == ["good0.jpg", "good1.jpg"]
    assert {r.source: r.status for r in p.left_out} == {"cut.jpg": "failed", ".DS_Store": "skipped"}
    assert "2 files left out" in str(p) and "cut.jpg" in str(p)

    assert cli(["plan", "--input", str(tmp_path), "--memory-limit", "1GiB", "--jobs", "1"]) in (0, None)
    out = capsys.readouterr().out
    assert out.startswith("2 files in ")
    cut = next(line for line in out.splitlines() if "cut.jpg" in line)
    assert "failed" in cut and "[truncated]" in cut


def _photos(folder, n: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    base = Image.linear_gradient("L").resize((320, 240)).convert("RGB")
    for i in range(n):
        base.rotate(i).save(folder / f"img{i:04d}.jpg", quality=80)


@pytest.mark.integration
def test_a_plan_for_a_cluster_is_the_plan_a_build_on_it_runs(tmp_path, client):
    """One prepare(): the workers and memory limit are the cluster's (2 workers of 1 GiB here),
    not this machine's defaults, for ``toolkit.plan`` as for a build, with a Client or an address."""
    import toolkit

    _photos(tmp_path / "in", 90)
    planned = toolkit.plan([str(tmp_path / "in")], client=client)
    by_address = toolkit.plan([str(tmp_path / "in")], scheduler=client.scheduler.address)  # `dataprep plan --scheduler`
    seen = []
    toolkit.build(inputs=[str(tmp_path / "in")], output=str(tmp_path / "out"), client=client, progress=seen.append)
    started = next(e.data for e in seen if e.kind == "run-started")
    for p in (planned, by_address):
        got = (p.workers, p.memory_limit, p.budget_bytes, p.batch_size, len(p.batches))
        assert got == (2, 2**30, budget_for(2**30), started["batch_size"], started["batches"])
        assert got[:3] == (started["workers"], started["memory_limit"], started["budget_bytes"])


def test_a_batch_size_the_budget_caps_is_said_once_by_the_plan():
    """``Plan.capped``: the warning the run emits as the batches start, decided where the batches are made."""
    from toolkit._config import BuildConfig
    from toolkit._planning import prepare

    items = [item(i, 10 * 2**20) for i in range(40)]  # 10 MiB each against a 16 MiB budget: one a batch
    cfg = BuildConfig.create(inputs=["/in"], output="/out", batch_size=8)
    plan = prepare(items, cfg, jobs=1, memory_limit=2**20)
    assert plan.capped and "batch size 8 is capped" in plan.capped and plan.capped in plan.warnings
    assert prepare(items, BuildConfig.create(inputs=["/in"], output="/out"), jobs=1, memory_limit=2**20).capped is None


def test_tiny_files_are_planned_by_what_they_cost_not_two_mib_each(tmp_path):
    """3,000 real 32x32 JPEGs (~700 bytes) on one worker of 1 GiB: batches of 188 (3,000 / 16), the
    automatic size; the per-file slack of the estimate (2 MiB) is counted once a batch, where counted
    per file it capped every batch at ~170 files (and 1M such files made 5,748 batches of 174)."""
    import io

    from PIL import Image

    import toolkit

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 60)).save(buf, "JPEG")
    for i in range(3000):
        (tmp_path / f"t{i:04d}.jpg").write_bytes(buf.getvalue())
    p = toolkit.plan(str(tmp_path), memory_limit="1GiB", jobs=1)
    assert {len(b) for b in p.batches[:-1]} == {188} and not p.capped
    assert max(b.est_bytes for b in p.batches) < 16 * 2**20  # a few MiB a batch, as it is
