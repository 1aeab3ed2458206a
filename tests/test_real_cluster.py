"""Builds on a real cluster: the ``dask scheduler`` and two ``dask worker`` programs (own working
folders, 512 MiB each, 127.0.0.1 only), joined by their scheduler file. The same media built there
and by a local build give the same rows and byte-identical outputs; a worker killed mid-build is
survived; the panel attached to the cluster lists its workers with their limits; a scheduler file
that does not exist, or whose scheduler is not running, is a clear error naming the fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import toolkit
from toolkit import _synth as synth
from toolkit._errors import ClusterError

from helpers import rows_by_source
from real_cluster import RealCluster

pytestmark = pytest.mark.integration

#: what a user compares between two builds of the same files (not the times, batches or settings stamp)
SAME = ("status", "error", "warnings", "outputs", "width", "height", "content_hash", "output_bytes")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One real cluster for the module; files named *hang* take 0.25 s each on its workers."""
    rc = RealCluster(tmp_path_factory.mktemp("cluster"), env={"DATAPREP_TEST_HANG": "slow:0.25"})
    try:
        rc.start_scheduler()
        rc.start_worker("w1")
        rc.start_worker("w2")
        client = toolkit.connect(str(rc.scheduler_file))
        rc.wait_workers(client, 2)
        yield rc, client
        client.close()
    finally:
        rc.close()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Seeded photos in two folders, a truncated JPEG and a file that is no image."""
    src = tmp_path_factory.mktemp("media") / "in"
    for i in range(12):
        synth.write_photo(src / ("cat" if i % 2 else "dog") / f"p{i:02d}.jpg", 320 + 16 * i, 240, seed=i)
    synth.write_photo(src / "wide.png", 900, 200, seed=99, fmt="PNG")
    synth.write_truncated_jpeg(src / "cut.jpg", seed=5)
    synth.write_garbage(src / "noise.jpg", seed=6)
    return src


def _dataprep(*args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "toolkit", "build", *args, "--op", "thumbnail", "--size", "96", "-q"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600)


def _same(rows: dict[str, dict]) -> dict[str, tuple]:
    return {k: tuple(str(r.get(f)) for f in SAME) for k, r in rows.items()}


def _outputs(out: Path, rows: dict[str, dict]) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for r in rows.values() for name in r["outputs"]}


def test_a_build_on_the_cluster_gives_the_rows_and_bytes_of_a_local_build(cluster, media, tmp_path):
    rc, client = cluster
    local = _dataprep(
        "-i", str(media), "-o", str(tmp_path / "local"), "--jobs", "1", "--memory-limit", "512MiB", "--batch-size", "2"
    )
    assert local.returncode == 1, local.stderr  # 1: some files failed (the truncated and the noise)
    remote = _dataprep(
        "-i", str(media), "-o", str(tmp_path / "remote"), "--scheduler-file", str(rc.scheduler_file), "--batch-size", "2"
    )
    assert remote.returncode == 1, remote.stderr
    want = rows_by_source(tmp_path / "local", 15)
    got = rows_by_source(tmp_path / "remote", 15)
    assert _same(got) == _same(want)
    assert got["cut.jpg"]["error"]["type"] == "truncated" and got["noise.jpg"]["status"] == "failed"
    assert sum(r["status"] == "ok" for r in got.values()) == 13
    assert _outputs(tmp_path / "remote", got) == _outputs(tmp_path / "local", want)
    # both workers took part: the cluster's, not a local one the command started by itself
    batches_by_worker = client.run(lambda dask_worker: len(dask_worker.state.log))
    assert len(batches_by_worker) == 2 and all(batches_by_worker.values())

    # the API: a client of the scheduler file, and a build given it, the same again
    report = toolkit.build(
        inputs=[str(media)], output=str(tmp_path / "api"), op="thumbnail", size=96, client=client, progress=False
    )
    assert report.counts == {"ok": 13, "failed": 2}
    api = rows_by_source(tmp_path / "api", 15)
    assert _same(api) == _same(want) and _outputs(tmp_path / "api", api) == _outputs(tmp_path / "local", want)


def test_a_worker_killed_mid_build_is_survived(cluster, tmp_path):
    rc, client = cluster
    src = tmp_path / "in"
    for i in range(40):  # *hang* files take 0.25 s each on these workers: the build lasts ~5 s
        synth.write_photo(src / f"slow-hang-{i:02d}.jpg", 200, 150, seed=i)
    run = toolkit.start(inputs=[str(src)], output=str(tmp_path / "out"), client=client, batch_size=2, op="thumbnail", size=64)
    while run.progress["files_done"] < 6 and not run.done:
        time.sleep(0.05)
    assert not run.done, "too fast to test: make the files slower"
    worker_pid = next(iter(client.run(os.getpid).values()))  # the worker process, not its nanny
    os.kill(worker_pid, signal.SIGKILL)
    report = run.result(timeout=300)
    rows = rows_by_source(tmp_path / "out", 40)
    assert all(r["status"] == "ok" for r in rows.values()), [r["error"] for r in rows.values() if r["error"]]
    assert report.counts == {"ok": 40}
    client.wait_for_workers(2, timeout=120)  # the nanny started a new worker; later tests have two again
    assert worker_pid not in client.run(os.getpid).values()


def test_the_panel_on_the_cluster_shows_its_workers_and_their_limits(cluster, tmp_path):
    rc, client = cluster
    panel = toolkit.Panel(client=client, inputs=[str(tmp_path / "in")], output=str(tmp_path / "out"))
    shown = panel.views.workers_view.value
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2 and all(addr in shown for addr in workers)
    assert shown.count("512 MiB") == 2 and "<b class='dp-worker-count'>2</b>" in shown
    assert str(rc.scheduler_file) not in shown and client.scheduler.address in shown
    # a build from the panel: each worker's memory against its limit, by the name it was started with
    for i in range(4):
        synth.write_photo(tmp_path / "in" / f"p{i}.jpg", 200, 150, seed=i)
    panel.start()
    assert panel.wait(180) and panel.error is None and panel.report.counts == {"ok": 4}
    gauges = panel.views.gauges.value
    assert "worker w1" in gauges and "worker w2" in gauges and gauges.count(" / 512 MiB") == 2
    panel.close()
    assert client.status == "running"  # the client you gave stays open


def test_a_missing_scheduler_file_names_the_command_that_writes_it(tmp_path):
    gone = tmp_path / "nowhere" / "scheduler.json"
    with pytest.raises(ClusterError, match=r"does not exist; start the scheduler with 'dask scheduler --scheduler-file "):
        toolkit.connect(str(gone))
    done = _dataprep("-i", str(tmp_path), "-o", str(tmp_path / "out"), "--scheduler-file", str(tmp_path / "sched"))
    assert done.returncode == 2 and f"scheduler file {tmp_path / 'sched'} does not exist" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_a_scheduler_without_workers_then_one_that_stopped_are_said_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr("toolkit._cluster.WORKER_WAIT", 1.0)
    rc = RealCluster(tmp_path)
    try:
        rc.start_scheduler()
        with pytest.raises(ClusterError) as err:  # never a build that waits for ever
            toolkit.connect(str(rc.scheduler_file))
        assert f"has no workers (none joined in 1 s); start them with 'dask worker --scheduler-file {rc.scheduler_file}'" in str(
            err.value
        )
        os.killpg(rc.procs[0].pid, signal.SIGKILL)  # it dies without removing its file, as after a crash
        rc.procs[0].wait(30)
    finally:
        rc.close()
    assert rc.scheduler_file.exists()
    t0 = time.monotonic()
    with pytest.raises(ClusterError) as err:
        toolkit.connect(str(rc.scheduler_file))
    assert time.monotonic() - t0 < 10  # said at once, not after the client's 15 s timeout
    msg = str(err.value)
    assert "connection refused" in msg and "is not running" in msg
    assert f"'dask scheduler --scheduler-file {rc.scheduler_file}'" in msg
    address = json.loads(rc.scheduler_file.read_text())["address"]
    with pytest.raises(ClusterError, match="connection refused; check the address, and that the scheduler is running"):
        toolkit.connect(address)  # the same, by its address
    done = _dataprep("-i", str(tmp_path), "-o", str(tmp_path / "out"), "--scheduler-file", str(rc.scheduler_file))
    assert done.returncode == 2 and "connection refused" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # nothing made before the cluster was there


def _client_connections(rc: RealCluster) -> int:
    """Clients the scheduler has taken so far (its log says each)."""
    return (rc.base / "scheduler.log").read_text(errors="replace").count("Receive client connection")


def _wait_for_connections(rc: RealCluster, n: int) -> None:
    deadline = time.monotonic() + 120
    while _client_connections(rc) < n:
        assert time.monotonic() < deadline, "the build never reached the scheduler"
        time.sleep(0.05)


def test_stop_ctrl_c_and_the_panel_end_the_wait_for_workers_at_once(tmp_path):
    """A scheduler with no workers is waited for up to 30 s (workers starting with it get that long);
    a Stop, a Ctrl-C or the panel's Stop ends that wait at once, not after the 30 s."""
    src = tmp_path / "in"
    synth.write_photo(src / "a.jpg", 64, 48, seed=1)
    rc = RealCluster(tmp_path)
    try:
        rc.start_scheduler()
        run = toolkit.start(inputs=[str(src)], output=str(tmp_path / "api"), scheduler_file=str(rc.scheduler_file))
        _wait_for_connections(rc, 1)
        time.sleep(0.5)  # waiting for workers now
        t0 = time.monotonic()
        run.stop()
        assert run.wait(20) and time.monotonic() - t0 < 5, "the stop waited for the workers"
        assert run.result().stopped

        argv = [sys.executable, "-m", "toolkit", "build", "-i", str(src), "-o", str(tmp_path / "cli")]
        proc = subprocess.Popen([*argv, "--scheduler-file", str(rc.scheduler_file)], stderr=subprocess.PIPE, text=True)
        _wait_for_connections(rc, 2)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 5, "Ctrl-C waited for the workers"
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err

        panel = toolkit.Panel(inputs=[str(src)], output=str(tmp_path / "panel"), scheduler_file=str(rc.scheduler_file))
        panel.start()
        _wait_for_connections(rc, 3)
        time.sleep(0.5)
        t0 = time.monotonic()
        panel.stop()
        assert panel.wait(20) and time.monotonic() - t0 < 5, "the panel's Stop waited for the workers"
        assert panel.error is None and "stopped before the build began" in panel.views.status.value
        assert not panel.controls.start_button.disabled
        panel.start()  # closing the panel (the kernel waits for it) ends the wait too
        _wait_for_connections(rc, 4)
        time.sleep(0.5)
        t0 = time.monotonic()
        panel.close()
        assert time.monotonic() - t0 < 5 and panel.wait(20)
    finally:
        rc.close()
