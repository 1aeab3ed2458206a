"""The exports of a curated build, loaded with the real libraries (real LocalCluster, real Pillow,
``webdataset``, ``datasets``, ``pyarrow``): one sample per kept file, labels, captions and splits as
curated, images that decode to the size their facts give, byte-identical shards from two output
folders, and a rerun that rewrites nothing."""

from __future__ import annotations

import io
import json
import shutil

import pyarrow.parquet as pq
import pytest
from PIL import Image

import toolkit
from toolkit import _synth
from toolkit._export import ManifestParquetSink, ParquetSink, WebDatasetSink
from toolkit._manifest import read_rows

pytestmark = pytest.mark.integration

SPLITS = {"train": 0.5, "val": 0.25, "test": 0.25}


def corpus(root):
    """Two classes of 8 photos of mixed sizes, captions beside half of them and a sidecar object
    beside one, an exact copy and a tiny photo (both left out by curation)."""
    for label, base in (("cat", 10), ("dog", 40)):
        for i in range(8):
            _synth.write_photo(root / label / f"{i}.jpg", 200 + 20 * i, 150 + 10 * i, seed=base + i)
            if i % 2:
                (root / label / f"{i}.txt").write_text(f"a {label} numbered {i}")
    (root / "cat" / "3.json").write_text('{"photographer": "Ann", "iso": 200}')
    shutil.copyfile(root / "cat" / "0.jpg", root / "cat" / "copy.jpg")
    _synth.write_photo(root / "dog" / "tiny.jpg", 40, 30, seed=99)
    return root


def sinks():
    return [ManifestParquetSink(), WebDatasetSink(shard_max_count=3), ParquetSink(shard_max_count=4)]


def build(src, out, client, exports=None, **kw):
    return toolkit.build(
        inputs=[str(src)],
        output=str(out),
        client=client,
        progress=False,
        size=96,
        labels="folder",
        filters={"min_side": 64},
        splits=SPLITS,
        exports=sinks() if exports is None else exports,
        **kw,
    )


