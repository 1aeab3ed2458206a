"""Splits: no group spans two splits, adding files moves none, every label stratified within the
issue's bound, the same for any input order, another seed a re-split; and the leakage report."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from curate_rows import row
from toolkit import ConfigError
from toolkit._curate import CurationSettings, curate_rows

LABELS = ["cat", "dog", "eel"]


@st.composite
def fractions(draw):
    weights = draw(st.lists(st.integers(1, 20), min_size=1, max_size=4))
    names = ["train", "val", "test", "extra_1"][: len(weights)]
    ps = [w / sum(weights) for w in weights]
    ps[-1] = 1 - sum(ps[:-1])
    return dict(zip(names, ps))


@st.composite
def dataset(draw, start=0, max_size=60):
    """Files in class folders; some share a content hash (exact copies), some a near phash."""
    n = draw(st.integers(1, max_size))
    out = []
    for i in range(start, start + n):
        label = draw(st.sampled_from(LABELS))
        copy_of = draw(st.one_of(st.none(), st.integers(0, max(0, start + n - 1))))
        content = copy_of if copy_of is not None and copy_of < i and draw(st.booleans()) else i + 1000
        phash = (content * 0x9E3779B97F4A7C15 % 2**64) ^ draw(st.sampled_from([0, 1, 3]))
        out.append(row(f"{label}/f{i}.jpg", content=content, phash=phash, w=draw(st.integers(1, 4)) * 32, h=64))
    return out


def conf(fr, seed=0, dedupe="near"):
    return CurationSettings.from_settings(
        {"labels": "folder", "splits": fr, "split_seed": seed, "dedupe": dedupe, "near_distance": 2}
    )


def splits_of(rows):
    return {r["source"]: r["split"] for r in rows}


def check_bound(rows, fr):
    for label in {r["label"] for r in rows}:
        kept = [r for r in rows if r["status"] == "ok" and r["label"] == label]
        n = len(kept)
        for name, p in fr.items():
            count = sum(r["split"] == name for r in kept)
            assert abs(count - n * p) <= 3 * math.sqrt(n * p * (1 - p)) + 1, (label, name, count, n, p)


def check_groups_whole(rows):
    where = splits_of(rows)
    for r in rows:
        if r.get("duplicate_of"):
            assert r["split"] == where[r["duplicate_of"]], r["source"]


@settings(max_examples=120, deadline=None)
@given(dataset(), fractions(), st.integers(0, 3), st.randoms(use_true_random=False))
def test_a_first_split_keeps_groups_whole_meets_the_bound_and_ignores_input_order(rows, fr, seed, rnd):
    done = curate_rows(rows, conf(fr, seed))
    check_groups_whole(done.rows)
    check_bound(done.rows, fr)
    assert all(r["split"] in fr for r in done.rows if r["status"] == "ok")
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert splits_of(curate_rows(shuffled, conf(fr, seed)).rows) == splits_of(done.rows)
    assert done.report["leakage"]["near_pairs_across_splits"] == 0  # near dedupe: nothing leaks


@settings(max_examples=120, deadline=None)
@given(st.data(), fractions(), st.integers(0, 3))
def test_adding_files_never_moves_a_file_and_keeps_the_bound(data, fr, seed):
    rows = data.draw(dataset())
    before = curate_rows(rows, conf(fr, seed))
    history = splits_of(before.rows)
    for step in range(data.draw(st.integers(1, 3))):
        rows = rows + data.draw(dataset(start=1000 * (step + 1), max_size=40))
        after = curate_rows(rows, conf(fr, seed), before.rows, before.state)
        now = splits_of(after.rows)
        moved = {s: (history[s], now[s]) for s in history if history[s] is not None and now[s] != history[s]}
        assert moved == {}
        check_bound(after.rows, fr)
        if not after.conflicts:
            check_groups_whole(after.rows)
        history = {**now, **{s: v for s, v in history.items() if v is not None}}
        before = after


def test_a_new_larger_copy_becomes_the_kept_member_in_its_groups_split():
    rows = [row(f"cat/{i}.jpg", content=i + 1) for i in range(40)]
    first = curate_rows(rows, conf({"train": 0.5, "test": 0.5}))
    target = first.rows[7]
    bigger = row("cat/zz-large.jpg", content=8, w=640, h=480)  # same content hash as cat/7.jpg
    second = curate_rows(rows + [bigger], conf({"train": 0.5, "test": 0.5}), first.rows, first.state)
    new = {r["source"]: r for r in second.rows}
    assert new["cat/zz-large.jpg"]["status"] == "ok" and new["cat/zz-large.jpg"]["split"] == target["split"]
    assert new[target["source"]]["duplicate_of"] == "cat/zz-large.jpg"
    assert new[target["source"]]["split"] == target["split"]


def test_a_new_file_bridging_two_splits_is_reported_and_moves_nobody():
    fr = {"train": 0.5, "test": 0.5}
    rows = [row(f"cat/{i}.jpg", content=i + 1, phash=1 << (2 * i)) for i in range(30)]  # 2 bits apart pairwise
    first = curate_rows(rows, CurationSettings.from_settings({"labels": "folder", "splits": fr, "near_distance": 1}))
    a, b = next((x, y) for x in first.rows for y in first.rows if x["split"] != y["split"])
    bridge = row("cat/bridge.jpg", content=999, phash=int(a["phash"], 16) | int(b["phash"], 16), w=9, h=9)
    second = curate_rows(
        rows + [bridge],
        CurationSettings.from_settings({"labels": "folder", "splits": fr, "near_distance": 1}),
        first.rows,
        first.state,
    )
    assert splits_of(second.rows) | {"cat/bridge.jpg": None} == splits_of(first.rows) | {"cat/bridge.jpg": None}
    (conflict,) = second.conflicts
    assert sorted(conflict.members) == ["test", "train"]
    assert second.report["split_conflicts"] == [conflict.to_json()]
    # one kept member: the dataset itself does not leak, the other side's file is now its duplicate
    assert second.report["leakage"]["near_pairs_across_splits"] == 0
    now = {r["source"]: r for r in second.rows}
    assert {now[a["source"]]["status"], now[b["source"]]["status"]} == {"ok", "skipped"}


def test_another_seed_or_other_fractions_is_a_re_split():
    rows = [row(f"{LABELS[i % 3]}/{i}.jpg", content=i + 1) for i in range(300)]
    fr = {"train": 0.8, "val": 0.1, "test": 0.1}
    zero = curate_rows(rows, conf(fr, 0))
    one = curate_rows(rows, conf(fr, 1), zero.rows, zero.state)
    assert splits_of(one.rows) == splits_of(curate_rows(rows, conf(fr, 1)).rows)  # nothing carried
    assert sum(splits_of(zero.rows)[s] != v for s, v in splits_of(one.rows).items()) > 30


def test_the_leakage_report_counts_near_pairs_across_splits_and_files_per_split_and_label():
    rows = [
        row(f"{LABELS[i % 2]}/{i}.jpg", content=i + 1, phash=((i // 2 + 1) * 0x9E3779B97F4A7C15 % 2**64) ^ (i % 2))
        for i in range(200)
    ]
    fr = {"train": 0.5, "test": 0.5}
    exact = curate_rows(rows, conf(fr, dedupe="exact"))  # near copies (1 bit apart) are not grouped
    leak = exact.report["leakage"]
    crossing = sum(splits_of(exact.rows)[f"cat/{i}.jpg"] != splits_of(exact.rows)[f"dog/{i + 1}.jpg"] for i in range(0, 200, 2))
    assert leak["near_pairs_across_splits"] == crossing > 0
    assert leak["files"] == {
        s: {lb: sum(r["split"] == s and r["label"] == lb for r in exact.rows) for lb in ("cat", "dog")} for s in fr
    }
    near = curate_rows(rows, conf(fr))
    assert near.report["leakage"]["near_pairs_across_splits"] == 0 and near.report["duplicates"] == 100


@pytest.mark.parametrize(
    "settings_, key",
    [
        ({"splits": {"train": 0.8, "val": 0.1}}, "`splits`"),
        ({"splits": {"train-1": 0.5, "b": 0.5}}, "`splits`"),
        ({"splits": {"a": 1.0, "b": 0.0}}, "`splits`"),
        ({"splits": {"a": 1.0}, "split_seed": "x"}, "`split_seed`"),
        ({"dedupe": "near", "near_distance": -1}, "`near_distance`"),
        ({"dedupe": "fuzzy"}, "`dedupe`"),
        ({"labels": "tree"}, "`labels`"),
    ],
)
def test_settings_that_cannot_work_are_errors_naming_the_key(settings_, key):
    with pytest.raises(ConfigError, match=key):
        CurationSettings.from_settings(settings_)


def test_fractions_summing_to_one_within_1e_9_are_accepted_and_dedupe_defaults_to_near_with_splits():
    s = CurationSettings.from_settings({"splits": {"a": 0.7, "b": 0.2, "c": 0.1 + 5e-10}})
    assert s.dedupe == "near" and CurationSettings.from_settings({}).dedupe == "off"


def test_curating_again_with_the_same_settings_changes_nothing():
    rows = [row(f"{LABELS[i % 3]}/{i}.jpg", content=i % 50 + 1, w=20 + i) for i in range(120)]
    s = CurationSettings.from_settings({"labels": "folder", "splits": {"train": 0.9, "test": 0.1}, "filters": {"min_side": 40}})
    once = curate_rows(rows, s)
    twice = curate_rows(once.rows, s, once.rows, once.state)
    assert twice.rows == once.rows and twice.state == once.state
    off = curate_rows(once.rows, CurationSettings())
    assert off.rows == rows  # curation off: the build's rows exactly


def test_small_classes_do_not_all_start_in_the_largest_split():
    """Three files per class: each class is within the bound with all three in train, but the
    seeded offsets spread them, so the dataset as a whole still gets its val and test files."""
    rows = [row(f"c{k}/{i}.jpg", content=k * 10 + i + 1) for k in range(300) for i in range(3)]
    fr = {"train": 0.8, "val": 0.1, "test": 0.1}
    done = curate_rows(rows, conf(fr))
    check_bound(done.rows, fr)
    sizes = {name: sum(r["split"] == name for r in done.rows) for name in fr}
    assert all(abs(sizes[name] - 900 * p) <= 3 * math.sqrt(900 * p * (1 - p)) + 1 for name, p in fr.items()), sizes


def test_a_new_version_built_into_a_fresh_folder_keeps_the_old_files_in_their_splits():
    """No carried assignment at all (another output folder, the split file gone): a file's split comes
    from its content and the seed, so version 2 leaks none of version 1's test files into train."""
    fr = {"train": 0.8, "val": 0.1, "test": 0.1}
    v1 = [row(f"{c}/{i}.jpg", content=k * 10_000 + i + 1) for k, c in enumerate(("cat", "dog")) for i in range(500)]
    v2 = v1 + [row(f"{c}/new{i}.jpg", content=k * 10_000 + 5_000 + i) for k, c in enumerate(("cat", "dog")) for i in range(50)]
    first, second = splits_of(curate_rows(v1, conf(fr)).rows), splits_of(curate_rows(v2, conf(fr)).rows)
    moved = [s for s in first if first[s] != second[s]]
    assert len(moved) <= 5, moved  # only where a label would pass the bound (none here, or a handful)
    assert not [s for s in first if first[s] == "test" and second[s] != "test"]
    check_bound(curate_rows(v2, conf(fr)).rows, fr)


