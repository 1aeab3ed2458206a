"""Output-side faults are not input faults: a disk that fills up, or an output folder that turns
read-only, mid-build. The run names it ``output-write-failed`` (path, OS reason, fix), stops
promptly like a stop (no more decoding into the void), keeps every finished row, leaves the
manifest whole and a summary that says why, exits 1 without a traceback, and the same command
then finishes the rest.

Always run: faults through the code's own seams (``DATAPREP_TEST_WRITE_FAULT`` in the real worker
processes of a real LocalCluster; the manifest's own ``write`` on the client). Where this process
may mount, also on a real small file system (a tmpfs filled up; a read-only mount put over the
output mid-run); those tests try the mount and skip when it fails.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import toolkit
import toolkit._fs
import toolkit._outfault
from toolkit import _synth as synth, _synth_video as synth_video
from toolkit._fs import TEST_WRITE_FAULT_ENV
from toolkit._errors import OutputWriteError
from toolkit._manifest import Manifest, read_rows
from toolkit._worker import TEST_HANG_ENV

from helpers import bookkeeping_left, rows_by_source, wait_until

INPUT_BLAME = {"corrupt", "permission-denied", "not-found", "truncated", "unidentified"}


# --------------------------------------------------------------------------- helpers


def photos(folder: Path, n: int, size=(320, 240), prefix="img") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    base = synth.photo(size[0], size[1], 11)
    names = [f"{prefix}{i:03d}.jpg" for i in range(n)]
    for i, name in enumerate(names):
        base.rotate((i * 37) % 360).save(folder / name, quality=85)
    return names


def noise_pngs(folder: Path, n: int, side=600) -> list[str]:
    """PNGs of seeded noise: they barely compress, so each output is ~1 MiB."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    names = [f"noise{i:02d}.png" for i in range(n)]
    for name in names:
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / name, compress_level=1)
    return names


@pytest.fixture
def fault_env(monkeypatch):
    """Set an environment variable for the workers of the clusters started next, and only those:
    the fork server (which outlives clusters, and passes on what it had when it started) starts
    first, without it."""
    from toolkit._cluster import prestart

    prestart(None)
    return lambda name, value: monkeypatch.setenv(name, value)


