"""Labels, the class index, filters and dedupe over manifest rows (pure rules, Hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from curate_rows import row
from toolkit import ConfigError
from toolkit._curate import CurationSettings, Filters, apply_dedupe, apply_filters, apply_labels, class_index, curate_rows, reset


def test_folder_labels_are_the_first_folder_and_parent_labels_the_immediate_one():
    rows = [row("cat/a.jpg"), row("cat/indoor/b.jpg"), row("Dög & <ü>\u200b/c.jpg"), row("loose.jpg")]
    folder, index = apply_labels(rows, "folder")
    assert [r["label"] for r in folder] == ["cat", "cat", "Dög & <ü>\u200b", None]
    assert index["classes"] == ["Dög & <ü>\u200b", "cat"]  # sorted, exact text kept
    assert [r["label_index"] for r in folder] == [1, 1, 0, None]
    parent, _ = apply_labels(rows, "parent")
    assert [r["label"] for r in parent] == ["cat", "indoor", "Dög & <ü>\u200b", None]


def test_labels_on_a_flat_folder_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match="`labels`"):
        apply_labels([row("a.jpg"), row("b.jpg")], "folder")
    with pytest.raises(ConfigError, match="`labels`"):
        apply_labels([row("x/a.jpg")], "folders")
    assert apply_labels([row("a.jpg")], "none")[0][0].get("label") is None


def test_the_class_index_is_frozen_a_new_class_gets_the_next_number():
    first = class_index(["dog", "cat", "cow"], "folder")
    assert first["classes"] == ["cat", "cow", "dog"]
    later = class_index(["ant", "dog", "bee"], "folder", first)  # cow's files are gone, ant and bee are new
    assert later["classes"] == ["cat", "cow", "dog", "ant", "bee"]
    rows, _ = apply_labels([row("ant/1.jpg"), row("cat/2.jpg")], "folder", later)
    assert [r["label_index"] for r in rows] == [3, 0]
    assert class_index(["b", "a"], "parent", first)["classes"] == ["a", "b"]  # another labelling starts afresh


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=6), min_size=1, max_size=5))
def test_class_numbers_never_change_as_builds_add_classes(builds):
    index = None
    seen: dict[str, int] = {}
    for names in builds:
        index = class_index(names, "folder", index)
        numbers = {c: i for i, c in enumerate(index["classes"])}
        assert all(numbers[c] == n for c, n in seen.items())
        assert sorted(numbers.values()) == list(range(len(numbers)))
        seen = numbers


def test_filters_skip_with_a_typed_reason_and_keep_the_facts():
    rows = [
        row("small.jpg", w=40, h=300),
        row("wide.jpg", w=1000, h=100),
        row("soft.jpg", sharpness=0.5),
        row("fine.jpg", sharpness=9.0),
        row("broken.jpg", status="failed", w=1, h=1),
    ]
    out = apply_filters(rows, Filters(min_side=48, max_aspect=3.0, min_sharpness=1.0))
    assert [r["status"] for r in out] == ["skipped", "skipped", "skipped", "ok", "failed"]
    assert [w["type"] for w in out[0]["warnings"]] == ["too-small", "aspect"]  # both reasons, the first shown
    assert out[1]["warnings"][0]["type"] == "aspect" and out[2]["warnings"][0]["type"] == "blurry"
    assert "`min_side` = 48" in out[0]["warnings"][0]["message"]
    assert out[0]["outputs"] == ["small.jpg.jpg"] and out[0]["width"] == 40  # facts kept
    assert [reset(r) for r in out] == rows  # re-curating starts from the build's rows


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 600), st.floats(1.0, 10.0))
def test_a_file_is_filtered_exactly_when_its_upright_short_side_or_aspect_fails(w, h, min_side, max_aspect):
    (out,) = apply_filters([row("x.jpg", w=w, h=h)], Filters(min_side=min_side, max_aspect=max_aspect))
    types = [x["type"] for x in out["warnings"]]
    assert ("too-small" in types) == (min(w, h) < min_side)
    assert ("aspect" in types) == (max(w, h) / min(w, h) > max_aspect)
    assert (out["status"] == "skipped") == bool(types)


@pytest.mark.parametrize(
    "table, key",
    [
        ({"min_side": -1}, "filters.min_side"),
        ({"max_aspect": 0.5}, "filters.max_aspect"),
        ({"min_side": 2.5}, "min_side"),
        ({"blur": 1}, "`filters`"),
    ],
)
def test_filter_settings_that_cannot_work_name_their_key(table, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Filters.from_settings(table)


def test_exact_dedupe_keeps_the_largest_then_the_first_by_path():
    rows = [
        row("b.jpg", w=100, h=100, content=1),
        row("a.jpg", w=100, h=100, content=1),
        row("big.jpg", w=200, h=200, content=2, phash=5),
        row("small.jpg", w=50, h=50, content=2, phash=5),
        row("other.jpg", content=3, phash=7),
    ]
    out, groups = apply_dedupe(rows, "exact", 8)
    assert [r["status"] for r in out] == ["skipped", "ok", "ok", "skipped", "ok"]
    assert out[0]["duplicate_of"] == "a.jpg" and out[3]["duplicate_of"] == "big.jpg"
    assert out[0]["warnings"][0]["type"] == "duplicate"
    assert groups == [[1, 0], [2, 3]]
    near, groups = apply_dedupe(rows, "near", 8)  # phash 5 and 7 are one bit apart
    assert [r["status"] for r in near] == ["skipped", "ok", "ok", "skipped", "skipped"]
    assert near[4]["duplicate_of"] == "big.jpg"
    assert apply_dedupe(rows, "off", 8) == (rows, [])
    with pytest.raises(ConfigError, match="`near_distance`"):
        apply_dedupe(rows, "near", -1)


def test_a_filtered_copy_is_never_the_kept_one():
    rows = apply_filters([row("huge.jpg", w=9000, h=100, content=1), row("ok.jpg", content=1)], Filters(max_aspect=3))
    out, _ = apply_dedupe(rows, "exact", 0)
    assert [r["status"] for r in out] == ["skipped", "ok"] and "duplicate_of" not in out[1]


files = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30), st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(files, st.sampled_from(["exact", "near"]), st.randoms(use_true_random=False))
def test_each_group_keeps_exactly_one_member_whatever_the_order(items, mode, rnd):
    rows = [row(f"f{i}.jpg", content=c, phash=p, w=w * 10, h=h * 10) for i, (c, p, w, h) in enumerate(items)]
    out, groups = apply_dedupe(rows, mode, 2)
    by_source = {r["source"]: r for r in out}
    for g in groups:
        kept = [i for i in g if out[i]["status"] == "ok"]
        assert kept == [g[0]]
        assert all(out[i]["duplicate_of"] == out[g[0]]["source"] for i in g[1:])
    assert all(by_source[r["duplicate_of"]]["status"] == "ok" for r in out if "duplicate_of" in r)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    again, _ = apply_dedupe(shuffled, mode, 2)
    assert {r["source"]: r["status"] for r in again} == {r["source"]: r["status"] for r in out}


def test_reset_undoes_every_curation_verdict_and_nothing_else():
    r = row("x/a.jpg", content=1)
    rows, _ = apply_labels([r, row("x/b.jpg", content=1)], "folder")
    out, _ = apply_dedupe(rows, "exact", 0)
    assert reset(out[1]) == row("x/b.jpg", content=1)
    probe_skip = dict(row("t.jpg"), status="skipped", warnings=[{"type": "too-small", "message": "probe"}])
    assert reset(probe_skip) == probe_skip  # not curation's verdict: never turned back on here


def test_a_build_with_labels_off_keeps_the_frozen_class_index_for_when_they_come_back():
    from toolkit._curate import CurationSettings, curate_rows

    first = curate_rows([row("dog/1.jpg"), row("cat/2.jpg")], CurationSettings(labels="folder"))
    grown = curate_rows(
        [row("dog/1.jpg"), row("cat/2.jpg"), row("ant/3.jpg")], CurationSettings(labels="folder"), (), first.state
    )
    assert grown.state["classes"]["classes"] == ["cat", "dog", "ant"]
    off = curate_rows(grown.rows, CurationSettings(labels="none"), grown.rows, grown.state)  # e.g. filters only, for a while
    assert all("label_index" not in r for r in off.rows)
    back = curate_rows(off.rows, CurationSettings(labels="folder"), off.rows, off.state)
    assert {r["label"]: r["label_index"] for r in back.rows} == {"cat": 0, "dog": 1, "ant": 2}  # not renumbered


def test_files_built_before_the_hashes_are_counted_and_named_when_dedupe_cannot_see_them():
    """A manifest from before the facts resumes as it is (no hash on its rows): dedupe and the
    leakage report are blind to those files, so the report says how many and what to do."""
    from toolkit._runreport import curation_lines

    old = [row(f"cat/{i}.jpg") for i in range(3)]  # exact copies, maybe: nobody can tell
    new = [row(f"dog/{i}.jpg", content=i + 1, phash=i + 1) for i in range(2)]
    done = curate_rows([*old, *new], CurationSettings.from_settings({"splits": {"a": 0.5, "b": 0.5}}))
    assert done.report["unhashed"] == 3
    (line,) = [x for x in curation_lines(done.report) if "no content hash" in x]
    assert "3 files" in line and "`force`" in line
    assert curate_rows(old, CurationSettings()).report["unhashed"] == 0  # no dedupe, no splits: nothing is blind
