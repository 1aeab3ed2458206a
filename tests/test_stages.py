"""The curate and export stages: what a curator and a sink get, on a real build."""

from __future__ import annotations

import errno
import json
import os

import pytest
from PIL import Image

import toolkit
from toolkit._errors import OutputWriteError
from toolkit._manifest import read_rows


class DropFailed:
    def curate(self, rows, ctx):
        return [r for r in rows if r["status"] == "ok"]


class CountOnTheCluster:
    """A sink that works on the cluster, as shard writers will: one task per chunk of rows."""

    name = "count"

    def __init__(self):
        self.seen = None

    def export(self, rows, ctx):
        self.seen = sorted(r["source"] for r in rows)
        self.order = [r["source"] for r in rows]
        sizes = ctx.client.gather(ctx.client.map(len, [rows[i : i + 4] for i in range(0, len(rows), 4)], pure=False))
        return {"rows": sum(sizes), "tasks": len(sizes)}


@pytest.mark.integration
def test_curators_see_every_row_and_sinks_get_what_they_kept_and_can_use_the_cluster(tmp_path, client):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        Image.new("RGB", (64, 48), (i * 40, 0, 0)).save(src / f"p{i}.jpg")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    out = tmp_path / "out"
    first = toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False)
    assert first.counts == {"ok": 6, "failed": 1}
    Image.new("RGB", (64, 48)).save(src / "new.jpg")  # the rerun processes only this one
    sink = CountOnTheCluster()
    # toolkit.build takes them as Run does
    report = toolkit.build(
        inputs=[str(src)], output=str(out), client=client, progress=False, curators=[DropFailed()], exports=[sink]
    )
    assert report.counts["ok"] == 7  # 6 carried over, 1 new
    assert sink.seen == sorted([f"p{i}.jpg" for i in range(6)] + ["new.jpg"])  # all rows, not just this run's; failed dropped
    # in the manifest's order (carried rows and this run's mixed), not the order they were recorded in
    listed = [r["source"] for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"]
    assert sink.order == listed == ["new.jpg"] + [f"p{i}.jpg" for i in range(6)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exports"]["count"] == {"rows": 7, "tasks": 2} and summary["exports"]["manifest_parquet"] == {"rows": 7}


class DiskFull:
    """A sink whose first write finds the output's disk full, as a shard writer's would: the error
    the toolkit's write seam (``_fs.writing``) raises."""

    name = "shards"

    def export(self, rows, ctx):
        shard = ctx.output / "shard-000000.tar"
        raise OutputWriteError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(shard))


@pytest.mark.integration
def test_a_sink_that_finds_the_disk_full_stops_the_run_saying_why_and_every_row_stands(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(4):
        Image.new("RGB", (64, 48), (i * 40, 0, 0)).save(src / f"p{i}.jpg")
    seen = []
    run = toolkit.start(inputs=[str(src)], output=str(out), client=client, exports=[DiskFull()], sinks=[seen.append])
    report = run.result(timeout=300)
    assert report.counts == {"ok": 4} and report.batches >= 1  # what the run did, not an empty report
    assert report.stopped and report.exit_code == 1
    assert report.stop_reason["type"] == "output-write-failed" and "shard-000000.tar" in report.stop_reason["message"]
    assert any(e.kind == "warning" and e.data["message"].startswith("stopping: cannot write") for e in seen)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"ok": 4} and summary["stopped"] is True
    assert summary["stop_reason"]["type"] == "output-write-failed"
    assert len(read_rows(out / "manifest.jsonl")) == 4
    again = toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False)  # the disk has room again
    assert again.counts == {"ok": 4} and again.batches == 0 and not again.stopped
