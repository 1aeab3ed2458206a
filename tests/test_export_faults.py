"""Output-side faults in the export stage (real LocalCluster, real file systems): a shard that
cannot be written stops the build as an output fault naming the export's folder, the finished
shards are kept and indexed, and the same command does only the rest; an output missing on disk
at export time is reported, not silently dropped."""

from __future__ import annotations

import json
import time

import pytest
from test_export_build import corpus, data_files, kept, shards
from test_output_faults import mounts  # noqa: F401 - the fixture, used by name

import toolkit
from toolkit._errors import OutputWriteError
from toolkit._export import WebDatasetSink
from toolkit._manifest import read_rows
from toolkit._stages import StageContext

pytestmark = pytest.mark.integration


def build(src, out, client, **kw):
    return toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=64, labels="folder", **kw)


def export(out, client, sink, stopped=None):
    """The sink run on its own over the build's rows, as the build runs it; -> (figures, warnings)."""
    said: list[str] = []
    ctx = StageContext(out, None, None, client, lambda kind, **f: said.append(f.get("message", "")))  # type: ignore[arg-type]
    if stopped is not None:
        ctx.stopped = stopped  # type: ignore[attr-defined]
    return sink.export(read_rows(out / "manifest.jsonl"), ctx), said


def digests(out):
    return {s["name"]: s["digest"] for s in json.loads((out / "webdataset" / "train.index.json").read_text())["shards"]}


@pytest.mark.parametrize("where", ["client", "cluster"])
def test_a_shard_that_cannot_be_written_keeps_the_others_and_the_same_export_resumes(tmp_path, client, where, monkeypatch):
    from toolkit._export import _runner

    if where == "cluster":  # every shard a task on the workers (else this small export is the client's)
        monkeypatch.setattr(_runner, "INLINE_BYTES", 0)
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    build(src, out, client, exports=[WebDatasetSink(shard_max_count=3)])
    assert len(shards(out, "webdataset", "tar")) == 6
    before = digests(out)
    blocked = out / "webdataset" / "train-000002.tar"
    blocked.unlink()
    blocked.mkdir()  # the rename into place fails: a shard that cannot be written
    (blocked / "x").write_text("in the way")

    with pytest.raises(OutputWriteError) as caught:
        export(out, client, WebDatasetSink(shard_max_count=3, shard_seed=1))  # another shuffle: every shard changes

    assert "train-000002.tar" in caught.value.filename and str(out / "webdataset") in caught.value.filename
    after = digests(out)
    assert not json.loads((out / "webdataset" / "train.index.json").read_text())["complete"]
    assert [n for n in after if after[n] != before[n]] == [n for n in before if n != "train-000002.tar"]  # the others: done
    (blocked / "x").unlink()
    blocked.rmdir()

    figures, _ = export(out, client, WebDatasetSink(shard_max_count=3, shard_seed=1))

    assert figures["shards_written"] == 1 and figures["shards_kept"] == 5, figures
    assert figures["samples"] == 18 and json.loads((out / "webdataset" / "train.index.json").read_text())["complete"]


def test_a_stop_mid_export_keeps_the_finished_shards_and_the_same_export_does_the_rest(tmp_path, client):
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    build(src, out, client, exports=[WebDatasetSink(shard_max_count=1)])
    before = digests(out)

    with pytest.raises(toolkit._errors.Stopped, match="the same command writes the rest"):
        export(out, client, WebDatasetSink(shard_max_count=1, shard_seed=1), stopped=lambda: True)

    done = [n for n, d in digests(out).items() if d != before[n]]
    assert 1 <= len(done) < 18, done
    figures, _ = export(out, client, WebDatasetSink(shard_max_count=1, shard_seed=1))
    assert figures["shards_kept"] == len(done) and figures["shards_written"] == 18 - len(done)


class StopAtExport:
    """A curator (the stage just before the exports) that presses the run's Stop, as a user would."""

    run = None

    def curate(self, rows, ctx):
        while self.run is None:
            time.sleep(0.01)
        self.run.stop()
        return rows


def test_stop_pressed_during_a_builds_export_stops_it_and_the_same_command_resumes(tmp_path, client):
    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    stopper = StopAtExport()
    common = dict(inputs=[str(src)], output=str(out), client=client, size=64, labels="folder", shard_max_count=1)
    stopper.run = run = toolkit.start(**common, curators=[stopper], exports=["webdataset"])
    report = run.result(timeout=300)

    assert report.stopped
    index = json.loads((out / "webdataset" / "train.index.json").read_text())
    assert not index["complete"] and 1 <= len(index["shards"]) < 18, index
    again = build(src, out, client, exports=["webdataset"], shard_max_count=1)
    figures = json.loads((out / "summary.json").read_text())["exports"]["webdataset"]
    assert (
        not again.stopped
        and figures["shards_kept"] == len(index["shards"])
        and figures["shards_written"] == 18 - len(index["shards"])
    )


def test_a_read_only_export_folder_stops_the_build_as_an_output_fault_and_the_same_command_resumes(
    tmp_path,
    client,
    mounts,  # noqa: F811
):
    tmpfs, must = mounts
    mnt = tmpfs("64m")
    src, out = corpus(tmp_path / "in"), mnt / "out"
    assert not build(src, out, client).stopped
    (out / "webdataset").mkdir()
    must("--bind", str(out / "webdataset"), str(out / "webdataset"))
    must("-o", "remount,ro,bind", str(out / "webdataset"))

    report = build(src, out, client, exports=[WebDatasetSink(shard_max_count=3)])

    assert report.stopped and report.stop_reason["type"] == "output-write-failed", report.stop_reason
    assert report.stop_reason["errno"] == "EROFS" and str(out / "webdataset") in report.stop_reason["message"]
    assert "read-only" in report.stop_reason["message"] and "run the same command again" in report.stop_reason["message"]
    assert all(r["status"] != "failed" for r in read_rows(out / "manifest.jsonl"))  # no input blamed
    import subprocess

    subprocess.run(["umount", "-l", str(out / "webdataset")], check=True)
    again = build(src, out, client, exports=[WebDatasetSink(shard_max_count=3)])
    assert not again.stopped and len(shards(out, "webdataset", "tar")) == 6
    assert json.loads((out / "summary.json").read_text())["exports"]["webdataset"]["samples"] == 18


def test_an_output_missing_at_export_time_is_reported_not_dropped_silently(tmp_path, client):
    import webdataset as wds

    src, out = corpus(tmp_path / "in"), tmp_path / "out"
    build(src, out, client)
    gone = kept(out)["dog/5.jpg"]["outputs"][0]
    (out / gone).unlink()

    figures, said = export(out, client, WebDatasetSink())

    assert figures["missing"] == 1 and figures["missing_outputs"] == [gone] and figures["samples"] == 17
    assert any("missing on disk" in m and gone in m for m in said), said
    urls = [u for us in data_files(out, "webdataset", "tar").values() for u in us]
    assert len(list(wds.WebDataset(urls, shardshuffle=False))) == 17