def test_the_bound_correction_moves_only_new_files_out_of_a_crowded_split_until_within_bound():
    """Hashes put every new file of a label into one split: the correction brings each split within
    3 sqrt(n p (1-p)) + 1 of n p, moving new files only, and stops rather than move them needlessly."""
    from toolkit._curate._splits import _within_bound

    fr = {"test": 0.2, "train": 0.8}
    tally, sides = {"test": 20, "train": 0}, ["test"] * 20  # 20 new files, all hashed into test
    _within_bound(tally, sides, list(range(20)), fr)
    n = sum(tally.values())
    assert all(abs(tally[s] - n * p) <= 3 * math.sqrt(n * p * (1 - p)) + 1 for s, p in fr.items()), tally
    assert tally == {s: sides.count(s) for s in fr} and sides.count("train") > 0
    # a carried split over its share with no new file in it: new files elsewhere are left where they are
    tally, sides = {"test": 60, "train": 3}, ["train"] * 3
    _within_bound(tally, sides, [0, 1, 2], fr)
    assert sides == ["train"] * 3 and tally == {"test": 60, "train": 3}


def test_the_same_files_under_another_folder_get_the_same_splits():
    """Also files without a content hash (a manifest older than the facts), placed by their name, and a
    label crowded enough that the bound correction moves some: never by the input folder's path."""
    fr = {"train": 0.8, "val": 0.1, "test": 0.1}
    here = [row(f"{c}/{i}.jpg") for c in ("cat", "dog") for i in range(300)] + [row("bird/0.jpg"), row("bird/1.jpg")]
    there = [dict(r, input_root="/mnt/elsewhere/in") for r in here]
    off = conf(fr, dedupe="off")
    assert splits_of(curate_rows(here, off).rows) == splits_of(curate_rows(there, off).rows)
