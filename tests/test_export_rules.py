"""The export's pure rules: which rows are samples and their keys, shuffling and cutting into
shards, digests, the typed manifest.parquet, one deterministic tar, and the ``exports`` names."""

from __future__ import annotations

import base64
import json
import re
import tarfile

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from toolkit import ConfigError
from toolkit._export import ParquetSink, WebDatasetSink, make_sinks, manifest_schema, write_manifest_parquet
from toolkit._export._samples import DEFAULT_SPLIT, Sample, plan_samples
from toolkit._export._shards import cut, digest, plan_shards, shuffle
from toolkit._export._tar import write_tar


def row(source, status="ok", split=None, **kw):
    return {
        "source": source,
        "source_b64": base64.b64encode(source.encode()).decode(),
        "input_root": "/data/in",
        "status": status,
        "outputs": [source.rsplit(".", 1)[0] + ".jpg"],
        "split": split,
        "content_hash": "c" + source,
        "settings": "s1",
        **kw,
    }


def sample(key, size=10, split="train"):
    return Sample(key, split, f"{key}.jpg", "jpg", size, None, None, {"key": key})


names = st.text(alphabet=st.sampled_from("ab. _-é/xX1"), min_size=1, max_size=90)


@given(st.lists(names, min_size=1, max_size=30, unique=True))
def test_every_kept_file_is_one_sample_with_a_unique_key_of_safe_characters(sources):
    rows = [row(s) for s in sources] + [row("dup.jpg", status="skipped"), row("bad.jpg", status="failed")]
    sizes = {o: 1 for r in rows for o in r["outputs"]}
    samples = plan_samples(rows, sizes)
    assert [s.facts["source"] for s in samples] == sources
    keys = [s.key for s in samples]
    assert len(set(keys)) == len(keys) and all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", k) for k in keys)
    assert {s.split for s in samples} == {DEFAULT_SPLIT}
    assert plan_samples(rows, sizes) == samples  # the same every run


def test_keys_read_as_the_file_and_splits_are_the_rows():
    samples = plan_samples([row("cat/0.jpg", split="val"), row("a b.png"), row("a_b.png", split="test")], {})
    assert [(s.key, s.split, s.size) for s in samples] == [
        ("cat_0_jpg", "val", -1),
        ("a_b_png", "train", -1),
        (samples[2].key, "test", -1),
    ]
    assert samples[2].key.startswith("a_b_png-")  # made the same as another file's: told apart by a hash
    accented, other_script = plan_samples([row("photos/été.jpg"), row("写真/猫.jpg")], {})
    assert accented.key == "photos_ete_jpg" and re.fullmatch(r"file-[0-9a-f]{8}", other_script.key)


@given(st.lists(st.integers(0, 500), max_size=60), st.integers(1, 7), st.integers(1, 1200))
def test_shards_keep_order_and_stay_within_both_bounds(sizes, max_count, max_bytes):
    samples = [sample(f"k{i}", n) for i, n in enumerate(sizes)]
    shards = cut(samples, max_count, max_bytes)
    assert [s for sh in shards for s in sh] == samples
    assert all(0 < len(sh) <= max_count for sh in shards)
    assert all(sum(s.size for s in sh) <= max_bytes or len(sh) == 1 for sh in shards)


@settings(max_examples=30)
@given(st.lists(st.integers(0, 10**6), min_size=2, max_size=40, unique=True), st.integers(0, 5))
def test_shuffling_is_a_permutation_fixed_by_seed_and_split(ids, seed):
    samples = [sample(f"k{i}") for i in ids]
    once = shuffle(samples, seed, "train")
    assert sorted(s.key for s in once) == sorted(s.key for s in samples)
    assert shuffle(list(reversed(samples)), seed, "train") == once  # the order rows come in does not matter


def test_class_sorted_input_is_mixed_across_shards():
    samples = [Sample(f"{c}{i:03d}", "train", "x.jpg", "jpg", 1, n, None, {}) for n, c in enumerate("ab") for i in range(50)]
    shards = plan_shards(samples, fmt="webdataset", suffix="tar", digits=6, max_count=10, max_bytes=10**9, seed=0)["train"]
    assert len(shards) == 10 and all({s.label_index for s in sh.samples} == {0, 1} for sh in shards)
    assert [sh.name for sh in shards[:2]] == ["train-000000.tar", "train-000001.tar"]


def test_a_digest_changes_with_what_the_shard_holds_only():
    a = [sample("k1"), sample("k2")]
    assert digest("webdataset", a) == digest("webdataset", list(a))
    changed = [a[0], Sample("k2", "train", "k2.jpg", "jpg", 10, None, "a caption", {"key": "k2"})]
    assert digest("webdataset", changed) != digest("webdataset", a) != digest("parquet", a)