def kept(out):
    return {r["source"]: r for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"}


def shards(out, fmt, suffix):
    return sorted((out / fmt).glob(f"*.{suffix}"))


def data_files(out, fmt, suffix):
    """HF's ``data_files`` for an export: each split's shards, found by their names as a user would."""
    files: dict[str, list[str]] = {}
    for p in shards(out, fmt, suffix):
        files.setdefault(p.name.rsplit("-", 1)[0], []).append(str(p))
    return files


def same_shards(out, other):
    """Both output folders hold the same shards (names and bytes) and indexes, at least 3 of each format."""
    for fmt, suffix in (("webdataset", "tar"), ("parquet", "parquet")):
        mine, theirs = shards(out, fmt, suffix), shards(other, fmt, suffix)
        assert [p.name for p in mine] == [p.name for p in theirs] and len(mine) >= 3
        assert all(a.read_bytes() == b.read_bytes() for a, b in zip(mine, theirs)), fmt
        for a in (out / fmt).glob("*.index.json"):
            assert a.read_bytes() == (other / fmt / a.name).read_bytes()


@pytest.fixture(scope="module")
def built(tmp_path_factory, client):
    tmp = tmp_path_factory.mktemp("export")
    src = corpus(tmp / "in")
    report = build(src, tmp / "out", client)
    assert not report.stopped and report.counts == {"ok": 16, "skipped": 2}, report.counts
    return src, tmp / "out"


def test_webdataset_loads_as_is_with_webdataset(built):
    import webdataset as wds

    _src, out = built
    rows = kept(out)
    seen = {}
    for split in sorted({r["split"] for r in rows.values()}):
        index = json.loads((out / "webdataset" / f"{split}.index.json").read_text())
        urls = [str(out / "webdataset" / s["name"]) for s in index["shards"]]
        assert [p.name for p in shards(out, "webdataset", "tar") if p.name.startswith(split + "-")] == [
            s["name"] for s in index["shards"]
        ]
        assert all(s["samples"] <= 3 for s in index["shards"]) and index["complete"] and index["classes"] == ["cat", "dog"]
        samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
        assert index["samples"] == len(samples) == sum(r["split"] == split for r in rows.values())
        for s in samples:
            facts = s["json"]
            row = rows[facts["source"]]
            assert facts["source"] not in seen, "a file in two samples or two splits"
            seen[facts["source"]] = split
            assert facts["split"] == row["split"] == split
            assert s["cls"] == row["label_index"] and facts["label"] == row["label"] == facts["source"].split("/")[0]
            assert s["txt"] == facts["caption"] == (row["caption"] or "")  # "" where none: some have one
            assert s["jpg"].size == (facts["width"], facts["height"]) and max(s["jpg"].size) == 96
            assert (facts["source_width"], facts["source_height"]) == (row["width"], row["height"])
            assert facts["content_hash"] == row["content_hash"] and "." not in s["__key__"]
            text = json.dumps(facts)
            assert str(out) not in text and "seconds" not in facts and "batch" not in facts and "outputs" not in facts
            assert json.loads(facts.get("meta", "null")) == row["meta"]
    assert sorted(seen) == sorted(rows)
    assert rows["cat/3.jpg"]["meta"] == {"photographer": "Ann", "iso": 200}


def test_webdataset_loads_as_is_with_hf_datasets(built, tmp_path):
    import datasets

    _src, out = built
    rows = kept(out)
    ds = datasets.load_dataset("webdataset", data_files=data_files(out, "webdataset", "tar"), cache_dir=str(tmp_path / "hf"))
    assert sorted(ds) == sorted({r["split"] for r in rows.values()})
    got = {}
    for split, part in ds.items():
        for ex in part:
            src = ex["json"]["source"]
            got[src] = split
            assert ex["cls"] == rows[src]["label_index"] and ex["txt"] == (rows[src]["caption"] or "")
            assert ex["jpg"].size == (ex["json"]["width"], ex["json"]["height"])
    assert got == {s: r["split"] for s, r in rows.items()}


def test_parquet_loads_with_hf_as_images_and_class_labels(built, tmp_path):
    import datasets

    _src, out = built
    rows = kept(out)
    ds = datasets.load_dataset("parquet", data_files=data_files(out, "parquet", "parquet"), cache_dir=str(tmp_path / "hf"))
    classes = json.loads((out / "curation.json").read_text())["classes"]["classes"]
    got = {}
    for split, part in ds.items():
        assert part.features["label"].names == classes == ["cat", "dog"]
        assert isinstance(part.features["image"], datasets.Image)
        for ex in part:
            row = rows[ex["source"]]
            got[ex["source"]] = split
            assert ex["label"] == row["label_index"] and classes[ex["label"]] == row["label"]
            assert ex["caption"] == row["caption"] and ex["split"] == row["split"] == split
            assert isinstance(ex["image"], Image.Image) and ex["image"].size == (ex["width"], ex["height"])
    assert got == {s: r["split"] for s, r in rows.items()}
    whole = datasets.load_dataset("parquet", data_dir=str(out / "parquet"), cache_dir=str(tmp_path / "hf2"))
    assert {k: v.num_rows for k, v in whole.items()} == {
        {"val": "validation"}.get(s, s): sum(r["split"] == s for r in rows.values()) for s in SPLITS
    }
    assert json.loads(next(ex for ex in ds[rows["cat/3.jpg"]["split"]] if ex["source"] == "cat/3.jpg")["meta"]) == {
        "photographer": "Ann",
        "iso": 200,
    }


def test_parquet_reads_with_plain_pyarrow(built):
    _src, out = built
    table = pq.read_table(out / "parquet")  # the folder as one dataset: the index files are passed over
    assert table.num_rows == len(kept(out))
    first = table.slice(0, 1).to_pylist()[0]
    with Image.open(io.BytesIO(first["image"]["bytes"])) as im:
        assert im.size == (first["width"], first["height"])
    assert first["image"]["path"] == f"{first['key']}.jpg"


def test_manifest_parquet_has_one_typed_row_per_input(built, tmp_path):
    import datasets

    _src, out = built
    table = pq.read_table(out / "manifest.parquet")
    assert table.num_rows == 18 and str(table.schema.field("error").type) == "struct<type: string, message: string>"
    by_source = {r["source"]: r for r in table.to_pylist()}
    assert by_source["cat/copy.jpg"]["status"] == "skipped" and by_source["cat/copy.jpg"]["duplicate_of"] == "cat/0.jpg"
    assert by_source["cat/copy.jpg"]["warnings"][0]["type"] == "duplicate"
    assert json.loads(by_source["cat/3.jpg"]["meta"]) == {"photographer": "Ann", "iso": 200}
    hf = datasets.load_dataset("parquet", data_files=str(out / "manifest.parquet"), cache_dir=str(tmp_path / "hf"))
    assert hf["train"].num_rows == 18


def test_shards_are_byte_identical_in_another_folder_and_a_rerun_rewrites_nothing(built, client, tmp_path):
    src, out = built
    other = tmp_path / "elsewhere"
    build(src, other, client)
    same_shards(out, other)
    stamps = {p: p.stat().st_mtime_ns for p in shards(other, "webdataset", "tar") + shards(other, "parquet", "parquet")}
    build(src, other, client)
    summary = json.loads((other / "summary.json").read_text())
    for fmt in ("webdataset", "parquet"):
        assert summary["exports"][fmt]["shards_written"] == 0 and summary["exports"][fmt]["shards_kept"] >= 3
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_shards_written_on_the_cluster_are_the_bytes_the_client_writes(built, client, tmp_path, monkeypatch):
    """A small export is written by the client itself (``INLINE_BYTES``), a large one by tasks on the
    workers: the same shards and indexes either way."""
    from toolkit._export import _runner

    src, out = built
    assert sum(p.stat().st_size for p in shards(out, "webdataset", "tar")) < _runner.INLINE_BYTES  # the fixture's: the client's
    monkeypatch.setattr(_runner, "INLINE_BYTES", 0)
    other = tmp_path / "on-the-cluster"
    build(src, other, client)
    same_shards(out, other)


def test_recurating_reexports_without_decoding(built, client, tmp_path):
    """Other splits for the same files: nothing decoded, the shards follow the new splits, and no
    shard of the old layout is left to be read by a glob."""
    import webdataset as wds

    src, first = built
    out = tmp_path / "again"
    shutil.copytree(first, out)
    build(src, out, client, split_seed=7)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decoded"] == 0
    rows = kept(out)
    assert {s: r["split"] for s, r in rows.items()} != {s: r["split"] for s, r in kept(first).items()}
    for split, urls in data_files(out, "webdataset", "tar").items():
        index = json.loads((out / "webdataset" / f"{split}.index.json").read_text())
        assert sorted(urls) == sorted(str(out / "webdataset" / s["name"]) for s in index["shards"])
        got = sorted(json.loads(s["json"])["source"] for s in wds.WebDataset(urls, shardshuffle=False))
        assert got == sorted(k for k, r in rows.items() if r["split"] == split)


def test_the_card_of_a_build_with_every_export_loads_with_datasets(built, client, tmp_path):
    """``load_dataset(OUT)`` through the card's YAML: its features are the parquet shards' real
    columns, its split sizes theirs, and it names no config datasets could not load."""
    import datasets
    import yaml

    src, _ = built
    out = tmp_path / "every"
    report = build(src, out, client, exports=["webdataset", "imagefolder", "parquet"])
    assert not report.stopped
    meta = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    assert [c["config_name"] for c in meta["configs"]] == ["default"]
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    rows = kept(out)
    assert {s: ds[s].num_rows for s in ds} == {s: sum(r["split"] == s for r in rows.values()) for s in SPLITS}
    assert ds["train"].features["label"].names == ["cat", "dog"]
    assert set(ds["train"].column_names) == set(pq.read_schema(next((out / "parquet").glob("train-*.parquet"))).names)
    ex = ds["train"][0]
    assert ex["image"].size == (ex["width"], ex["height"]) and ex["label"] == rows[ex["source"]]["label_index"]
