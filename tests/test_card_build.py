"""The card written by a real build (LocalCluster, real Pillow): drawn on a worker through
``CardSink``, collected after the other sinks, its figures in summary.json, and an output fault
while it is written stopping the build as any output fault does."""

from __future__ import annotations

import json

import pytest
import yaml
from PIL import Image

import toolkit
from toolkit._card import CardSink
from toolkit._manifest import read_rows

from test_card import read_only
from test_curation_build import corpus  # two classes of 6, an exact copy, a near copy, a tiny photo

pytestmark = pytest.mark.integration

SPLITS = {"train": 0.5, "val": 0.5}


class Watch:
    """A sink of yours runs between the card's two halves: it sees whether the card's drawing
    tasks were already handed to the cluster."""

    name = "watch"

    def export(self, rows, ctx):
        held = list(ctx.client.futures)  # the card's tasks and the rows they share
        return {"card_started": any(str(k).startswith("dataprep-card-") for k in held), "held": len(held), "rows": len(rows)}


def build(src, out, client, exports=(), **settings):
    return toolkit.build(
        inputs=[str(src)],
        output=str(out),
        client=client,
        progress=False,
        size=64,
        labels="folder",
        filters={"min_side": 100},
        exports=exports,
        **{"splits": SPLITS, **settings},
    )


def test_a_build_writes_the_card_on_a_worker_and_collects_it_last(tmp_path, client):
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    card = {"card_source": "seeded synthetic photos", "card_license": "cc0-1.0"}
    report = build(src, out, client, [Watch()], **card)  # every build draws its card
    assert not report.stopped
    summary = json.loads((out / "summary.json").read_text())
    watch = summary["exports"]["watch"]
    assert watch["card_started"]  # the other sinks ran while it was drawn
    # the rows went to the workers as one object: not one future a row (each picture task then waited on every
    # row: minutes of scheduler work for 100,000 files); the README, five pictures and the rows
    assert watch["held"] <= 7 < watch["rows"]
    figures = summary["exports"]["card"]
    assert figures["samples"] == 12 and "card/duplicates.png" in figures["pictures"]
    text = (out / "README.md").read_text()
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["license"] == "cc0-1.0" and "dataset_info" not in meta  # no parquet export: no features to claim
    kept = [r for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"]
    for split, per in summary["curation"]["leakage"]["files"].items():  # the card's table is the build's
        assert f"| {split} | {per.get('cat', 0)} | {per.get('dog', 0)} | {sum(per.values())} |" in text
    assert sum(summary["curation"]["leakage"]["files"][s][lb] for s in SPLITS for lb in ("cat", "dog")) == len(kept)
    assert "**duplicate**: 2" in text and "**too-small**: 1" in text and "- Source: seeded synthetic photos" in text
    for p in figures["pictures"]:
        with Image.open(out / p) as im:
            assert im.format == "PNG"
    first = {p: (out / p).read_bytes() for p in figures["pictures"]}
    build(src, out, client, **card)
    assert {p: (out / p).read_bytes() for p in figures["pictures"]} == first  # the same rows, the same pictures
    drawn = {p: (out / p).stat().st_ino for p in figures["pictures"]}
    toolkit.curate(out)  # the same settings, the card drawn here: no picture is drawn again
    assert {p: (out / p).stat().st_ino for p in figures["pictures"]} == drawn


def test_a_read_only_card_folder_stops_the_build_as_an_output_fault(tmp_path, client):
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    build(src, out, client)
    resplit = {"train": 0.75, "val": 0.25}  # other counts per split: the label plot must be drawn again
    with read_only(out / "card"):
        report = build(src, out, client, card_license="mit", splits=resplit)
    why = report.stop_reason
    assert report.stopped and why and why["type"] == "output-write-failed", why
    assert "card" in json.dumps(why) and "labels.png" in json.dumps(why)
    assert len(read_rows(out / "manifest.jsonl")) == 15  # every row stands
    report = build(src, out, client, card_license="mit", splits=resplit)  # writable again: the same command finishes
    assert not report.stopped and 'license: "mit"' in (out / "README.md").read_text()


def test_a_cluster_that_is_gone_leaves_the_card_to_the_build_process(tmp_path, make_cluster):
    from test_card import dataset

    from toolkit import BuildConfig
    from toolkit._stages import StageContext

    gone = make_cluster(jobs=1)
    gone.close()  # a real client whose scheduler is no longer reachable
    ctx = StageContext(tmp_path, BuildConfig.create(labels="folder"), None, gone, print)  # type: ignore[arg-type]
    figures = CardSink().export(dataset(tmp_path), ctx)
    assert figures["samples"] == 8 and (tmp_path / "card" / "samples.png").is_file() and (tmp_path / "README.md").is_file()


def test_a_card_sink_of_your_own_is_the_builds_card_not_a_second_one(tmp_path, client):
    """docs/card.md: pass a CardSink to set its arguments. The build then draws no card of its own
    beside it (two raced for README.md: which licence, which pictures, was a matter of timing)."""
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    report = build(src, out, client, [CardSink(license="mit", pictures=False)])
    assert not report.stopped and 'license: "mit"' in (out / "README.md").read_text()
    assert not list(out.glob("card/*.png"))  # pictures=False: none drawn, by any card
    assert json.loads((out / "summary.json").read_text())["exports"]["card"]["pictures"] == []