def fill_up(path: Path) -> None:
    """Write zeros to ``path`` until its file system is full (as another writer would)."""
    with open(path, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


def _count_decodes() -> None:
    """Runs in each worker: count the images it decodes (reset if already counting)."""
    import toolkit._ops.image as iops

    real = getattr(iops.load_image, "real", iops.load_image)

    def counting(*a, **k):
        counting.n += 1
        return real(*a, **k)

    counting.n, counting.real = 0, real
    iops.load_image = counting


def _decodes() -> int:
    import toolkit._ops.image as iops

    return getattr(iops.load_image, "n", 0)


def _setenv(name: str, value: str | None) -> None:
    """Runs in each worker: set (or, with None, remove) an environment variable."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def decoded(client) -> int:
    return sum(client.run(_decodes).values())


def manifest_lines_whole(out: Path) -> list[dict]:
    """Every line of the manifest parses as a row, the last one ends with a newline."""
    data = (out / "manifest.jsonl").read_bytes()
    assert not data or data.endswith(b"\n"), f"the manifest ends in half a line: {data[-80:]!r}"
    return [json.loads(line) for line in data.splitlines()]


def assert_stopped_for_the_output(report, rows_done_ok: dict, out: Path, code: str) -> None:
    assert report.stopped and report.exit_code == 1
    why = report.stop_reason
    assert why and why["type"] == "output-write-failed" and why["errno"] == code, why
    assert "run the same command again" in why["message"]
    assert str(out) in why["path"]
    for src, row in rows_done_ok.items():
        assert row["status"] == "ok", row
        for o in row["outputs"]:
            assert (out / o).is_file(), f"{src}: its output {o} is missing"


def no_input_blamed(rows: list[dict]) -> None:
    blamed = [(r["source"], r["error"]) for r in rows if r.get("error") and r["error"]["type"] in INPUT_BLAME]
    assert not blamed, f"inputs blamed for the output's fault: {blamed}"


# --------------------------------------------------------------------------- the seam, in one process


def test_an_output_that_takes_no_more_is_raised_not_blamed_on_the_input(tmp_path, monkeypatch):
    """The worker's write seam: a full disk while writing raises OutputWriteError (the batch ends);
    it never becomes a ``corrupt`` row. Another write error fails only that file, as output-write-failed."""
    from toolkit._ops import OpSpec
    from toolkit._names import assign_outputs
    from toolkit._worker import JobSpec, process_item

    src, out = tmp_path / "in", tmp_path / "out"
    photos(src, 1)
    out.mkdir()
    (item,) = assign_outputs(toolkit.scan([str(src)]).items, multi_root=False)
    job = JobSpec(ops=(OpSpec.make("thumbnail", size=32),), output=str(out))
    monkeypatch.setattr(toolkit._fs, "_outputs_written", 0)
    monkeypatch.setenv(TEST_WRITE_FAULT_ENV, "ENOSPC:1")
    with pytest.raises(OutputWriteError) as caught:
        process_item(item, job)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(out / "img000.jpg")
    assert sorted(p.name for p in out.iterdir()) == []  # no output, no temporary file left

    monkeypatch.setenv(TEST_WRITE_FAULT_ENV, "EFBIG:1")  # the disk still takes writes: only this file fails
    row = process_item(item, job).to_row()
    assert row["status"] == "failed" and row["error"]["type"] == "output-write-failed", row
    assert "img000.jpg" in row["error"]["message"] and os.strerror(errno.EFBIG) in row["error"]["message"]


def test_manifest_append_that_fills_the_disk_midline_leaves_whole_lines(tmp_path, monkeypatch):
    """The disk fills up halfway through a manifest line: the append raises OutputWriteError and
    the file is cut back to its last whole line; the next append (space freed) goes on from there."""
    m = Manifest(tmp_path)
    row = lambda i: {"source": f"a{i}.jpg", "source_b64": f"YT{i}", "input_root": "r", "status": "ok"}  # noqa: E731
    m.start([row(0)], earlier=[])
    real = toolkit._outfault._write_some

    def half_then_full(fd, data):
        os.write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(toolkit._outfault, "_write_some", half_then_full)
    with pytest.raises(OutputWriteError) as caught:
        m.append([row(1), row(2)])
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "manifest.jsonl")
    assert [r["source"] for r in manifest_lines_whole(tmp_path)] == ["a0.jpg"]
    monkeypatch.setattr(toolkit._outfault, "_write_some", real)
    m.append([row(3)])
    assert [r["source"] for r in manifest_lines_whole(tmp_path)] == ["a0.jpg", "a3.jpg"]


def test_manifest_finish_on_a_full_disk_keeps_the_appended_manifest_whole(tmp_path, monkeypatch):
    """The sorted rewrite at the end cannot be written (its temporary file finds the disk full) and
    the appended file ends in a torn line (a write that went half through): finish raises
    OutputWriteError, and the manifest is the appended one cut back to whole lines."""
    m = Manifest(tmp_path)
    rows = [{"source": f"a{i}.jpg", "source_b64": f"YT{i}", "input_root": "r", "status": "ok"} for i in range(3)]
    m.start(rows[:1], earlier=[])
    m.append(rows[1:])
    with open(tmp_path / "manifest.jsonl", "ab") as fh:
        fh.write(b'{"source": "a9.jp')  # half a line, as a disk that filled up mid-write leaves it
    real_open = open

    def full_disk_open(path, mode="r", *a, **k):
        if "manifest" in os.path.basename(path) and "x" in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(toolkit._fs, "open", full_disk_open, raising=False)
    with pytest.raises(OutputWriteError):
        m.finish()
    assert [r["source"] for r in manifest_lines_whole(tmp_path)] == ["a0.jpg", "a1.jpg", "a2.jpg"]


def test_ffmpeg_complaints_about_its_output_are_output_faults():
    """ffmpeg writes video outputs itself: what it says of its *output* (stderr lines recorded from
    this ffmpeg: a full tmpfs, a read-only mount, a folder another user owns) is output-side; a
    permission problem of the input stays the input's."""
    from toolkit._outfault import ffmpeg_output_fault

    full = (
        "[vost#0:0/mjpeg @ 0x55] Error submitting a packet to the muxer: No space left on device\n"
        "[out#0/image2 @ 0x55] Task finished with error code: -28 (No space left on device)\nConversion failed!\n"
    )
    ro = "[out#0/mp4 @ 0x55] Error opening output .a.mp4.1f2e.dataprep-tmp: Read-only file system\n"
    denied = (
        "[image2 @ 0x56] Could not open file : .000001.jpg.tok.dataprep-tmp\n"
        "[vost#0:0/mjpeg @ 0x56] Error submitting a packet to the muxer: Permission denied\n"
    )
    own_input = (
        "[in#0 @ 0x55] Error opening input: Permission denied\n"
        "Error opening input file /data/output/in.mp4.\nError opening input files: Permission denied\n"
    )
    assert ffmpeg_output_fault(full, "/o/x", "/i/a.mp4").errno == errno.ENOSPC
    assert ffmpeg_output_fault(ro, "/o/x", "/i/a.mp4").errno == errno.EROFS
    fault = ffmpeg_output_fault(denied, "/o/x", "/i/a.mp4")
    assert fault.errno == errno.EACCES and fault.filename == "/o/x"
    assert ffmpeg_output_fault(own_input, "/o/x", "/data/output/in.mp4") is None
    big = "[out#0/mp4 @ 0x55] Error writing trailer: File too large\n"
    assert ffmpeg_output_fault(big, "/o/x", "/i/a.mp4").errno == errno.EFBIG  # this file fails; the run goes on


def test_words_in_an_input_name_or_tag_are_not_an_output_fault(tmp_path):
    """A damaged video whose name or title holds "read-only file system" or "No space left on
    device" is the input's problem: it must not stop every build as a full or read-only disk.
    Real ffmpeg stderr of such a file (tagged, named so, cut short) is read as the input's."""
    from toolkit._ops.video import ffmpeg_exe
    from toolkit._outfault import ffmpeg_output_fault

    src = tmp_path / "clip from the read-only file system backup.mp4"
    synth_video.make_video(src, seconds=1, size=(64, 48))
    tagged = tmp_path / "No space left on device.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(src),
            "-c",
            "copy",
            "-metadata",
            "title=No space left on device",
            "-metadata",
            "comment=Read-only file system",
            str(tagged),
        ],
        check=True,
    )
    data = tagged.read_bytes()
    tagged.write_bytes(data[: len(data) // 3])  # damaged: ffmpeg complains about it too
    for path in (src, tagged):
        err = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "level+verbose", "-i", str(path), "-f", "null", "-"],
            capture_output=True,
            text=True,
        ).stderr
        assert "no space left on device" in err.lower() or "read-only file system" in err.lower()
        assert ffmpeg_output_fault(err, tmp_path / "out", path) is None


