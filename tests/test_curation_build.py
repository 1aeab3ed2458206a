"""Curation wired into builds (real LocalCluster, real Pillow): labels from class folders, filters,
duplicates, splits, re-curation without decoding, and a build without curation as it always was."""

from __future__ import annotations

import json
import shutil

import pytest

import toolkit
from toolkit import _synth
from toolkit._curate._rows import FIELDS
from toolkit._manifest import read_rows

pytestmark = pytest.mark.integration

SPLITS = {"train": 0.5, "val": 0.5}


def corpus(root):
    """Two classes of 6 photos each, an exact copy (file copy), a near copy (resized and
    recompressed with Pillow), and a tiny photo."""
    for label, base in (("cat", 10), ("dog", 30)):
        for i in range(6):
            _synth.write_photo(root / label / f"{i}.jpg", 320, 240, seed=base + i)
    shutil.copyfile(root / "cat" / "0.jpg", root / "cat" / "copy.jpg")
    from PIL import Image

    with Image.open(root / "dog" / "0.jpg") as im:
        im.resize((200, 150)).save(root / "dog" / "near.jpg", quality=60)
    _synth.write_photo(root / "dog" / "tiny.jpg", 40, 30, seed=99)
    return root


def rows_by_source(out):
    return {r["source"]: r for r in read_rows(out / "manifest.jsonl")}


def summary(out):
    return json.loads((out / "summary.json").read_text())


def build(src, out, client, **kw):
    return toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=64, **kw)


def test_a_curated_build_labels_filters_dedupes_and_splits(tmp_path, client):
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    report = build(src, out, client, labels="folder", filters={"min_side": 100}, splits=SPLITS)
    rows = rows_by_source(out)
    assert {r["label"] for r in rows.values()} == {"cat", "dog"}
    assert {r["label_index"] for r in rows.values() if r["label"] == "dog"} == {1}
    tiny = rows["dog/tiny.jpg"]  # ruled out by its header: never decoded, no outputs
    assert tiny["status"] == "skipped" and tiny["warnings"][0]["type"] == "too-small" and not tiny["outputs"]
    assert (tiny["width"], tiny["height"]) == (40, 30) and tiny["probe_filtered"] and not list((out / "dog").glob("tiny*"))
    assert rows["cat/copy.jpg"]["status"] == "skipped" and rows["cat/copy.jpg"]["duplicate_of"] == "cat/0.jpg"
    assert rows["dog/near.jpg"]["status"] == "skipped" and rows["dog/near.jpg"]["duplicate_of"] == "dog/0.jpg"
    kept = [r for r in rows.values() if r["status"] == "ok"]
    assert len(kept) == 12 and {r["split"] for r in kept} == {"train", "val"}
    s = summary(out)
    assert s["counts"]["skipped"] == 3 and s["counts"]["ok"] == 12 and report.skipped == 3
    assert s["curation"]["kept"] == 12 and s["curation"]["filtered"] == {"too-small": 1} and s["curation"]["duplicates"] == 2
    assert sum(sum(per.values()) for per in s["curation"]["leakage"]["files"].values()) == 12
    assert s["decoded"] == 14
    assert "curation: kept 12, filtered 1" in report.text() and "train" in report.text()
    state = json.loads((out / "curation.json").read_text())
    assert state["classes"]["classes"] == ["cat", "dog"]


def test_recurating_decodes_nothing_and_moves_no_kept_split_when_files_are_added(tmp_path, client):
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    build(src, out, client, labels="folder", splits=SPLITS)
    first = rows_by_source(out)
    settings_key = {r["settings"] for r in first.values()}
    build(src, out, client, labels="folder", splits=SPLITS, split_seed=7)
    again = rows_by_source(out)
    assert summary(out)["decoded"] == 0 and {r["settings"] for r in again.values()} == settings_key
    assert [again[k].get("split") for k in sorted(again)] != [first[k].get("split") for k in sorted(first)]
    build(src, out, client, labels="folder", splits=SPLITS, split_seed=7, filters={"min_side": 100})
    assert summary(out)["decoded"] == 0 and rows_by_source(out)["dog/tiny.jpg"]["status"] == "skipped"
    before = rows_by_source(out)
    for i in range(3):
        _synth.write_photo(src / "bird" / f"{i}.jpg", 320, 240, seed=70 + i)
    build(src, out, client, labels="folder", splits=SPLITS, split_seed=7, filters={"min_side": 100})
    after = rows_by_source(out)
    assert summary(out)["decoded"] == 3
    assert all(after[k].get("split") == r.get("split") for k, r in before.items())
    assert after["bird/0.jpg"]["label_index"] == 2  # the class index only grows


