"""The memory-aware engine on real clusters with injected faults: a file that kills its worker,
a file that hangs, a worker killed mid-run, the whole CLI killed mid-run, memory throttling."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import toolkit
from toolkit._synth import write_big_png
from toolkit._journal import salvage_journals
from toolkit._manifest import read_rows
from toolkit._worker import TEST_HANG_ENV

from helpers import bookkeeping_left, alive, descendants, rows_by_source, wait_until

pytestmark = pytest.mark.integration


def small_photos(folder: Path, n: int, size=(320, 240)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.linear_gradient("L").resize(size).convert("RGB")
    out = []
    for i in range(n):
        p = folder / f"img{i:04d}.jpg"
        base.rotate(i % 360).save(p, quality=80)
        out.append(p)
    return out


def cli_argv(src: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "toolkit",
        "build",
        "-i",
        str(src),
        "-o",
        str(out),
        "--jobs",
        "2",
        "--memory-limit",
        "1GiB",
        "--batch-size",
        "4",
        "--dashboard-address",
        "127.0.0.1:0",
        "-q",
    ]


def wait_for_rows(out: Path, n: int, proc: subprocess.Popen, limit: float = 120) -> None:
    """Until the manifest of a running CLI build holds ``n`` rows (or it ends, or time runs out)."""
    deadline = time.monotonic() + limit
    while len(read_rows(out / "manifest.jsonl")) < n and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)


def test_file_that_kills_its_worker_is_isolated(tmp_path, make_cluster):
    src = tmp_path / "in"
    small_photos(src, 100)
    write_big_png(src / "img0050-huge.png", 12000, 12000)  # ~430 MB decoded, worker limit 300 MiB
    client = make_cluster("300MiB")
    report = toolkit.build(
        inputs=[str(src)], output=str(tmp_path / "out"), client=client, progress=False, max_pixels=200_000_000, batch_size=10
    )
    rows = rows_by_source(tmp_path / "out", 101)
    bad = rows["img0050-huge.png"]
    assert bad["status"] == "failed" and bad["error"]["type"] == "worker-killed"
    assert "300 MiB" in bad["error"]["message"] and "img0050-huge.png" in bad["error"]["message"]
    assert all(r["status"] == "ok" for k, r in rows.items() if k != "img0050-huge.png")
    assert report.counts == {"ok": 100, "failed": 1}
    assert report.worker_restarts >= 1


def test_file_that_hangs_times_out(tmp_path, make_cluster, monkeypatch):
    monkeypatch.setenv(TEST_HANG_ENV, "1")  # workers inherit it: files named *hang* sleep forever
    src = tmp_path / "in"
    small_photos(src, 20)
    Image.new("RGB", (64, 64)).save(src / "img0007-hang.jpg")
    client = make_cluster("1GiB")
    t0 = time.monotonic()
    report = toolkit.build(
        inputs=[str(src)], output=str(tmp_path / "out"), client=client, progress=False, timeout=3, batch_size=5
    )
    assert time.monotonic() - t0 < 120
    rows = rows_by_source(tmp_path / "out", 21)
    assert rows["img0007-hang.jpg"]["error"]["type"] == "timeout"
    assert "3 s" in rows["img0007-hang.jpg"]["error"]["message"]
    assert report.counts == {"ok": 20, "failed": 1}


def test_worker_killed_mid_run_completes(tmp_path, make_cluster):
    src = tmp_path / "in"
    small_photos(src, 300, size=(1600, 1200))
    client = make_cluster("1GiB")
    run = toolkit.start(inputs=[str(src)], output=str(tmp_path / "out"), client=client, batch_size=5)
    while run.progress["files_done"] < 30 and not run.done:
        time.sleep(0.05)
    assert not run.done, "too fast to test: make the corpus bigger"
    pid = next(iter(client.run(os.getpid).values()))
    os.kill(pid, signal.SIGKILL)
    report = run.result(timeout=300)
    rows = rows_by_source(tmp_path / "out", 300)
    assert all(r["status"] == "ok" for r in rows.values())
    assert report.worker_restarts >= 1


def test_sigkill_of_whole_cli_then_rerun_finishes(tmp_path):
    src = tmp_path / "in"
    small_photos(src, 400, size=(1600, 1200))
    out = tmp_path / "out"
    argv = cli_argv(src, out)
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_rows(out, 60, proc)
    journals = out / ".dataprep" / "journal"

    def only_in_journals() -> set[str]:  # finished by a running batch, not yet in the manifest
        in_manifest = {r["source"] for r in read_rows(out / "manifest.jsonl")}
        return {r["source"] for r in salvage_journals(journals) if r["status"] == "ok"} - in_manifest

    deadline = time.monotonic() + 60
    while not only_in_journals() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and every worker process
    proc.wait()
    done_before = {r["source"] for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"}
    salvageable = only_in_journals()
    assert 0 < len(done_before) < 400 and salvageable
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = rows_by_source(out, 400)
    assert all(r["status"] == "ok" for r in rows.values())
    summary = json.loads((out / "summary.json").read_text())
    # finished work was not redone: neither the manifest's rows nor those only the journals held
    assert summary["resumed"] == len(done_before | salvageable)
    assert not bookkeeping_left(out)  # the journals are gone once the manifest has their rows
    assert not [p for p in out.rglob("*") if p.name.endswith(".dataprep-tmp")]
    for r in rows.values():  # every output is whole
        with Image.open(out / r["outputs"][0]) as im:
            im.load()


def test_low_max_memory_pauses_shrinks_resumes(tmp_path, client, caplog):
    src = tmp_path / "in"
    small_photos(src, 60)
    seen = []
    caplog.set_level("INFO", logger="toolkit")
    run = toolkit.start(
        inputs=[str(src)],
        output=str(tmp_path / "out"),
        client=client,
        batch_size=8,
        max_memory_percent=1,
        monitor_interval=0.2,
        sinks=[seen.append],
    )
    report = run.result(timeout=300)
    actions = [e.data["action"] for e in seen if e.kind == "throttle"]
    assert "pause" in actions and "shrink" in actions and "resume" in actions
    sizes = [e.data["batch_size"] for e in seen if e.kind == "throttle" and e.data["action"] == "shrink"]
    assert sizes[0] == 4 and min(sizes) == 1
    assert "throttle pause" in caplog.text and "memory" in caplog.text
    assert report.counts == {"ok": 60}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["throttle"] and summary["peaks"]["system_memory_percent"] > 0


def test_live_batch_size_change_and_stop(tmp_path, client):
    src = tmp_path / "in"
    small_photos(src, 400, size=(1600, 1200))
    seen = []
    run = toolkit.start(inputs=[str(src)], output=str(tmp_path / "out"), client=client, batch_size=20, sinks=[seen.append])
    while run.progress["files_done"] < 20:
        time.sleep(0.02)
    mark = len(seen)
    run.set_batch_size(3)
    while run.progress["files_done"] < 200 and not run.done:
        time.sleep(0.02)
    started = [e for e in seen[mark:] if e.kind == "batch-started"]
    assert any(e.kind == "settings-changed" and e.data["batch_size"] == 3 for e in seen[mark:])
    # the loop may be forming one batch as the change arrives; every batch after that uses it
    assert len(started) >= 6 and all(e.data["files"] <= 3 for e in started[1:]), [e.data["files"] for e in started]
    assert run.progress["batch_size"] == 3
    run.stop(grace=2)
    report = run.result(timeout=120)
    assert report.stopped and report.exit_code == 1
    rows = read_rows(tmp_path / "out" / "manifest.jsonl")
    assert 0 < len(rows) < 400 and len({r["source"] for r in rows}) == len(rows)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["stopped"] is True


def test_live_changes_from_a_sink_are_told_in_order_with_the_values_set_last(tmp_path, client):
    """A sink may change settings from inside an event. Asked as the first batch starts: max memory
    90, then batch size 2. The next batch formed has 2 files, and its settings-changed comes after
    the one for the max memory and still says 90 (not the value the driver read earlier in its turn)."""
    small_photos(tmp_path / "in", 40, size=(64, 48))
    seen = []

    def sink(ev):
        seen.append(ev)
        if ev.kind == "batch-started" and len([e for e in seen if e.kind == "batch-started"]) == 1:
            run.set_max_memory(90)
            run.set_batch_size(2)

    cfg = toolkit.BuildConfig.create(inputs=[str(tmp_path / "in")], output=str(tmp_path / "out"), batch_size=8)
    run = toolkit.Run(cfg, client=client, sinks=[sink])
    report = run.start().result(timeout=120)
    assert report.counts == {"ok": 40}
    changed = [e.data for e in seen if e.kind == "settings-changed"]
    assert changed == [{"batch_size": 8, "max_memory_percent": 90.0}, {"batch_size": 2, "max_memory_percent": 90.0}]
    assert [e.data["files"] for e in seen if e.kind == "batch-started"][:2] == [8, 2]


@pytest.mark.parametrize("force", [False, True])
def test_ctrl_c_in_cli_stops_cleanly_and_says_how_to_resume(tmp_path, force):
    """The rerun the message offers skips the files done (after --force: the same command without it)."""
    src = tmp_path / "in"
    photos = small_photos(src, 400, size=(1600, 1200))
    for p in photos[::50]:  # 8 files of 1 s each (test hook): the build cannot end before Ctrl-C lands
        p.rename(p.with_name(f"hang-{p.name}"))
    out = tmp_path / "out"
    argv = cli_argv(src, out)
    # a shell's background job (make ... &) starts with Ctrl-C ignored, and so would the CLI: as in
    # a terminal, it starts with the default, so Python installs its handler
    proc = subprocess.Popen(
        argv + ["--force"] * force,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, TEST_HANG_ENV: "slow:1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # noqa: PLW1509
    wait_for_rows(out, 40, proc)
    assert proc.poll() is None, "finished before Ctrl-C"
    busy = subprocess.run([sys.executable, "-m", "toolkit", "report", str(out)], capture_output=True, text=True)
    assert f"a build is still writing this folder (process {proc.pid}" in busy.stderr
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the CLI and its worker processes
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert (
        "Run the same command again to redo every file from the start; without --force, done files are skipped"
        if force
        else "Run the same command again to resume"
    ) in stderr
    assert "build stopped" in stdout and "KeyboardInterrupt" not in stderr
    assert "worker restarts     0" in stdout  # the workers ignored Ctrl-C and finished their batches
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] is True
    rows = read_rows(out / "manifest.jsonl")
    assert 0 < len(rows) < 400 and len({r["source"] for r in rows}) == len(rows)
    assert not [p for p in out.rglob("*") if p.name.endswith(".dataprep-tmp")]
    told = subprocess.run([sys.executable, "-m", "toolkit", "report", str(out)], capture_output=True, text=True)
    assert told.returncode == 1 and "did not finish" in told.stderr
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300)  # and the rerun completes
    assert res.returncode == 0, res.stderr
    assert len(read_rows(out / "manifest.jsonl")) == 400
    assert json.loads((out / "summary.json").read_text())["resumed"] == len(rows)  # without redoing those


def test_stop_before_any_batch_ends_at_once_and_keeps_the_previous_manifest(tmp_path):
    """Stop pressed while the run still scans, probes or starts its cluster: it ends as stopped,
    runs no batch, leaves the previous manifest as it was and no worker process behind."""
    from toolkit._spawn import _start_fork_server

    src = tmp_path / "in"
    for d in range(150):  # many folders, so scanning is not over at once
        small_photos(src / f"d{d:03d}", 1, size=(64, 48))
    out = tmp_path / "out"
    out.mkdir()
    previous = '{"source": "old.jpg", "source_b64": "b2xkLmpwZw==", "status": "ok"}\n'
    (out / "manifest.jsonl").write_text(previous)
    seen = []
    # multiprocessing's fork server and resource tracker live on for the next cluster: in the
    # baseline. The workers are forked by that server, so they are our descendants too.
    _start_fork_server()
    before = descendants()
    run = toolkit.start(
        inputs=[str(src)], output=str(out), jobs=1, memory_limit="512MiB", dashboard_address="127.0.0.1:0", sinks=[seen.append]
    )
    run.stop()  # at once: the run is still scanning (or probing, or starting its cluster)
    report = run.result(timeout=60)
    assert report.stopped and report.batches == 0 and report.exit_code == 1
    assert not [e for e in seen if e.kind == "batch-started"]
    assert [e.kind for e in seen][-1] == "run-finished"
    assert (out / "manifest.jsonl").read_text() == previous
    # no worker process left running
    assert wait_until(lambda: not alive(descendants() - before), 15), alive(descendants() - before)


def test_forced_rerun_stopped_midway_loses_no_earlier_rows(tmp_path, client):
    """A --force rerun is stopped after a few files: the next plain run finds every file done —
    the redone ones by their new rows, the others by the rows of the first run — and does nothing."""
    src, out = tmp_path / "in", tmp_path / "out"
    small_photos(src, 120, size=(1600, 1200))
    first = toolkit.build(inputs=[str(src)], output=str(out), client=client, batch_size=4, progress=False)
    assert first.counts == {"ok": 120}
    forced = toolkit.start(inputs=[str(src)], output=str(out), client=client, batch_size=4, force=True)
    while forced.progress["files_done"] < 8 and not forced.done:
        time.sleep(0.01)
    forced.stop()
    report = forced.result(timeout=120)
    assert report.stopped, "finished before it could be stopped"
    redone = {r["source"] for r in read_rows(out / "manifest.jsonl")}
    assert 8 <= len(redone) < 120
    again = toolkit.build(inputs=[str(src)], output=str(out), client=client, batch_size=4, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert again.batches == 0 and summary["resumed"] == 120  # nothing redone: no earlier row was lost
    rows = rows_by_source(out, 120)
    assert all(r["status"] == "ok" for r in rows.values())
    assert not bookkeeping_left(out)  # the rows kept aside are dropped once a run completes


def test_automatic_batches_shrink_at_the_end(tmp_path, client):
    seen = []
    small_photos(tmp_path / "in", 40, size=(64, 48))
    report = toolkit.build(inputs=[str(tmp_path / "in")], output=str(tmp_path / "out"), client=client, progress=seen.append)
    sizes = [e.data["files"] for e in seen if e.kind == "batch-started"]
    assert report.counts == {"ok": 40} and sum(sizes) == 40
    assert sizes[0] == 2 and sizes[-1] == 1  # 40 files on 2 workers: batches of 2, the last ones alone


def test_each_batch_is_one_task_on_the_task_stream(tmp_path, client):
    # one task per batch: with a second task per batch (the items as their own task) Dask reported a
    # finished batch only once the worker's next batch finished too, and workers waited for work
    from distributed import get_task_stream

    small_photos(tmp_path / "in", 24, size=(64, 48))
    with get_task_stream(client=client) as ts:
        report = toolkit.build(inputs=[str(tmp_path / "in")], output=str(tmp_path / "out"), client=client, progress=False)
    names = [t["key"] if isinstance(t["key"], str) else t["key"][0] for t in ts.data]
    card = [n for n in names if n.startswith("dataprep-card-")]  # the dataset card, drawn after the batches
    batch_tasks = [n for n in names if n.startswith("dataprep-") and n not in card]
    assert report.counts == {"ok": 24}
    assert len(batch_tasks) == report.batches == len(ts.data) - len(card)