# --------------------------------------------------------------------------- the seam, in real workers


@pytest.mark.integration
@pytest.mark.parametrize("code", ["ENOSPC", "EROFS"])
def test_output_fault_in_the_workers_stops_the_run_and_the_same_command_resumes(
    tmp_path, monkeypatch, make_cluster, fault_env, code
):
    """Each worker's third output write fails (disk full / read-only). The run stops promptly: far
    fewer files decoded than the 60 inputs; the files done keep ok rows and outputs; no input is
    blamed; manifest and summary say why. With the fault lifted, the same call finishes the rest."""
    fault_env(TEST_WRITE_FAULT_ENV, f"{code}:3")  # read by the workers started below
    client = make_cluster()
    monkeypatch.delenv(TEST_WRITE_FAULT_ENV)
    client.run(_count_decodes)
    src, out = tmp_path / "in", tmp_path / "out"
    names = photos(src, 60)
    settings = dict(inputs=[str(src)], output=str(out), client=client, batch_size=4, size=64, progress=False)

    report = toolkit.build(**settings)

    rows = manifest_lines_whole(out)
    by_src = rows_by_source(out)
    assert_stopped_for_the_output(report, by_src, out, code)
    no_input_blamed(rows)
    assert 2 <= len(rows) <= 8, [r["source"] for r in rows]  # two per worker landed before the fault
    n = decoded(client)
    assert n <= 16, f"{n} files decoded after the output was gone: the run did not stop promptly"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] is True and summary["stop_reason"]["type"] == "output-write-failed"

    client.run(_setenv, TEST_WRITE_FAULT_ENV, None)  # the disk has room again
    again = toolkit.build(**settings)
    assert not again.stopped and again.counts == {"ok": 60}
    final = rows_by_source(out, n=60)
    assert sorted(final) == names and all(r["status"] == "ok" for r in final.values())
    assert not bookkeeping_left(out)