def test_toolkit_curate_recurates_a_finished_build_without_a_cluster(tmp_path, client):
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    build(src, out, client, labels="folder", splits=SPLITS)
    report = toolkit.curate(out, filters={"min_side": 100})
    rows = rows_by_source(out)
    assert rows["dog/tiny.jpg"]["status"] == "skipped" and report["filtered"] == {"too-small": 1}
    assert {r["split"] for r in rows.values() if r["status"] == "ok"} == {"train", "val"}  # the build's splits kept
    assert summary(out)["curation"]["kept"] == 12 and summary(out)["counts"]["skipped"] == 3
    with pytest.raises(toolkit.ConfigError, match="`labels`"):
        toolkit.curate(out, labels="nope")
    from toolkit._preflight import lock_output

    held = lock_output(str(out))  # a build writing the folder: curate waits for no one, it refuses
    try:
        with pytest.raises(toolkit.InputError, match="in use"):
            toolkit.curate(out, split_seed=1)
    finally:
        held.release()


def test_without_curation_the_rows_are_as_they_always_were(tmp_path, client):
    src, plain, curated = corpus(tmp_path / "in"), tmp_path / "plain", tmp_path / "curated"
    build(src, plain, client)
    rows = read_rows(plain / "manifest.jsonl")
    assert not any(set(FIELDS) & set(r) for r in rows) and not (plain / "curation.json").exists()
    assert "curation" not in summary(plain) and summary(plain)["decoded"] == len(rows)
    # curated, then built again with curation off: every row back as the build made it
    build(src, curated, client, labels="folder", filters={"min_side": 100}, dedupe="exact")
    build(src, curated, client)
    back = read_rows(curated / "manifest.jsonl")
    # only the tiny file is decoded: the probe had left it out (`min_side`), never built
    assert summary(curated)["decoded"] == 1 and summary(curated)["counts"] == summary(plain)["counts"]
    assert "curation" not in summary(curated)
    assert [r["status"] for r in back] == [r["status"] for r in rows]
    assert not any(set(FIELDS) & set(r) for r in back)
    assert all((curated / o).is_file() for r in back for o in r["outputs"])


def test_misused_labels_stop_the_build_before_any_work(tmp_path, client):
    src = tmp_path / "flat"
    _synth.write_photo(src / "a.jpg", 64, 64, seed=1)
    with pytest.raises(toolkit.ConfigError, match="`labels`"):
        build(src, tmp_path / "out", client, labels="folder")
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_a_file_curation_skips_loses_the_outputs_of_an_earlier_build_no_row_lists(tmp_path, client):
    """Built with two ops, then with one: a file left out as blurry (known only once decoded) was
    built whole (``curated_from == "ok"``), so the other op's earlier output goes, as for an ok
    file; its own output stays. A file the probe now rules out loses the outputs of the earlier build."""
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    build(src, out, client, op=["thumbnail", "resize"], filters={"min_sharpness": 1e9})
    two = rows_by_source(out)["cat/1.jpg"]["outputs"]
    tiny_two = rows_by_source(out)["dog/tiny.jpg"]["outputs"]
    build(src, out, client, op="thumbnail", filters={"min_sharpness": 1e9, "min_side": 100})
    blurry, tiny = rows_by_source(out)["cat/1.jpg"], rows_by_source(out)["dog/tiny.jpg"]
    assert blurry["status"] == "skipped" and blurry["curated_from"] == "ok" and len(two) == 2 and len(blurry["outputs"]) == 1
    assert blurry["warnings"][0]["type"] == "blurry" and all((out / o).is_file() for o in blurry["outputs"])
    assert not any((out / o).exists() for o in set(two) - set(blurry["outputs"]))
    assert tiny["warnings"][0]["type"] == "too-small" and not tiny["outputs"] and len(tiny_two) == 2
    assert not any((out / o).exists() for o in tiny_two)


