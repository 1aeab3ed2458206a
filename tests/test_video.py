"""Unit tests of the video ops (toolkit._ops.video) over small generated videos (fast: a few seconds in all)."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from PIL import Image, ImageStat

from toolkit._fs import TMP_SUFFIX
from toolkit._ops import FileProblem, OpSpec
from toolkit._ops import ffmpeg
from toolkit._ops import video as v
from toolkit._ops.video import grab
from toolkit._ops.video.deadline import _Deadline
from toolkit import _synth_video as sv

from helpers import wait_until

RUN = dict(fmt="jpeg", quality=85, background="#ffffff", timeout=60)


def made(folder: Path) -> Path:
    """An output folder, made as a build makes it (video ops never make the output folder itself)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def vids(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    return {
        "plain": sv.make_video(d / "plain.mp4", seconds=3, size=(320, 240), fps=25),
        "rot": sv.make_video(d / "rot.mp4", seconds=2, size=(320, 240), fps=25, rotate=90, seed=1),
        "vfr": sv.make_video(d / "vfr.mp4", seconds=3, size=(160, 120), fps=25, vfr=True),
        "audio": sv.make_video(d / "audio.mp4", seconds=2, size=(160, 120), fps=30, audio=True, seed=2),
        "black": sv.make_video(d / "black.mp4", seconds=3, size=(160, 120), black_start=1.0),
        "gop": sv.make_video(d / "gop.mp4", seconds=3, size=(160, 120), fps=25, gop=25),
        "mpeg4": sv.make_video(d / "mpeg4.mp4", seconds=1, size=(160, 120), codec="mpeg4"),
        "audio_only": sv.make_audio_only(d / "audio-only.mp4"),
        "truncated": sv.make_truncated_video(d / "truncated.mp4"),
        "not_video": sv.make_not_a_video(d / "not-a-video.mp4"),
    }


def _no_tmp(root) -> None:
    assert not [p for p in Path(root).rglob("*") if p.name.endswith(TMP_SUFFIX)]


def _ffmpeg_children_of_path(needle: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
        except (psutil.Error, TypeError):
            continue
        if "ffmpeg" in (p.info["name"] or "") + cmd and needle in cmd:
            found.append(p)
    return found


# ---------------------------------------------------------------------------------- probe


def test_probe_facts(vids):
    info = v.probe_video(vids["plain"])
    assert (info.width, info.height, info.rotation, info.codec) == (320, 240, 0, "h264")
    assert info.fps == 25 and info.duration == pytest.approx(3.0, abs=0.05) and info.frames == 75
    assert info.has_video and info.est_bytes > 320 * 240 * 1.5 * 8
    assert v.probe_video(vids["mpeg4"]).codec == "mpeg4"


def test_probe_rotation_swaps_dims(vids):
    info = v.probe_video(vids["rot"])
    assert info.rotation in (90, 270) and (info.width, info.height) == (240, 320)


@pytest.mark.parametrize("key, code", [("audio_only", "no-video-stream"), ("truncated", "truncated"), ("not_video", "corrupt")])
def test_probe_broken(vids, key, code):
    with pytest.raises(FileProblem) as e:
        v.probe_video(vids[key])
    assert e.value.code == code and os.path.basename(vids[key]) in e.value.message


def test_probe_empty_and_missing(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(FileProblem, match="empty") as e:
        v.probe_video(str(tmp_path / "empty.mp4"))
    assert e.value.code == "empty-file"
    with pytest.raises(FileProblem) as e:
        v.probe_video(str(tmp_path / "nope.mp4"))
    assert e.value.code == "not-found"


def test_classify():
    assert v.classify_ffmpeg_error("x.mp4: Permission denied", "x.mp4").code == "permission-denied"
    assert v.classify_ffmpeg_error("[mov] moov atom not found", "x.mp4").code == "truncated"
    assert v.classify_ffmpeg_error("x: Invalid data found when processing input", "x").code == "corrupt"


# ---------------------------------------------------------------------------------- frames


def _frames(path, info, out, **params):
    os.makedirs(out, exist_ok=True)  # the output folder exists, as in a build: it is never made anew
    outs, warns, extra = v.run_video_ops(path, info, (OpSpec.make("frames", **params),), str(out), "f", **RUN)
    return outs, warns, extra.get("frames", [])


def test_frames_fps(vids, tmp_path):
    outs, warns, rows = _frames(vids["plain"], v.probe_video(vids["plain"]), tmp_path, fps=1, size=64)
    assert outs == ["f/000000.jpg", "f/000001.jpg", "f/000002.jpg"] and not warns
    ts = [r["t"] for r in rows]
    assert ts == sorted(ts) and ts[0] == 0 and ts == pytest.approx([0, 1, 2], abs=0.05)
    assert Image.open(tmp_path / outs[0]).size == (64, 48)
    _no_tmp(tmp_path)


def test_frames_leave_nothing_when_putting_them_in_place_fails_midway(vids, tmp_path, monkeypatch):
    """The disk fills up (or a rename fails) after 2 of 3 frames are in place: the file fails and
    neither those 2 frames nor the third's temporary file are left behind."""
    real, calls = os.replace, []

    def replace(src, dst, *a, **kw):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        _frames(vids["plain"], v.probe_video(vids["plain"]), tmp_path, fps=1, size=64)
    assert len(calls) == 3
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_frames_count_every_keyframes(vids, tmp_path):
    info = v.probe_video(vids["gop"])
    outs, _w, rows = _frames(vids["gop"], info, tmp_path / "c", count=7)
    assert len(outs) == 7 and [r["index"] for r in rows] == list(range(7))
    ts = [r["t"] for r in rows]
    assert ts == sorted(ts) and len(set(ts)) == 7
    outs, _w, _r = _frames(vids["gop"], info, tmp_path / "e", every=10)
    assert len(outs) == math.ceil(75 / 10)
    outs, _w, rows = _frames(vids["gop"], info, tmp_path / "k", keyframes=True)
    assert [r["t"] for r in rows] == pytest.approx([0, 1, 2], abs=0.01)  # -g 25 at 25 fps
    _no_tmp(tmp_path)


def test_frames_vfr_timestamps_are_decoded_ones(vids, tmp_path):
    info = v.probe_video(vids["vfr"])
    _o, _w, rows = _frames(vids["vfr"], info, tmp_path, every=1)
    # the first second at 25 fps, then every third frame (0.12 s apart): n/25 for n<25 or n%3==0
    expected = [n / 25 for n in range(75) if n < 25 or n % 3 == 0]
    assert [r["t"] for r in rows] == pytest.approx(expected, abs=0.002)
    _o, _w, rows = _frames(vids["vfr"], info, tmp_path / "r", fps=4)
    assert all(any(abs(r["t"] - e) < 0.002 for e in expected) for r in rows)  # real frames, not a grid
    assert len(rows) == 12  # one per 0.25 s span


def test_rotation_upright_everywhere(vids, tmp_path):
    info = v.probe_video(vids["rot"])
    ops = (OpSpec.make("frames", count=2), OpSpec.make("poster"), OpSpec.make("transcode", size=120))
    outs, _w, _e = v.run_video_ops(vids["rot"], info, ops, str(tmp_path), "r", **RUN)
    assert Image.open(tmp_path / "r/000000.jpg").size == (240, 320)
    assert Image.open(tmp_path / "r.poster.jpg").size == (240, 320)
    back = v.probe_video(str(tmp_path / "r.mp4"))
    assert (back.width, back.height) == (120, 160) and back.rotation == 0
    assert v.poster_frame(vids["rot"], info, timeout=30).size == (240, 320)


# ---------------------------------------------------------------------------------- poster / sheet


def test_poster_skips_black_start(vids, tmp_path):
    info = v.probe_video(vids["black"])
    im = v.poster_frame(vids["black"], info, timeout=30)
    st = ImageStat.Stat(im.convert("L"))
    assert st.mean[0] > 40 and st.stddev[0] > 20
    outs, _w, extra = v.run_video_ops(vids["black"], info, (OpSpec.make("poster", size=64),), str(tmp_path), "b", **RUN)
    assert outs == ["b.poster.jpg"] and extra["poster_t"] >= 1.0
    assert max(Image.open(tmp_path / outs[0]).size) == 64


def test_outputs_are_recorded_under_the_output_folder_only(vids, tmp_path):
    """run_video_ops records what it places in a caller's Placed, by name under the output folder:
    one rooted elsewhere is refused before anything is made."""
    from toolkit._fs import Placed

    info = v.probe_video(vids["black"])
    ops = (OpSpec.make("poster", size=64),)
    with pytest.raises(ValueError, match="rooted at"):
        v.run_video_ops(vids["black"], info, ops, str(tmp_path), "b", placed=Placed(tmp_path / "elsewhere"), **RUN)
    assert not any(tmp_path.iterdir())
    placed = Placed(tmp_path)
    outs, _w, _e = v.run_video_ops(vids["black"], info, ops, str(tmp_path), "b", placed=placed, **RUN)
    assert placed.names == outs == ["b.poster.jpg"] and placed.bytes == (tmp_path / "b.poster.jpg").stat().st_size


@pytest.mark.parametrize(
    "op",
    [
        OpSpec.make("poster", size=64),
        OpSpec.make("frames", count=2, size=64),
        OpSpec.make("contact-sheet", frames=2),
        OpSpec.make("clip", seconds=1),
        OpSpec.make("transcode", size=64),
    ],
    ids=lambda o: o.name,
)
def test_an_output_folder_that_is_gone_is_never_made_anew(vids, tmp_path, op):
    """The output disk unmounted, or the folder deleted, while a video runs: its next output must
    not be written into a fresh folder (on the bare mount point, the system disk): it is an
    output-side fault naming the folder, and nothing is made."""
    from toolkit._errors import OutputWriteError

    gone = tmp_path / "out"
    with pytest.raises(OutputWriteError) as caught:
        v.run_video_ops(vids["plain"], v.probe_video(vids["plain"]), (op,), str(gone), "p", **RUN)
    assert caught.value.filename == str(gone) and not gone.exists()


@pytest.mark.parametrize("n, cols, grid", [(6, None, (3, 2)), (5, 5, (5, 1)), (16, None, (4, 4))])
def test_contact_sheet_grid(vids, tmp_path, n, cols, grid):
    info = v.probe_video(vids["plain"])
    op = OpSpec.make("contact-sheet", frames=n, columns=cols, size=100)
    outs, _w, extra = v.run_video_ops(
        vids["plain"], info, (op,), str(tmp_path), "p", fmt="png", quality=85, background="#fff", timeout=60
    )
    assert outs == ["p.contact.png"] and len(extra["contact_sheet_t"]) == n
    im = Image.open(tmp_path / outs[0])
    tw, th, gap = 100, 75, 4  # 320x240 fitted into 100x100
    assert im.size == (grid[0] * tw + (grid[0] + 1) * gap, grid[1] * th + (grid[1] + 1) * gap)


# ---------------------------------------------------------------------------------- transcode / clip


def test_transcode_h264_even_capped(vids, tmp_path):
    assert v.has_encoder("libx264")
    info = v.probe_video(vids["audio"])
    op = OpSpec.make("transcode", size=75, max_fps=12, crf=30)
    outs, _w, _e = v.run_video_ops(vids["audio"], info, (op,), str(tmp_path), "a", **RUN)
    assert outs == ["a.mp4"]
    back = v.probe_video(str(tmp_path / "a.mp4"))
    assert back.codec == "h264" and back.width % 2 == 0 and back.height % 2 == 0
    assert min(back.width, back.height) <= 75 and back.fps <= 12
    rc, _o, err = ffmpeg._run([b"-i", ffmpeg._src(str(tmp_path / "a.mp4"))], timeout=30, path="a")
    assert "Audio: aac" in err
    v.run_video_ops(vids["audio"], info, (OpSpec.make("transcode", audio=False),), str(tmp_path), "n", **RUN)
    rc, _o, err = ffmpeg._run([b"-i", ffmpeg._src(str(tmp_path / "n.mp4"))], timeout=30, path="n")
    assert "Audio:" not in err
    _no_tmp(tmp_path)


def test_clip_segments(vids, tmp_path):
    info = v.probe_video(vids["plain"])
    outs, _w, extra = v.run_video_ops(vids["plain"], info, (OpSpec.make("clip", seconds=1.2),), str(tmp_path), "c", **RUN)
    assert outs == [f"c/clip-{i:04d}.mp4" for i in range(math.ceil(3 / 1.2))]
    durs = [v.probe_video(str(tmp_path / o)).duration for o in outs]
    assert durs[:2] == pytest.approx([1.2, 1.2], abs=0.05) and sum(durs) == pytest.approx(3.0, abs=0.1)
    _no_tmp(tmp_path)


# ---------------------------------------------------------------------------------- safety


@pytest.mark.parametrize("name", ["with space.mp4", "-x.mp4", "$(touch pwned).mp4", 'it\'s "q" 100%;d.mp4'])
def test_hostile_names(vids, tmp_path, name, monkeypatch):
    src = tmp_path / name
    src.write_bytes(Path(vids["plain"]).read_bytes())
    monkeypatch.chdir(tmp_path)
    info = v.probe_video(str(src))
    out = tmp_path / "out"
    out.mkdir()
    outs, _w, _e = v.run_video_ops(
        str(src), info, (OpSpec.make("frames", fps=1), OpSpec.make("poster")), str(out), "%d $(x) -y", **RUN
    )
    assert len(outs) == 4 and all((out / o).is_file() for o in outs)
    assert not (tmp_path / "pwned").exists() and not list(tmp_path.glob("x*"))


def test_timeout_kills_ffmpeg(tmp_path):
    fifo = tmp_path / "hang.mp4"
    os.mkfifo(fifo)  # ffmpeg blocks opening it: a reliable hang
    t0 = time.monotonic()
    with pytest.raises(FileProblem) as e:
        v.probe_video(str(fifo), timeout=1.0)
    assert e.value.code == "timeout" and time.monotonic() - t0 < 10
    assert not v.live_ffmpeg_pids()
    assert not _ffmpeg_children_of_path(str(fifo))
    assert not [c for c in psutil.Process().children(recursive=True) if "ffmpeg" in c.name()]


def _watchers() -> bool:
    """Whether a memory watcher thread of an ffmpeg call is still running."""
    import threading

    return any(t.name == "dataprep-ffmpeg-memory" for t in threading.enumerate())


def test_ffmpeg_past_its_memory_cap_is_stopped(tmp_path, vids):
    """The cap holds for this process and its ffmpeg together (on a worker: the worker's limit)."""
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)  # ffmpeg waits opening it, ~25 MiB resident all the while
    t0 = time.monotonic()
    with pytest.raises(FileProblem) as e:
        v.probe_video(str(fifo), timeout=60, memory_cap=v.memory_in_use() + 8 * 2**20)
    assert e.value.code == "limit-exceeded" and "stuck.mp4" in e.value.message and "`memory_limit`" in e.value.message
    assert time.monotonic() - t0 < 10
    assert not v.live_ffmpeg_pids() and not _ffmpeg_children_of_path(str(fifo))
    # the ops' calls are capped too: nothing is left of the file
    info = v.probe_video(vids["plain"])
    out = tmp_path / "out"
    with pytest.raises(FileProblem) as e:
        v.run_video_ops(
            str(fifo),
            info,
            (OpSpec.make("frames", fps=1), OpSpec.make("poster")),
            str(out),
            "s",
            **RUN,
            memory_cap=v.memory_in_use() + 8 * 2**20,
        )
    assert e.value.code == "limit-exceeded"
    assert not [p for p in out.rglob("*") if p.is_file()] and not v.live_ffmpeg_pids() and not _watchers()


def test_with_several_ffmpeg_at_once_the_largest_is_stopped(tmp_path):
    """Two calls share one cap (a worker with two threads): the one that grew past it is stopped,
    not the small one beside it, which goes on (here, until its time limit)."""
    from concurrent.futures import ThreadPoolExecutor

    clip = sv.make_video(tmp_path / "hd.mp4", seconds=4, size=(1280, 720), fps=25)
    info = v.probe_video(clip)
    fifo = tmp_path / "small.mp4"
    os.mkfifo(fifo)  # ~25 MiB, waiting
    cap = v.memory_in_use() + 130 * 2**20  # the 8-input call below needs ~200 MiB

    def small() -> str:
        try:
            v.probe_video(str(fifo), timeout=10, memory_cap=cap)
        except FileProblem as e:
            return e.code
        return "ok"

    with ThreadPoolExecutor(1) as ex:
        waiting = ex.submit(small)
        assert wait_until(lambda: _ffmpeg_children_of_path(str(fifo)), 30)
        with pytest.raises(FileProblem) as e:  # 8 inputs in one call: per_input=0 keeps the chunk at 8
            grab._grab_images(clip, grab._targets(info, 8), [], _Deadline(60, memory_cap=cap))
        assert e.value.code == "limit-exceeded" and "hd.mp4" in e.value.message and "other ffmpeg" in e.value.message
        assert waiting.result() == "timeout"
    assert not v.live_ffmpeg_pids() and not _watchers()


def test_a_cap_ffmpeg_stays_under_changes_nothing(tmp_path, vids):
    info = v.probe_video(vids["plain"], memory_cap=v.memory_in_use() + 2**30)
    outs, _w, extra = v.run_video_ops(
        vids["plain"],
        info,
        (OpSpec.make("frames", fps=1), OpSpec.make("poster")),
        str(tmp_path),
        "p",
        **RUN,
        memory_cap=v.memory_in_use() + 2**30,
    )
    assert len(outs) == 4 and all((tmp_path / o).is_file() for o in outs) and len(extra["frames"]) == 3
    fifo = tmp_path / "hang.mp4"
    os.mkfifo(fifo)  # under the cap, the time limit still ends a hung call
    with pytest.raises(FileProblem) as e:
        v.probe_video(str(fifo), timeout=1.0, memory_cap=v.memory_in_use() + 2**30)
    assert e.value.code == "timeout" and not v.live_ffmpeg_pids() and not _watchers()


def test_seeking_opens_fewer_inputs_at_once_under_a_tight_cap(tmp_path):
    """A contact sheet seeks to its 8 times with 8 decoders in one ffmpeg call (~200 MiB for
    720p); when the cap leaves room for one decoder, one call per time still makes the sheet."""
    clip = sv.make_video(tmp_path / "hd.mp4", seconds=4, size=(1280, 720), fps=25)
    info = v.probe_video(clip)
    one = v.decoder_bytes(info.codec, info.width, info.height)  # ~29 MiB estimated, ~20 MiB real
    cap = v.memory_in_use() + v.FFMPEG_BASELINE_BYTES + int(1.5 * one)
    outs, _w, extra = v.run_video_ops(
        clip, info, (OpSpec.make("contact-sheet", frames=8),), str(made(tmp_path / "o")), "hd", **RUN, memory_cap=cap
    )
    assert len(outs) == 1 and len(extra["contact_sheet_t"]) == 8
    with Image.open(tmp_path / "o" / outs[0]) as sheet:
        assert sheet.width > sheet.height > 0


def test_no_cap_outside_a_dask_worker():
    import distributed  # noqa: F401 - imported, so the check really asks Dask for a worker

    assert v.ffmpeg_memory_cap(2**30) is None


def _hang_in_child(path: str) -> None:
    v.probe_video(path, timeout=600)


def test_killed_caller_leaves_no_ffmpeg(tmp_path):
    fifo = tmp_path / "hang-child.mp4"
    os.mkfifo(fifo)
    proc = mp.get_context("spawn").Process(target=_hang_in_child, args=(str(fifo),))
    proc.start()
    deadline = time.monotonic() + 30
    while not _ffmpeg_children_of_path(str(fifo)):
        assert time.monotonic() < deadline and proc.is_alive(), "ffmpeg never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # like a Dask worker killed by its nanny
    proc.join(10)
    deadline = time.monotonic() + 5
    while _ffmpeg_children_of_path(str(fifo)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in _ffmpeg_children_of_path(str(fifo)) if p.status() != psutil.STATUS_ZOMBIE]
    assert not left


def test_failure_leaves_nothing(vids, tmp_path):
    info = v.probe_video(vids["plain"])
    ops = (OpSpec.make("frames", fps=1), OpSpec.make("poster"))
    with pytest.raises(FileProblem):  # probed as fine, then the file turns out truncated
        v.run_video_ops(vids["truncated"], info, ops, str(tmp_path), "t", **RUN)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    with pytest.raises(FileProblem) as e:  # time runs out mid-way
        v.run_video_ops(
            vids["plain"],
            info,
            ops + (OpSpec.make("clip", seconds=1),),
            str(tmp_path),
            "u",
            fmt="jpeg",
            quality=85,
            background="#fff",
            timeout=0.0001,
        )
    assert e.value.code == "timeout"
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_sample_videos(tmp_path):
    made = sv.make_sample_videos(tmp_path)
    assert sum(os.path.getsize(p) for p in made) < 5 * 2**20
    names = {os.path.basename(p) for p in made}
    assert {"rotated-portrait.mp4", "variable-frame-rate.mp4", "audio-only.mp4", "truncated.mp4"} <= names


def test_a_poster_op_and_an_image_op_search_for_the_poster_frame_once(vids, tmp_path, monkeypatch):
    """``poster`` and ``thumbnail`` on one video share one poster search (each step of it is an
    ffmpeg run): the same frame for both, found once."""
    import shutil

    import toolkit
    from toolkit._names import assign_outputs
    from toolkit._worker import JobSpec, process_item

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(vids["black"], src / "clip.mp4")
    (item,) = assign_outputs(toolkit.scan([str(src)]).items, multi_root=False)
    grabs = []
    real = grab._grab_images
    monkeypatch.setattr(grab, "_grab_images", lambda *a, **k: grabs.append(a[1]) or real(*a, **k))

    alone = v.find_poster(item.path, v.probe_video(item.path), timeout=60)[0]
    searched = len(grabs)
    assert searched >= 2  # the black start is skipped: more than one try
    grabs.clear()
    (tmp_path / "out").mkdir()  # a run's output folder exists (one that is gone is output-write-failed)
    job = JobSpec(ops=(OpSpec.make("poster", size=64), OpSpec.make("thumbnail", size=32)), output=str(tmp_path / "out"))
    row = process_item(item, job).to_row()
    assert row["status"] == "ok" and sorted(row["outputs"]) == ["clip.jpg", "clip.poster.jpg"], row
    assert row["poster_t"] == round(alone, 6)
    assert len(grabs) == searched, grabs
