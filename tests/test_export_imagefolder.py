"""The imagefolder export, loaded by the real ``datasets`` (real LocalCluster, real Pillow): one
sample per kept file, in its curated split, labels as a ClassLabel through the folder's README, hard
links to the built outputs, and a rerun that places nothing again."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

import toolkit
from toolkit import _synth
from toolkit._export._imagefolder import ImageFolderSink, safe_name
from toolkit._manifest import read_rows

pytestmark = pytest.mark.integration

SPLITS = {"train": 0.5, "test": 0.5}


def corpus(root):
    for label, base in (("cat", 10), ("dog", 30)):
        for i in range(5):
            _synth.write_photo(root / label / f"{i}.jpg", 160, 120, seed=base + i)
        (root / label / "0.txt").write_text(f"a {label}")
    _synth.write_photo(root / "cat" / "copy.jpg", 160, 120, seed=10)  # the same bytes: a duplicate
    return root


def build(src, out, client, **kw):
    return toolkit.build(
        inputs=[str(src)], output=str(out), client=client, progress=False, size=64, exports=[ImageFolderSink()], **kw
    )


def test_imagefolder_loads_with_datasets_as_curated(tmp_path, client):
    import datasets

    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    report = build(src, out, client, labels="folder", splits=SPLITS)
    rows = [r for r in read_rows(out / "manifest.jsonl")]
    kept = {r["source"]: r for r in rows if r["status"] == "ok"}
    assert len(kept) == 10 and "cat/copy.jpg" not in kept
    figures = json.loads((out / "summary.json").read_text())["exports"]["imagefolder"]
    assert figures["files"] == 10 and figures["missing"] == [] and figures["linked"] == 10
    assert report is not None

    ds = datasets.load_dataset(str(out / "imagefolder"), cache_dir=str(tmp_path / "hf"))
    assert set(ds) == {r["split"] for r in kept.values()}
    names = ds["train"].features["label"].names
    assert names == ["cat", "dog"]
    seen = []
    for split, part in ds.items():
        for ex in part:
            row = kept[ex["source"]]
            assert row["split"] == split and names[ex["label"]] == row["label"]
            assert ex["image"].size == (row_size := tuple(Image.open(out / row["outputs"][0]).size)) and row_size[0] <= 64
            assert ex["caption"] == (row.get("caption") or "")
            seen.append(ex["source"])
    assert sorted(seen) == sorted(kept)  # one sample per kept file, none twice

    plain = datasets.load_dataset("imagefolder", data_dir=str(out / "imagefolder"), cache_dir=str(tmp_path / "hf2"))
    assert {ex["label"] for part in plain.values() for ex in part} == {"cat", "dog"}  # class names as text

    # torchvision's ImageFolder convention: a split folder's first-level folders are the classes
    for split in ds:
        assert sorted(p.name for p in (out / "imagefolder" / split).iterdir() if p.is_dir()) == ["cat", "dog"]
    one = next(iter(kept.values()))
    placed = out / "imagefolder" / one["split"] / one["label"] / one["outputs"][0]
    assert os.path.samefile(placed, out / one["outputs"][0])  # a link, not a copy


def test_a_rerun_places_nothing_and_a_resplit_leaves_no_stale_file(tmp_path, client):
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    build(src, out, client, labels="folder", splits=SPLITS)
    build(src, out, client, labels="folder", splits=SPLITS)
    figures = json.loads((out / "summary.json").read_text())["exports"]["imagefolder"]
    assert figures["kept"] == 10 and figures["linked"] == 0 and figures["stale_removed"] == 0
    build(src, out, client, labels="folder", splits=SPLITS, split_seed=5)
    rows = {r["source"]: r for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"}
    on_disk = sorted(str(p.relative_to(out / "imagefolder")) for p in (out / "imagefolder").rglob("*.jpg"))
    assert on_disk == sorted(f"{r['split']}/{r['label']}/{r['outputs'][0]}" for r in rows.values())


def test_label_folders_are_safe_names_of_the_exact_text():
    assert safe_name("cat") == "cat"
    assert safe_name("..") == "%2E."
    assert safe_name("50% off") == "50%25 off"
    assert safe_name("caf\udce9") == "caf%E9"


def test_an_output_missing_at_export_time_is_reported_not_dropped_silently(tmp_path):
    from types import SimpleNamespace

    out = tmp_path / "out"
    _synth.write_photo(out / "cat" / "a.jpg", 32, 24, seed=1)
    rows = [
        {"source": f"cat/{n}.jpg", "status": "ok", "label": "cat", "split": "train", "outputs": [f"cat/{n}.jpg"]}
        for n in ("a", "gone")
    ]
    said = []
    figures = ImageFolderSink().export(rows, SimpleNamespace(output=out, emit=lambda kind, **f: said.append(f)))
    assert figures["files"] == 1 and figures["missing"] == ["cat/gone.jpg"]
    assert any("cat/gone.jpg" in f["message"] for f in said)
    lines = (out / "imagefolder" / "train" / "metadata.jsonl").read_text().splitlines()
    assert [json.loads(x)["file_name"] for x in lines] == ["cat/cat/a.jpg"]