def test_probe_filters_loosened_build_what_they_left_out_and_tightened_rebuild_nothing(tmp_path, client):
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    build(src, out, client, filters={"min_side": 100})
    assert summary(out)["decoded"] == 14 and not rows_by_source(out)["dog/tiny.jpg"]["outputs"]
    with pytest.warns(UserWarning, match="1 files need a build"):
        report = toolkit.curate(out, filters={})  # it cannot decode: the tiny file stays out, and it says so
    tiny = rows_by_source(out)["dog/tiny.jpg"]
    assert report["needs_build"] == 1 and report["kept"] == 14 and summary(out)["counts"]["skipped"] == 1
    assert tiny["status"] == "skipped" and tiny["warnings"][0]["type"] == "needs-build" and not tiny["outputs"]
    build(src, out, client)  # loosened: built now, as it was never decoded
    tiny = rows_by_source(out)["dog/tiny.jpg"]
    assert summary(out)["decoded"] == 1 and tiny["status"] == "ok" and tiny["outputs"] and "probe_filtered" not in tiny
    build(src, out, client, filters={"min_side": 200})  # tightened: the built rows are filtered, nothing rebuilt
    rows = rows_by_source(out)
    assert summary(out)["decoded"] == 0 and rows["dog/tiny.jpg"]["curated_from"] == "ok" and rows["dog/tiny.jpg"]["outputs"]
    assert {r["warnings"][0]["type"] for r in rows.values() if r["status"] == "skipped"} == {"too-small"}
    assert summary(out)["curation"]["filtered"] == {"too-small": 2}  # the tiny one and the near copy (200x150)


def test_a_file_the_probe_left_out_is_neither_probed_nor_its_caption_read_again_while_still_ruled_out(
    tmp_path, client, monkeypatch
):
    from toolkit import _probe, _sidecar

    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    (src / "dog" / "tiny.txt").write_text("a tiny dog")
    build(src, out, client, filters={"min_side": 100})
    probed, read = [], []
    probe_one, read_sidecars = _probe.probe_one, _sidecar.read_sidecars
    monkeypatch.setattr(_probe, "probe_one", lambda item, *a, **k: probed.append(item.rel) or probe_one(item, *a, **k))
    monkeypatch.setattr(_sidecar, "read_sidecars", lambda item: read.append(item.rel) or read_sidecars(item))
    build(src, out, client, filters={"min_side": 100}, labels="folder")  # only curation changed
    tiny = rows_by_source(out)["dog/tiny.jpg"]
    assert probed == [] and read == [] and summary(out)["resumed"] == 15 and summary(out)["decoded"] == 0
    assert tiny["warnings"][0]["type"] == "too-small" and tiny["caption"] == "a tiny dog" and tiny["label"] == "dog"
    build(src, out, client, filters={"min_side": 20})  # loosened: probed and built now
    assert probed == ["dog/tiny.jpg"] and summary(out)["decoded"] == 1 and rows_by_source(out)["dog/tiny.jpg"]["outputs"]


def test_a_build_without_splits_between_two_with_them_moves_no_file(tmp_path, client):
    """With splits, then without (every row's split cleared), then with the same splits and new
    files: every file is where the first build put it; ``toolkit.curate`` keeps them there too."""
    src, out = tmp_path / "in", tmp_path / "out"
    for i in range(20):
        _synth.write_photo(src / ("cat" if i % 2 else "dog") / f"{i}.jpg", 160, 120, seed=200 + i)
    build(src, out, client, labels="folder", splits=SPLITS)
    first = {k: r["split"] for k, r in rows_by_source(out).items()}
    assert len(first) == 20 and set(first.values()) == {"train", "val"}
    build(src, out, client, labels="folder")
    assert not any(r.get("split") for r in rows_by_source(out).values())
    for i in range(20, 26):
        _synth.write_photo(src / "cat" / f"{i}.jpg", 160, 120, seed=200 + i)
    build(src, out, client, labels="folder", splits=SPLITS)
    third = {k: r["split"] for k, r in rows_by_source(out).items()}
    assert summary(out)["decoded"] == 6 and {k: third[k] for k in first} == first
    toolkit.curate(out, splits={})
    toolkit.curate(out, splits=SPLITS, labels="parent")
    assert {k: r["split"] for k, r in rows_by_source(out).items()} == third
