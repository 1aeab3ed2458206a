"""The ffmpeg memory cap on a real LocalCluster: a worker and its ffmpeg processes together stay under
the worker's memory limit as the build planned with it (``JobSpec.memory_limit``, received, never read
again on the worker), at the line where Dask's nanny restarts the worker (it measures the worker
process alone, not its children)."""

from __future__ import annotations

import os

import distributed
import pytest

from toolkit._media import MediaItem
from toolkit._ops import OpSpec
from toolkit._ops import video as v
from toolkit._worker import JobSpec, process_item

pytestmark = pytest.mark.integration


def test_the_cap_is_the_limit_received_at_the_nannys_line(client):
    assert client.submit(v.ffmpeg_memory_cap, 2**30, pure=False).result() == int(0.95 * 2**30)
    assert client.submit(v.ffmpeg_memory_cap, 0, pure=False).result() is None  # no limit known: no cap
    assert v.ffmpeg_memory_cap(2**30) is None  # not a task on a worker
    # a worker in the client's own process has no nanny and no process of its own: no cap
    with (
        distributed.LocalCluster(n_workers=1, processes=False, memory_limit="1GiB", dashboard_address=None) as lc,
        distributed.Client(lc, set_as_default=False) as c,
    ):
        assert c.submit(v.ffmpeg_memory_cap, 2**30, pure=False).result() is None


def _video_file_under_a_low_line(item: MediaItem, output: str, with_limit: bool) -> dict:
    """``process_item`` of a video on this worker, with the nanny's line just above what it holds now."""
    import dask

    limit = distributed.get_worker().memory_manager.memory_limit
    line = (v.memory_in_use() + 8 * 2**20) / limit
    job = JobSpec(ops=(OpSpec.make("poster"),), output=output, timeout=4.0, memory_limit=limit if with_limit else 0)
    with dask.config.set({"distributed.worker.memory.terminate": line}):
        return process_item(item, job).to_row()["error"]


def test_a_video_file_on_a_worker_gets_the_cap_of_the_limit_its_job_carries(client, tmp_path):
    fifo = tmp_path / "waiting.mp4"
    os.mkfifo(fifo)  # ffmpeg waits opening it, ~25 MiB resident: past the line
    (tmp_path / "out").mkdir()
    item = MediaItem(str(fifo), "waiting.mp4", str(tmp_path), "video", None, 1, 0, out_rel="waiting")
    capped = client.submit(_video_file_under_a_low_line, item, str(tmp_path / "out"), True, pure=False).result(60)
    assert capped["type"] == "limit-exceeded" and "`memory_limit`" in capped["message"]
    # the same file with no limit in its job: nothing caps it, and it waits until its time is up
    assert (
        client.submit(_video_file_under_a_low_line, item, str(tmp_path / "out"), False, pure=False).result(60)["type"]
        == "timeout"
    )


def test_workers_without_a_memory_limit_get_no_cap(tmp_path):
    """Nothing restarts a worker that has no memory limit, so nothing caps its ffmpeg (as before the
    redesign), although the build still sizes its batches with a limit (this machine's default). The
    workers' Dask line is set absurdly low: a cap worked out from the planned limit would stop every
    ffmpeg; the cluster's own (none) stops none."""
    import dask

    import toolkit
    from toolkit._synth_video import make_video

    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "clip.mp4", seconds=1, size=(64, 48), fps=10)
    with (
        dask.config.set({"distributed.worker.memory.terminate": 0.001}),  # the nanny hands it to its worker
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, memory_limit=0, dashboard_address=None) as lc,
        distributed.Client(lc, set_as_default=False) as c,
    ):
        assert not any(c.run(lambda dask_worker: dask_worker.memory_manager.memory_limit).values())  # no limit
        report = toolkit.build(
            inputs=[str(tmp_path / "in")], output=str(tmp_path / "out"), ops=["poster"], client=c, progress=False
        )
    (row,) = toolkit.read_rows(tmp_path / "out" / "manifest.jsonl")
    assert report.counts == {"ok": 1} and row["status"] == "ok", row["error"]


def _set_line(above: int, dask_worker=None) -> None:
    """This worker's nanny line (Dask's ``terminate`` fraction, as its tasks read it) just ``above``
    what it holds now."""
    import dask

    dask.config.set(
        {"distributed.worker.memory.terminate": (v.memory_in_use() + above) / dask_worker.memory_manager.memory_limit}
    )


def test_a_long_list_probed_on_the_workers_caps_their_ffmpeg(make_cluster, tmp_path, monkeypatch):
    """A long list is probed on the workers (``PROBE_ON_WORKERS``): a video's ``ffmpeg -i`` there is held
    under the worker's line as in a batch, so a probe that grows fails its file (``limit-exceeded``)
    instead of growing until the nanny restarts the worker."""
    from toolkit import _probe

    client = make_cluster("1GiB", jobs=1)
    fifo = tmp_path / "waiting.mp4"
    os.mkfifo(fifo)  # ffmpeg waits opening it, ~25 MiB resident: past the line
    item = MediaItem(str(fifo), "waiting.mp4", str(tmp_path), "video", None, 1, 0, out_rel="waiting")
    monkeypatch.setattr(_probe, "PROBE_ON_WORKERS", 0)
    client.run(_set_line, 8 * 2**20)
    _ok, (row,) = _probe.probe_items([item], ops=(OpSpec.make("poster"),), timeout=5.0, client=client)
    assert row.status == "failed" and row.error is not None and row.error.type == "limit-exceeded", row.error
    assert "`memory_limit`" in row.error.message