def test_manifest_parquet_schema_is_the_same_for_a_clean_build_and_one_with_failures(tmp_path):
    clean = [row("a.jpg", error=None, warnings=[], width=10, height=5, meta=None)]
    failed = clean + [
        row("b.jpg", status="failed", error={"type": "corrupt", "message": "b.jpg: broken"}, outputs=[], width=None),
        row("c.jpg", warnings=[{"type": "caption", "message": "c.txt: not UTF-8"}], meta={"k": [1, 2]}, odd_field=3),
    ]
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = pq.read_table(write_manifest_parquet(tmp_path / "one", clean))
    two = pq.read_table(write_manifest_parquet(tmp_path / "two", failed))
    assert one.schema == two.schema == manifest_schema()
    b, c = two.to_pylist()[1:]
    assert b["error"] == {"type": "corrupt", "message": "b.jpg: broken"} and b["outputs"] == []
    assert c["meta"] == '{"k": [1, 2]}' and c["extra"] == '{"odd_field": 3}' and c["warnings"][0]["type"] == "caption"
    assert not list(tmp_path.rglob("*.dataprep-tmp"))


def test_a_tar_shard_is_the_same_bytes_wherever_it_is_written(tmp_path):
    for out in ("a", "b"):
        (tmp_path / out).mkdir()
        Image.new("RGB", (30, 20), "red").save(tmp_path / out / "x.jpg")
    s = Sample("x", "train", "x.jpg", "jpg", 1, 1, "red", {"key": "x", "meta": None})
    done = [write_tar(str(tmp_path / o / "t.tar"), [s], str(tmp_path / o), {"cls": True, "txt": True}) for o in "ab"]
    assert done[0] == done[1] and done[0]["samples"] == 1
    assert (tmp_path / "a" / "t.tar").read_bytes() == (tmp_path / "b" / "t.tar").read_bytes()
    with tarfile.open(tmp_path / "a" / "t.tar") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["x.jpg", "x.cls", "x.json", "x.txt"]
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}
        assert tar.extractfile("x.json").read() == b'{"height":20,"key":"x","width":30}'


def test_exports_by_name_in_a_fixed_order_and_bad_values_named():
    sinks = make_sinks(["parquet", "webdataset"], shard_max_count=5)
    assert [type(s) for s in sinks] == [WebDatasetSink, ParquetSink] and sinks[0].max_count == 5
    with pytest.raises(ConfigError, match="`exports`: unknown export 'tfrecord'"):
        make_sinks(["tfrecord"])
    with pytest.raises(ConfigError, match="`shard_max_bytes`"):
        make_sinks(["webdataset"], shard_max_bytes=0)


def test_a_dataset_with_no_kept_file_exports_empty_and_removes_the_old_shards(tmp_path):
    """Every file failed or left out: no shard, no index, and those of an earlier export gone (no
    task runs, so no cluster is asked for)."""
    from toolkit._stages import StageContext

    old = tmp_path / "webdataset"
    old.mkdir()
    (old / "train-000000.tar").write_bytes(b"old")
    (old / "train.index.json").write_text("{}")
    (old / "notes.txt").write_text("not ours")
    ctx = StageContext(tmp_path, None, None, None, lambda kind, **f: None)  # type: ignore[arg-type]
    figures = WebDatasetSink().export([row("a.jpg", status="failed"), row("b.jpg", status="skipped")], ctx)
    assert figures["samples"] == 0 and figures["splits"] == {} and figures["files_removed"] == 2
    assert sorted(p.name for p in old.iterdir()) == ["notes.txt"]


def test_hf_datasets_keeps_a_caption_and_sidecar_object_that_only_a_later_sample_has(tmp_path):
    """HF's webdataset loader types the ``.json`` from the first 5 samples and drops any field they
    lack: a text field one sample of the export has is in every sample's ``.json``."""
    import datasets

    from toolkit._stages import StageContext

    rows = [row(f"{i:02d}.jpg", split="train") for i in range(12)]
    for r in rows:
        Image.new("RGB", (8, 8), "blue").save(tmp_path / r["outputs"][0])
    rows[11] = {**rows[11], "meta": {"photographer": "Ann"}, "caption": "a blue square", "facts": {"n": 1}}
    ctx = StageContext(tmp_path, None, None, None, lambda kind, **f: None)  # type: ignore[arg-type]
    WebDatasetSink().export(rows, ctx)
    ds = datasets.load_dataset(
        "webdataset", data_files={"train": str(tmp_path / "webdataset" / "train-000000.tar")}, cache_dir=str(tmp_path / "hf")
    )
    facts = {ex["json"]["source"]: ex["json"] for ex in ds["train"]}
    assert json.loads(facts["11.jpg"]["meta"]) == {"photographer": "Ann"} and json.loads(facts["11.jpg"]["facts"]) == {"n": 1}
    assert facts["11.jpg"]["caption"] == "a blue square" and facts["03.jpg"]["caption"] == ""
    assert json.loads(facts["03.jpg"]["meta"]) is None