@pytest.mark.integration
def test_manifest_that_cannot_be_appended_stops_the_run_whole(tmp_path, monkeypatch, make_cluster):
    """The client side: the disk fills up while the manifest takes a batch's rows (halfway through a
    line), and the sorted rewrite at the end finds it full too. No traceback: the run stops with
    output-write-failed, the manifest is whole lines, and the same call then finishes."""
    client = make_cluster()
    src, out = tmp_path / "in", tmp_path / "out"
    names = photos(src, 40)
    calls = {"n": 0}
    real_write, real_open = toolkit._outfault._write_some, open

    def fills_up(fd, data):
        calls["n"] += 1
        if calls["n"] < 3:
            return real_write(fd, data)
        os.write(fd, bytes(data[: len(data) // 3]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full_for_the_manifest(path, mode="r", *a, **k):
        if calls["n"] >= 3 and "x" in mode and "manifest" in os.path.basename(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(toolkit._outfault, "_write_some", fills_up)
    monkeypatch.setattr(toolkit._fs, "open", full_for_the_manifest, raising=False)
    settings = dict(inputs=[str(src)], output=str(out), client=client, batch_size=4, size=64, progress=False)

    report = toolkit.build(**settings)

    rows = manifest_lines_whole(out)
    assert report.stopped and report.stop_reason["type"] == "output-write-failed", report.stop_reason
    assert report.stop_reason["path"].endswith("manifest.jsonl") and report.stop_reason["errno"] == "ENOSPC"
    assert 8 <= len(rows) < 40 and all(r["status"] == "ok" for r in rows)  # two batches' rows, whole
    assert json.loads((out / "summary.json").read_text())["stop_reason"]["errno"] == "ENOSPC"

    monkeypatch.undo()
    again = toolkit.build(**settings)
    assert not again.stopped and again.counts == {"ok": 40}
    assert sorted(rows_by_source(out, n=40)) == names


@pytest.mark.integration
def test_cli_on_a_full_disk_says_what_to_do_and_resumes(tmp_path):
    """``dataprep build`` whose workers find the disk full: exit 1, the fix in the message, no
    traceback; the same command without the fault finishes with every input once. The files' names
    hold a newline and a bidi override: the message names one escaped, on one line."""
    src, out = tmp_path / "in", tmp_path / "out"
    names = photos(src, 30, prefix="im\n\u202eg")
    cmd = [
        sys.executable,
        "-m",
        "toolkit",
        "build",
        "--input",
        str(src),
        "--output",
        str(out),
        "--size",
        "64",
        "--batch-size",
        "3",
        "--jobs",
        "2",
        "--memory-limit",
        "1GiB",
        "--dashboard-address",
        "127.0.0.1:0",
    ]
    env = {**os.environ, TEST_WRITE_FAULT_ENV: "ENOSPC:2"}

    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)

    assert first.returncode == 1, first.stderr[-2000:]
    assert "Traceback" not in first.stderr and "Traceback" not in first.stdout
    assert "output-write-failed" in first.stderr and "No space left on device" in first.stderr
    assert "Free space on" in first.stderr and "run the same command again" in first.stderr
    assert "\u202e" not in first.stderr and "im\\n\\u202eg" in first.stderr
    no_input_blamed(manifest_lines_whole(out))
    report = subprocess.run([sys.executable, "-m", "toolkit", "report", str(out)], capture_output=True, text=True)
    assert report.returncode == 1 and "output-write-failed" in report.stderr

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert sorted(rows_by_source(out, n=30)) == names


@pytest.mark.integration
def test_the_panel_shows_why_the_build_stopped(tmp_path, monkeypatch, make_cluster, fault_env):
    """The notebook panel renders the run's events and report: a full disk shows as the stop reason,
    not as an error (no exception) and not as failed files."""
    from toolkit._widgets import Panel

    fault_env(TEST_WRITE_FAULT_ENV, "ENOSPC:2")
    client = make_cluster()
    monkeypatch.delenv(TEST_WRITE_FAULT_ENV)
    src = tmp_path / "in"
    photos(src, 20)
    p = Panel(client=client, inputs=[str(src)], output=str(tmp_path / "out"), op="thumbnail", size=64, batch_size=3)
    p.start_button.click()
    assert p.wait(120), p.log.outputs
    assert p.error is None, p.error
    assert p.report.stop_reason["type"] == "output-write-failed"
    assert "output-write-failed" in p.status.value and "No space left on device" in p.status.value
    assert "Free space on" in p.report_view.value
    assert "stopping: cannot write" in "".join(o.get("text", "") for o in p.log.outputs)
    assert "output-write-failed" not in p.failed_table.value and p.report.failed == 0


# --------------------------------------------------------------------------- a real small file system


@pytest.fixture
def mounts(tmp_path):
    """Mount helpers for a test (skips it when this process may not mount); all undone afterwards."""
    made: list[Path] = []

    def run(*args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            return subprocess.CompletedProcess(args, 1, "", str(exc))

    def tmpfs(size: str) -> Path:
        mnt = tmp_path / "mnt"
        mnt.mkdir(exist_ok=True)
        r = run("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt))
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        made.append(mnt)
        return mnt

    def must(*args: str) -> None:
        r = run(*args)
        assert r.returncode == 0, f"mount {' '.join(args)}: {r.stderr}"
        if "--bind" in args:
            made.append(Path(args[-1]))

    yield tmpfs, must
    for mnt in reversed(made):
        for _ in range(5):
            if not os.path.ismount(mnt):
                break
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.integration
def test_a_real_disk_that_fills_up(tmp_path, mounts, make_cluster):
    """Outputs of ~1 MiB each onto a 3 MiB tmpfs: after two or so the disk is full. The run stops
    promptly with ENOSPC and the mount's name in the fix; with room made, the same call finishes."""
    tmpfs, must = mounts
    mnt = tmpfs("3m")
    out = mnt / "out"
    src = tmp_path / "in"
    names = noise_pngs(src, 24)
    client = make_cluster()
    client.run(_count_decodes)
    settings = dict(
        inputs=[str(src)], output=str(out), client=client, batch_size=2, op="resize", size=600, format="png", progress=False
    )

    report = toolkit.build(**settings)

    rows = manifest_lines_whole(out)
    assert_stopped_for_the_output(report, rows_by_source(out), out, "ENOSPC")
    assert f"Free space on {mnt}" in report.stop_reason["message"]
    no_input_blamed(rows)
    n = decoded(client)
    assert n <= 10, f"{n} of 24 files decoded: the run went on decoding into a full disk"
    assert all(r["status"] == "ok" for r in rows)

    must("-o", "remount,size=64m", str(mnt))
    again = toolkit.build(**settings)
    assert not again.stopped and again.counts == {"ok": 24}
    assert sorted(rows_by_source(out, n=24)) == names


@pytest.mark.integration
def test_an_output_made_read_only_mid_run(tmp_path, mounts, make_cluster, monkeypatch, fault_env):
    """After the first rows land, the output folder turns read-only (a read-only mount put over it:
    ``mount -o remount,ro`` of the file system itself is refused while the build holds files open
    for writing). The run stops with EROFS, blames no input, and the message still says it all
    though not even the summary can be written; made writable again, the same call finishes."""
    tmpfs, must = mounts
    mnt = tmpfs("64m")
    out = mnt / "out"
    src = tmp_path / "in"
    fault_env(TEST_HANG_ENV, "slow:0.15")  # files named *hang* take 0.15 s: the run lasts a while
    names = photos(src, 60, prefix="hang")
    client = make_cluster()
    monkeypatch.delenv(TEST_HANG_ENV)
    client.run(_count_decodes)
    settings = dict(inputs=[str(src)], output=str(out), client=client, batch_size=2, size=64)
    run = toolkit.start(**settings)
    assert wait_until(lambda: len(read_rows(out / "manifest.jsonl")) >= 4 or run.done, 120)
    assert not run.done, "the build ended before the output could be made read-only"
    must("--bind", str(out), str(out))
    must("-o", "remount,ro,bind", str(out))
    at_remount = decoded(client)

    report = run.result(timeout=120)

    assert report.stopped and report.stop_reason["errno"] == "EROFS", report.stop_reason
    assert "read-only" in report.stop_reason["message"] and "run the same command again" in report.stop_reason["message"]
    assert f"{out} is read-only" in report.stop_reason["message"]  # the read-only mount, not the tmpfs under it
    assert "output-write-failed" in str(report)
    rows = manifest_lines_whole(out)
    no_input_blamed(rows)
    assert all(r["status"] == "ok" for r in rows) and len(rows) < 60
    assert decoded(client) - at_remount <= 8, "files kept being decoded into a read-only output"

    subprocess.run(["umount", "-l", str(out)], check=True)  # writable again
    client.run(_setenv, TEST_HANG_ENV, None)
    again = toolkit.build(**settings, progress=False)
    assert not again.stopped and again.counts == {"ok": 60}
    assert sorted(rows_by_source(out, n=60)) == names


def test_an_output_on_a_read_only_file_system_is_refused_before_any_work(tmp_path, mounts):
    """An output on a read-only mount: exit 2 at once, naming the mount and what to do, nothing
    made, no traceback (not 'check its permissions': no permission would help)."""
    tmpfs, must = mounts
    mnt = tmpfs("8m")
    (mnt / "ro").mkdir()
    must("--bind", str(mnt / "ro"), str(mnt / "ro"))
    must("-o", "remount,ro,bind", str(mnt / "ro"))
    src = tmp_path / "in"
    photos(src, 2)
    r = subprocess.run(
        [sys.executable, "-m", "toolkit", "build", "--input", str(src), "--output", str(mnt / "ro" / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "read-only file system" in r.stderr and f"{mnt / 'ro'} is read-only" in r.stderr and "remount" in r.stderr
    assert not (mnt / "ro" / "out").exists()


@pytest.mark.integration
def test_an_output_folder_deleted_mid_run(tmp_path, make_cluster, fault_env):
    """The output folder disappears under the build (deleted; an unmounted disk looks the same): it
    is not made anew by the next write, the run stops saying the folder is gone, and the same call
    builds it all again."""
    import shutil

    src, out = tmp_path / "in", tmp_path / "out"
    fault_env(TEST_HANG_ENV, "slow:0.15")
    names = photos(src, 40, prefix="hang")
    client = make_cluster()
    run = toolkit.start(inputs=[str(src)], output=str(out), client=client, batch_size=2, size=64)
    assert wait_until(lambda: len(read_rows(out / "manifest.jsonl")) >= 4 or run.done, 120)
    assert not run.done, "the build ended before its output could be removed"
    shutil.rmtree(out)

    report = run.result(timeout=120)

    assert report.stopped and report.stop_reason["errno"] == "ENOENT", report.stop_reason
    assert "is gone" in report.stop_reason["message"] and not report.failed
    assert not out.exists() or not any(out.rglob("*.jpg")), "the deleted output folder was made anew"
    client.run(_setenv, TEST_HANG_ENV, None)
    again = toolkit.build(inputs=[str(src)], output=str(out), client=client, batch_size=2, size=64, progress=False)
    assert not again.stopped and again.counts == {"ok": 40}
    assert sorted(rows_by_source(out, n=40)) == names


@pytest.mark.parametrize("op", ["frames", "transcode"])
def test_ffmpeg_writing_onto_a_full_disk_is_an_output_fault(tmp_path, mounts, op):
    """ffmpeg writes video outputs itself: on a real full tmpfs its failure is an OutputWriteError
    (ENOSPC, naming the output folder), never a ``corrupt`` video."""
    from toolkit._ops import OpSpec
    from toolkit._ops import video as vops
    from toolkit._synth_video import make_video

    tmpfs, _must = mounts
    clip = make_video(tmp_path / "clip.mp4", seconds=2, size=(320, 240))
    mnt = tmpfs("256k")
    fill_up(mnt / "filler")  # another writer filled the disk
    out = mnt / "out"
    out.mkdir()
    info = vops.probe_video(str(clip))
    spec = OpSpec.make(op, fps=5) if op == "frames" else OpSpec.make(op)

    with pytest.raises(OutputWriteError) as caught:
        vops.run_video_ops(str(clip), info, (spec,), str(out), "clip", fmt="jpeg", quality=85, background="#ffffff", timeout=60)
    assert caught.value.errno == errno.ENOSPC and str(out) in caught.value.filename
    assert not [p for p in out.rglob("*") if p.is_file()], "a temporary file or a partial output was left"


@pytest.mark.integration
def test_a_disk_already_full_when_the_build_starts(tmp_path, mounts, make_cluster):
    """A rerun on a disk another writer has filled since: the new manifest cannot even be started.
    No batch runs, the earlier manifest stands as it was, and the reason is the output's; with the
    space back, the same call does the new files."""
    tmpfs, _must = mounts
    mnt = tmpfs("2m")
    out, src = mnt / "out", tmp_path / "in"
    photos(src, 4)
    client = make_cluster()
    settings = dict(inputs=[str(src)], output=str(out), client=client, size=64, progress=False)
    assert toolkit.build(**settings).counts == {"ok": 4}
    before = (out / "manifest.jsonl").read_bytes()
    names = photos(src, 8)
    filler = mnt / "filler"
    fill_up(filler)

    said: list = []
    report = toolkit.build(**{**settings, "progress": said.append})

    assert report.stopped and report.stop_reason["errno"] == "ENOSPC", report.stop_reason
    assert report.batches == 0 and not report.failed
    warned = [e.data["message"] for e in said if e.kind == "warning"]
    assert any(m.startswith("stopping: cannot write") for m in warned), warned  # told as it happens, too
    assert (out / "manifest.jsonl").read_bytes() == before
    filler.unlink()
    again = toolkit.build(**settings)
    assert not again.stopped and again.counts == {"ok": 8}
    assert sorted(rows_by_source(out, n=8)) == names
