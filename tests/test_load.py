"""The exports asked for by the ``exports`` setting and the classifier recipe, loaded back with
``toolkit.load`` (the libraries' own objects): every kept file once, labels and splits as curated."""

from __future__ import annotations

import json

import pytest

import toolkit
from toolkit import _synth
from toolkit._cli import main
from toolkit._manifest import read_rows

pytestmark = pytest.mark.integration


def classes(root):
    for label, base in (("cat", 10), ("dog", 40)):
        for i in range(8):
            _synth.write_photo(root / label / f"{i}.jpg", 200, 150, seed=base + i)
    return root


def test_the_classifier_recipe_writes_every_export_and_load_reads_them(tmp_path):
    src, out = classes(tmp_path / "in"), tmp_path / "out"
    code = main(["build", "--recipe", "classifier", "--input", str(src), "--output", str(out), "--size", "64", "-q", "-j", "2"])
    assert code == 0
    kept = {r["source"]: r for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"}
    assert len(kept) == 16 and (out / "manifest.parquet").is_file()
    exports = json.loads((out / "summary.json").read_text())["exports"]
    assert {"webdataset", "imagefolder", "parquet", "manifest_parquet"} <= set(exports)

    hf = toolkit.load(out, "hf", cache_dir=str(tmp_path / "hf"))
    assert hf["train"].features["label"].names == ["cat", "dog"]
    assert sorted(s for part in hf.values() for s in part["source"]) == sorted(kept)
    for split, part in hf.items():
        assert all(kept[s]["split"] == split for s in part["source"])

    wds = list(toolkit.load(out, "webdataset", split="train"))
    train = sorted(s for s, r in kept.items() if r["split"] == "train")
    assert (
        sorted(json.loads(x["json"])["source"] if isinstance(x["json"], (bytes, str)) else x["json"]["source"] for x in wds)
        == train
    )
    assert all(x["jpg"].size[0] <= 64 for x in wds)


def test_load_says_which_export_is_missing(tmp_path):
    src, out = classes(tmp_path / "in"), tmp_path / "out"
    toolkit.build(inputs=[str(src)], output=str(out), size=32, progress=False, jobs=1)
    with pytest.raises(toolkit.InputError, match="no webdataset export.*--export webdataset|exports"):
        toolkit.load(out, "webdataset")
    with pytest.raises(toolkit.InputError, match="kind must be one of"):
        toolkit.load(out, "tfrecord")


def test_recurating_writes_the_exports_and_the_card_again_without_a_cluster(tmp_path):
    src, out = classes(tmp_path / "in"), tmp_path / "out"
    toolkit.build(
        inputs=[str(src)],
        output=str(out),
        size=32,
        progress=False,
        jobs=1,
        labels="folder",
        splits={"train": 0.5, "test": 0.5},
        exports=["webdataset", "imagefolder"],
    )
    toolkit.curate(out, splits={"train": 0.75, "test": 0.25})
    kept = {r["source"]: r for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decoded"] == 0 and {"webdataset", "imagefolder", "card", "manifest_parquet"} <= set(summary["exports"])
    for split in ("train", "test"):
        index = json.loads((out / "webdataset" / f"{split}.index.json").read_text())
        assert index["samples"] == sum(r["split"] == split for r in kept.values())
        on_disk = list((out / "imagefolder" / split).rglob("*.jpg"))
        assert len(on_disk) == sum(r["split"] == split for r in kept.values())
    assert "75" in (out / "README.md").read_text() or "0.75" in (out / "README.md").read_text()


class PressStop:
    """A curator that presses Stop as curation ends: the export stage starts with the run stopping."""

    run = None

    def curate(self, rows, ctx):
        self.run.stop()
        return rows


def test_stop_mid_export_keeps_finished_shards_and_the_same_command_finishes(tmp_path, client):
    src, out = classes(tmp_path / "in"), tmp_path / "out"
    settings = dict(inputs=[str(src)], output=str(out), size=32, labels="folder", splits={"train": 0.5, "test": 0.5})
    settings.update(exports=["webdataset"], shard_max_count=1)  # a shard a sample: 16 shards
    press = PressStop()
    press.run = run = toolkit.start(client=client, curators=[press], **settings)
    report = run.result(timeout=120)
    assert report.stopped and report.counts["ok"] == 16  # every row stands
    written = sorted(p.name for p in (out / "webdataset").glob("*.tar"))
    assert 0 < len(written) < 16
    again = toolkit.build(client=client, progress=False, **settings)
    figures = json.loads((out / "summary.json").read_text())["exports"]["webdataset"]
    assert not again.stopped and figures["shards_kept"] >= len(written) and figures["samples"] == 16
    assert figures["shards_written"] + figures["shards_kept"] == 16


def test_a_re_export_that_cannot_write_leaves_no_export_listed_for_load(tmp_path, client):
    """toolkit.curate re-splits, its webdataset cannot be written: summary.json must not list the
    half-rewritten export, so toolkit.load refuses it rather than mix two splits' shards."""
    from test_card import read_only

    src, out = classes(tmp_path / "in"), tmp_path / "out"
    settings = dict(inputs=[str(src)], output=str(out), size=32, labels="folder", splits={"train": 0.5, "test": 0.5})
    toolkit.build(client=client, progress=False, exports=["webdataset"], **settings)
    with read_only(out / "webdataset"), pytest.raises(OSError, match="webdataset"):
        toolkit.curate(out, split_seed=3)
    assert "webdataset" not in json.loads((out / "summary.json").read_text()).get("exports", {})
    with pytest.raises(toolkit.InputError, match="webdataset"):
        toolkit.load(out, "webdataset")


def test_a_card_abandoned_by_a_failing_sink_is_cancelled(tmp_path, client):
    from types import SimpleNamespace

    from test_card import dataset

    from toolkit import BuildConfig
    from toolkit._card import CardSink

    card = CardSink()
    card.collector()  # deferred: drawn on the workers while later sinks run
    ctx = SimpleNamespace(output=tmp_path, config=BuildConfig.create(labels="folder"), client=client, emit=lambda *a, **k: None)
    ctx.stopped = lambda: False
    card.export(dataset(tmp_path), ctx)
    readme, drawn = card._future
    card.abandon()
    assert all(f.cancelled() or f.status in ("cancelled", "finished") for f in [readme, *drawn])
    assert card.collect() is None  # nothing left to collect
