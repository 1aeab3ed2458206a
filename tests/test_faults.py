"""Fault injection for what the engine promises when things go wrong mid-run: a stop keeps the rows
running batches had finished, a batch future lost without a stop is run again, probing on the
workers falls back to the client, a cluster the engine started is closed when the run fails before
its batches, and a file that fails between two ops leaves none of its outputs behind."""

from __future__ import annotations

import os
import random
import re
import signal
import threading
from pathlib import Path

from PIL import Image
import pytest

import toolkit
import toolkit._probe
from toolkit import _synth as synth
from toolkit._worker import TEST_HANG_ENV

from helpers import alive, descendants, outputs_on_disk, rows_by_source, wait_until, workers_idle

pytestmark = pytest.mark.integration

CLUSTER = dict(jobs=2, memory_limit="1GiB", dashboard_address="127.0.0.1:0")


# --------------------------------------------------------------------------- helpers


def photos(folder: Path, names, size=(320, 240), seed=0) -> list[Path]:
    """Seeded photo-like JPEGs, one per name (rotations of one picture: cheap to make)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = synth.photo(size[0], size[1], seed)
    out = []
    for i, name in enumerate(names):
        p = folder / name
        base.rotate((i * 37) % 360).save(p, quality=85)
        out.append(p)
    return out


def ok_outputs(rows: dict[str, dict]) -> set[str]:
    return {o for r in rows.values() if r["status"] == "ok" for o in r["outputs"]}


# --------------------------------------------------------------------------- 1. stop keeps finished rows


def test_stop_keeps_the_rows_running_batches_had_finished(tmp_path, monkeypatch, make_cluster):
    """Three batches of five: four quick files, then one that hangs its worker (test hook). Two run
    (one per worker) and sit on their hanging file with four outputs written; the third waits. A stop
    must keep the eight finished files as ``ok`` rows, not leave their outputs unaccounted for."""
    monkeypatch.setenv(TEST_HANG_ENV, "1")  # read by the workers started below
    src, out = tmp_path / "in", tmp_path / "out"
    names = [f"b{b}-{i}.jpg" for b in range(3) for i in range(4)]
    photos(src, names, seed=1)
    photos(src, [f"b{b}-9-hang.jpg" for b in range(3)], size=(64, 64), seed=2)
    client = make_cluster()
    run = toolkit.start(inputs=[str(src)], output=str(out), client=client, batch_size=5, timeout=60)

    def parked() -> int:  # batches whose journal says their fifth file (the hanging one) started
        jdir = out / ".dataprep" / "journal"
        return sum('{"start": 4}' in p.read_text() for p in jdir.glob("*.jsonl")) if jdir.is_dir() else 0

    assert wait_until(lambda: parked() >= 2 or run.done, 60), "the two running batches never reached their hanging file"
    assert not run.done and run.progress["files_done"] == 0  # no batch has ended: only their journals know
    on_disk = outputs_on_disk(out)
    assert len(on_disk) == 8, sorted(on_disk)

    run.stop(grace=0.3)
    report = run.result(timeout=60)

    assert report.stopped and report.exit_code == 1
    rows = rows_by_source(out)
    on_disk = outputs_on_disk(out)
    assert on_disk == ok_outputs(rows), "outputs on disk without an ok row (or rows naming missing outputs)"
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows.values())
    assert report.counts == {"ok": 8}
    assert not any("hang" in s for s in rows)  # never finished: no row, run again on resume
    for pid in client.run(os.getpid).values():  # end the hanging workers now rather than at teardown
        os.kill(pid, signal.SIGKILL)


def test_outputs_written_after_a_stop_still_get_rows(tmp_path, client):
    """A stop that lands while batches run (no hanging file to park them): each running batch ends
    after the file it is on, so once the workers have settled every output has its ``ok`` row and
    the run took no more files after the stop."""
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src, [f"img{i:03d}.jpg" for i in range(80)], size=(1024, 768), seed=3)
    # ~25 ms a file (no JPEG draft for a 1000 px thumbnail): a batch of 20 runs for about half a second
    run = toolkit.start(inputs=[str(src)], output=str(out), client=client, batch_size=20, op="thumbnail", size=1000)
    jdir = out / ".dataprep" / "journal"

    def mid_batch() -> bool:  # a running batch has done a few files and has several more to go
        for p in jdir.glob("*.jsonl") if jdir.is_dir() else ():
            started = re.findall(r'"start": (\d+)', p.read_text())
            if started and 3 <= int(started[-1]) <= 10:
                return True
        return False

    if not wait_until(mid_batch, 60, step=0.005):  # not an AssertionError: a broken premise is no known bug
        raise RuntimeError("never caught a batch in the middle: make the files slower")
    run.stop()  # the default grace: running batches get to finish the file they are on
    report = run.result(timeout=60)
    if not report.stopped:
        raise RuntimeError("the run finished before the stop: make the batches slower")

    assert wait_until(lambda: workers_idle(client), 30)  # the stopped batches are over
    rows = rows_by_source(out)
    orphans = outputs_on_disk(out) - ok_outputs(rows)
    assert not orphans, f"{len(orphans)} outputs on disk without a row, e.g. {sorted(orphans)[:3]}"
    assert len(rows) < 40  # the two running batches (20 files each) stopped early, not at their end


# --------------------------------------------------------------------------- 2. lost futures run again


def test_batch_future_lost_without_a_stop_is_run_again(tmp_path, client):
    """Someone cancels a running batch's future from outside (as a scheduler restart or another
    client would): the run did not stop, so the batch runs again and every file ends ``ok`` once."""
    from distributed import Future

    src, out = tmp_path / "in", tmp_path / "out"
    photos(src, [f"img{i:03d}.jpg" for i in range(40)], seed=4)
    before = set(client.futures)
    lost: dict = {}
    started: list[str] = []

    def cancel_first_batch(ev) -> None:
        if ev.kind != "batch-started":
            return
        started.append(ev.data["batch"])
        if lost:
            return
        try:
            (key,) = [k for k in client.futures if k not in before and f"dataprep-{ev.data['batch']}" in str(k)]
            lost.update(batch=ev.data["batch"], key=key)
            client.cancel([Future(key, client)], force=True)
        except Exception as exc:  # noqa: BLE001 - a sink's errors are swallowed: keep it for the test
            lost["error"] = repr(exc)

    run = toolkit.start(inputs=[str(src)], output=str(out), client=client, batch_size=5, sinks=[cancel_first_batch])
    report = run.result(timeout=120)

    assert "error" not in lost and lost.get("batch"), f"the batch's future was not lost as planned: {lost}"
    assert not report.stopped and report.counts == {"ok": 40}
    rows = rows_by_source(out)
    assert len(rows) == 40 and all(r["status"] == "ok" for r in rows.values())
    assert outputs_on_disk(out) == ok_outputs(rows) and len(ok_outputs(rows)) == 40
    assert started.count(lost["batch"]) == 2  # the same batch, submitted once more


# --------------------------------------------------------------------------- 3. probe falls back


def _break_worker_probe(marker_dir: str) -> None:
    """Runs inside each worker process: its probe now fails (leaving a marker that it was asked)."""
    import toolkit._probe as probe

    def broken(items, *args, **kwargs):
        Path(marker_dir, f"asked-{os.getpid()}").touch()
        raise RuntimeError("probe broken on this worker")

    probe._probe_chunk = broken


def test_probe_on_workers_falls_back_to_the_client(tmp_path, monkeypatch, make_cluster):
    """A long list is probed on the workers; when they fail, the client probes it and the run
    completes with the same rows as ever (bad files still caught by the probe)."""
    monkeypatch.setattr(toolkit._probe, "PROBE_ON_WORKERS", 4)
    src, out, marks = tmp_path / "in", tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    names = [f"img{i:02d}.jpg" for i in range(12)]
    photos(src, names, seed=5)
    photos(src, ["big.jpg"], size=(800, 600), seed=6)  # more pixels than max_pixels below
    rng = random.Random(7)
    (src / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + rng.randbytes(3000))  # sniffs as JPEG, is not one
    client = make_cluster()
    client.run(_break_worker_probe, str(marks))

    report = toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, max_pixels=400_000)

    assert list(marks.iterdir()), "the workers were never asked to probe: the test proves nothing"
    assert report.counts == {"ok": 12, "failed": 2}
    rows = rows_by_source(out)
    assert rows["big.jpg"]["status"] == "failed" and rows["big.jpg"]["error"]["type"] == "decompression-bomb"
    assert rows["garbage.jpg"]["status"] == "failed" and rows["garbage.jpg"]["error"]["type"] in ("corrupt", "truncated")
    assert rows["big.jpg"]["batch"] is None and rows["garbage.jpg"]["batch"] is None  # decided by the probe, not a batch
    assert all(rows[n]["status"] == "ok" and rows[n]["width"] == 320 for n in names)
    assert outputs_on_disk(out) == ok_outputs(rows) and len(ok_outputs(rows)) == 12


# --------------------------------------------------------------------------- 4. own cluster closed on failure


@pytest.mark.parametrize("where", ["client", "workers"])
def test_cluster_the_run_started_is_closed_when_it_fails_before_its_batches(tmp_path, monkeypatch, where):
    """Probing raises (here: a disk gone mid-probe). The error reaches the caller and no worker
    process of the cluster the run started is left behind. ``client``: a short list, probed while
    the cluster is still starting; ``workers``: a long one, probed once the cluster is up."""
    from toolkit._spawn import _start_fork_server, start_method

    if start_method() == "forkserver":
        _start_fork_server()  # a long-lived helper, not a worker: in the baseline
    if where == "workers":
        monkeypatch.setattr(toolkit._probe, "PROBE_ON_WORKERS", 2)
    before = descendants()
    seen_workers: list[set[int]] = []

    def exploding_probe(items, *, client=None, **kwargs):
        if client is not None:
            seen_workers.append(alive(descendants() - before))
        raise OSError(5, "Input/output error: the disk went away while probing")

    monkeypatch.setattr(toolkit._probe, "probe_items", exploding_probe)
    src = tmp_path / "in"
    photos(src, [f"img{i}.jpg" for i in range(5)], seed=8)

    with pytest.raises(OSError, match="disk went away"):
        toolkit.build(inputs=[str(src)], output=str(tmp_path / "out"), progress=False, **CLUSTER)

    if where == "workers":
        assert seen_workers and len(seen_workers[0]) >= 2, "the cluster was not up while probing"
    for t in threading.enumerate():  # a cluster still starting in the background counts too
        if t.name == "dataprep-connect":
            t.join(60)
    assert wait_until(lambda: not alive(descendants() - before), 15, step=0.1), (
        f"processes of the run's cluster still running: {sorted(alive(descendants() - before))}"
    )


# --------------------------------------------------------------------------- 5. failure between two ops


def test_file_failing_between_two_ops_leaves_no_outputs(tmp_path, client):
    """A 1000x2 strip: its 64 px thumbnail is fine, but resizing it to fit 20000x64 makes it 20000
    pixels wide, more than WebP holds. Its row fails with no outputs, and the thumbnail the first op
    wrote is gone; the other files keep both outputs."""
    src, out = tmp_path / "in", tmp_path / "out"
    names = [f"img{i}.jpg" for i in range(4)]
    photos(src, names, seed=9)
    synth.photo(1000, 2, seed=10).save(src / "strip.png")
    ops = [{"op": "thumbnail", "size": 64}, {"op": "resize", "size": [20000, 64], "mode": "fit"}]

    report = toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, ops=ops, format="webp")

    assert report.counts == {"ok": 4, "failed": 1}
    rows = rows_by_source(out)
    strip = rows["strip.png"]
    assert strip["status"] == "failed" and strip["outputs"] == []
    assert strip["error"]["type"] == "limit-exceeded" and "strip.png" in strip["error"]["message"]
    assert not (out / "strip.thumbnail.webp").exists(), "the first op's output of the failed file was left behind"
    assert not (out / "strip.resize.webp").exists()
    for n in names:
        stem = n.rsplit(".", 1)[0]
        assert rows[n]["status"] == "ok" and rows[n]["outputs"] == [f"{stem}.thumbnail.webp", f"{stem}.resize.webp"]
    assert outputs_on_disk(out) == ok_outputs(rows)  # nothing else: no temp files, no strays


def test_a_batch_abandoned_by_a_stop_writes_nothing_after_the_run_ended(tmp_path, monkeypatch, make_cluster):
    """A stop abandons a batch stuck on a slow file (grace over). When that file finishes, the run
    is over: the batch must not put outputs made with this run's settings over the earlier ones,
    or the next run would carry rows whose files say otherwise."""
    monkeypatch.setenv(TEST_HANG_ENV, "slow:3")  # files named *hang* take 3 s
    client = make_cluster(jobs=1)
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src, ["a0-hang.jpg"] + [f"a{i}.jpg" for i in range(1, 6)], size=(640, 480), seed=8)
    first = toolkit.build(inputs=[str(src)], output=str(out), client=client, batch_size=6, size=64, progress=False)
    assert first.counts == {"ok": 6}
    run = toolkit.start(inputs=[str(src)], output=str(out), client=client, batch_size=6, size=128)
    jdir = out / ".dataprep" / "journal"
    assert wait_until(lambda: any('"start": 0' in p.read_text() for p in jdir.glob("*.jsonl")), 60)
    run.stop(grace=0.3)
    assert run.result(timeout=60).stopped
    assert wait_until(lambda: workers_idle(client), 30)  # the abandoned batch is over, slow file and all

    def sides() -> set[int]:
        found = set()
        for rel in outputs_on_disk(out):
            with Image.open(out / rel) as im:
                found.add(max(im.size))
        return found

    assert sides() == {64}  # nothing from the abandoned 128 px run
    again = toolkit.build(inputs=[str(src)], output=str(out), client=client, batch_size=6, size=64, progress=False)
    assert again.counts == {"ok": 6} and sides() == {64}


def test_a_video_abandoned_by_a_stop_leaves_the_earlier_outputs_as_they_were(tmp_path, monkeypatch, make_cluster):
    """ffmpeg makes video outputs under temporary names: a file that finishes after its run was
    over must not put them in place, neither over the outputs an earlier build made (they may
    also be a later build's) nor beside them."""
    from toolkit._synth_video import make_video

    monkeypatch.setenv(TEST_HANG_ENV, "slow:3")
    client = make_cluster(jobs=1)
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_video(src / "clip-hang.mp4", seconds=2)
    settings = dict(inputs=[str(src)], output=str(out), client=client, op="frames", fps=1)
    first = toolkit.build(**settings, size=48, progress=False)
    assert first.counts == {"ok": 1}
    before = {rel: (out / rel).read_bytes() for rel in outputs_on_disk(out)}
    assert before
    run = toolkit.start(**settings, size=96)
    jdir = out / ".dataprep" / "journal"
    assert wait_until(lambda: any('"start": 0' in p.read_text() for p in jdir.glob("*.jsonl")), 60)
    run.stop(grace=0.3)
    assert run.result(timeout=60).stopped
    assert wait_until(lambda: workers_idle(client), 30)  # the slow file and its ffmpeg are done
    assert {rel: (out / rel).read_bytes() for rel in outputs_on_disk(out)} == before
