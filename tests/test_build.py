"""End to end on a real LocalCluster: a build over generated images with broken ones, every
manifest row checked; a second identical run; the CLI through main(argv)."""

import base64
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import toolkit
import toolkit._probe
from toolkit import _synth as synth
from toolkit._manifest import read_rows
from toolkit._media import ROW_FIELDS
from toolkit._worker import TEST_HANG_ENV

from helpers import bookkeeping_left, http_get, outputs_on_disk, wait_until

pytestmark = pytest.mark.integration


def photo(path: Path, size, seed: int, fmt=None, mode="RGB", **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = synth.photo(size[0], size[1], seed)
    if mode != "RGB":
        im = im.convert(mode)
    im.save(path, fmt, **kw)
    return path


@pytest.fixture
def corpus(tmp_path):
    src = tmp_path / "in"
    photo(src / "a" / "one.jpg", (800, 600), 1)
    photo(src / "a" / "two.jpg", (600, 800), 2, quality=90)
    photo(src / "a" / "photo.jpg", (640, 480), 3)
    photo(src / "a" / "photo.png", (640, 480), 4)  # same stem, both must survive
    (src / "b" / "c").mkdir(parents=True)
    alpha = Image.new("RGBA", (300, 300), (255, 0, 0, 0))  # transparent red everywhere ...
    alpha.paste((0, 0, 255, 255), (100, 100, 200, 200))  # ... but an opaque blue square
    alpha.save(src / "b" / "c" / "alpha.png")
    photo(src / "b" / "pal.gif", (200, 100), 6, mode="P")
    photo(src / "b" / "wide.webp", (1000, 200), 7)
    photo(src / "b" / "name with spaces -dash $x.jpg", (300, 200), 8)
    (src / "b" / "garbage.jpg").write_bytes(os.urandom(3000))
    (src / "b" / "empty.jpg").write_bytes(b"")
    good = (src / "a" / "one.jpg").read_bytes()
    (src / "b" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (src / "b" / ".DS_Store").write_bytes(b"junk")
    (src / "b" / "notes.txt").write_text("not media")
    (src / "b" / "doc.eps").write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    return src


EXPECTED = {
    "a/one.jpg": ("ok", None),
    "a/two.jpg": ("ok", None),
    "a/photo.jpg": ("ok", None),
    "a/photo.png": ("ok", None),
    "b/c/alpha.png": ("ok", None),
    "b/pal.gif": ("ok", None),
    "b/wide.webp": ("ok", None),
    "b/name with spaces -dash $x.jpg": ("ok", None),
    "b/garbage.jpg": ("failed", {"unidentified", "corrupt"}),
    "b/empty.jpg": ("failed", {"empty-file"}),
    "b/truncated.jpg": ("failed", {"truncated"}),
    "b/.DS_Store": ("skipped", None),
    "b/notes.txt": ("skipped", None),
    "b/doc.eps": ("failed", {"unsupported-format"}),
}


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def test_build_every_row(corpus, tmp_path, client):
    before = digest(corpus)
    out = tmp_path / "out"
    report = toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False)
    rows = read_rows(out / "manifest.jsonl")
    assert sorted(r["source"] for r in rows) == sorted(EXPECTED)  # exactly one row per input file
    for r in rows:
        assert set(ROW_FIELDS) <= set(r), r
        status, codes = EXPECTED[r["source"]]
        assert r["status"] == status, r
        assert r["input_root"] == str(corpus)
        assert r["bytes_in"] == (corpus / r["source"]).stat().st_size
        if status == "failed":
            assert r["error"]["type"] in codes, r
            assert Path(r["source"]).name in r["error"]["message"]
            assert r["outputs"] == []
        else:
            assert r["error"] is None
        if status == "ok":
            assert len(r["outputs"]) == 1 and r["outputs"][0].endswith(".jpg")
            o = out / r["outputs"][0]
            with Image.open(o) as im:
                assert im.format == "JPEG" and max(im.size) <= 128 and im.mode in ("RGB", "L")
            assert r["bytes_out"] == o.stat().st_size
            assert r["width"] and r["height"] and r["seconds"] >= 0 and r["batch"]
    by = {r["source"]: r for r in rows}
    assert by["a/photo.jpg"]["outputs"] != by["a/photo.png"]["outputs"]
    assert (by["a/two.jpg"]["width"], by["a/two.jpg"]["height"]) == (600, 800)
    with Image.open(out / by["b/c/alpha.png"]["outputs"][0]) as im:  # transparent corner on white
        rgb = im.convert("RGB")
        assert all(c > 245 for c in rgb.getpixel((2, 2)))  # transparent -> white, not black or red
        r_, g_, b_ = rgb.getpixel((im.width // 2, im.height // 2))
        assert b_ > 200 and r_ < 60
    assert report.counts == {"ok": 8, "failed": 4, "skipped": 2}
    assert report.exit_code == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == report.counts and summary["batches"] >= 1
    assert summary["errors"]["empty-file"] == 1
    assert digest(corpus) == before  # inputs untouched
    assert not [p for p in out.rglob("*") if p.name.endswith(".dataprep-tmp")]
    assert sorted(p.name for p in out.iterdir() if not p.is_dir()) == [
        "README.md",
        "manifest.jsonl",
        "manifest.parquet",
        "summary.json",
    ]
    assert not bookkeeping_left(out)  # no journals left behind
    assert "ok" in str(report) and "<table>" in report._repr_html_()


def test_second_identical_run_does_no_work(corpus, tmp_path, client):
    out = tmp_path / "out"
    toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False)
    first = {r["source"]: r for r in read_rows(out / "manifest.jsonl")}
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    report = toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False)
    second = {r["source"]: r for r in read_rows(out / "manifest.jsonl")}
    assert second.keys() == first.keys()
    assert len(read_rows(out / "manifest.jsonl")) == len(first)  # still one row per input
    for k, r in second.items():
        if r["status"] == "ok":
            assert r["outputs"] == first[k]["outputs"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == mtimes  # nothing rewritten
    assert json.loads((out / "summary.json").read_text())["resumed"] == 8
    assert report.counts["ok"] == 8
    # changed settings redo only what they affect; --force redoes everything
    toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False, size=64)
    assert json.loads((out / "summary.json").read_text())["resumed"] == 0
    with Image.open(out / second["a/one.jpg"]["outputs"][0]) as im:
        assert max(im.size) == 64


def test_resize_modes_and_formats(corpus, tmp_path, client):
    out = tmp_path / "out"
    toolkit.build(
        inputs=[str(corpus / "a")],
        output=str(out),
        client=client,
        progress=False,
        op="resize",
        size="200x100",
        mode="fill",
        format="webp",
    )
    rows = [r for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"]
    assert len(rows) == 4
    for r in rows:
        with Image.open(out / r["outputs"][0]) as im:
            assert im.format == "WEBP" and im.size == (200, 100)


def test_plan_and_bag(corpus, client):
    p = toolkit.plan(toolkit.scan([corpus]), memory_limit="512MiB", batch_size=3)
    # the 8 good images and the truncated one (its header is fine) probe; garbage and EPS drop out
    assert sorted(i.rel for b in p.batches for i in b.items)[-1] == "b/wide.webp"
    assert sum(len(b) for b in p.batches) == 9 and all(len(b) <= 3 for b in p.batches)
    bag = p.to_bag()
    assert bag.npartitions == len(p.batches)
    sizes = client.compute(bag.map(lambda it: (it.rel, it.info.width * it.info.height))).result()
    assert dict(sizes)["a/one.jpg"] == 800 * 600


def test_cli_build_scan_plan_report(corpus, tmp_path, cli, capsys):
    out = tmp_path / "cli-out"
    code = cli(
        [
            "build",
            "--input",
            str(corpus),
            "--output",
            str(out),
            "--op",
            "thumbnail",
            "--size",
            "96",
            "--jobs",
            "2",
            "--memory-limit",
            "768MiB",
            "--batch-size",
            "4",
            "--dashboard-address",
            "127.0.0.1:0",
        ]
    )
    assert code == 1  # some files failed
    cap = capsys.readouterr()
    assert "failed" in cap.out and "manifest" in cap.out
    # the header's count adds up with the files that never reach a batch (junk, unreadable headers)
    planned, left_out = map(int, re.search(r"dataprep: (\d+) files .*; (\d+) left out before processing", cap.err).groups())
    assert planned + left_out == len(EXPECTED) and left_out > 0
    rows = read_rows(out / "manifest.jsonl")
    assert len(rows) == len(EXPECTED)
    ok = [r for r in rows if r["status"] == "ok"]
    with Image.open(out / ok[0]["outputs"][0]) as im:
        assert max(im.size) <= 96
    assert cli(["scan", str(corpus)]) == 0
    assert "image/JPEG" in capsys.readouterr().out
    plan_out = tmp_path / "never"
    assert cli(["plan", "--input", str(corpus), "--output", str(plan_out), "--memory-limit", "256MiB"]) == 0
    assert "batch budget" in capsys.readouterr().out and not plan_out.exists()
    assert cli(["report", str(out)]) == 1
    # only good files: exit 0
    good = tmp_path / "good"
    photo(good / "x.jpg", (300, 200), 9)
    assert (
        cli(
            [
                "build",
                "-i",
                str(good),
                "-o",
                str(tmp_path / "good-out"),
                "--jobs",
                "1",
                "--dashboard-address",
                "127.0.0.1:0",
                "-q",
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["build", "--input", "/does/not/exist", "--output", "/tmp/x"], "does not exist"),
        (["build", "--input", ".", "--output", ".", "--jobs", "1"], "same folder"),
        (["plan", "--input", ".", "--output", "."], "same folder"),  # plan refuses what build would
        (["build", "--input", "."], "give an output folder"),
        (["build", "--input", ".", "--output", "/tmp/x", "--quality", "500"], "quality"),
        (["build", "--input", ".", "--output", "/tmp/x", "--batch-size", "lots"], "--batch-size"),
        (["build", "--input", ".", "--output", "/tmp/x", "--config", "/nope.json"], "does not exist"),
        (["build", "--bogus"], "bogus"),
    ],
)
def test_cli_misuse_exits_2_before_work(argv, message, cli, capsys):
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert message in err


def test_mixed_folder_with_videos_on_a_cluster(tmp_path, client):
    """Images and videos in one run: each file gets the ops for its kind, image ops use a video's
    poster frame, broken videos are failed rows with clear codes, no ffmpeg is left running."""
    import psutil

    from toolkit._synth_video import make_audio_only, make_not_a_video, make_truncated_video, make_video

    src = tmp_path / "in"
    photo(src / "still.jpg", (640, 480), 1)
    make_video(src / "clips" / "walk.mp4", seconds=3, size=(320, 240))
    make_video(src / "clips" / "turned.mp4", seconds=2, size=(320, 240), rotate=90)
    make_audio_only(src / "clips" / "sound.mp4")
    make_truncated_video(src / "clips" / "cut.mp4")
    make_not_a_video(src / "clips" / "fake.mp4")
    out = tmp_path / "out"
    report = toolkit.build(
        inputs=[str(src)],
        output=str(out),
        client=client,
        progress=False,
        ops=[{"op": "thumbnail", "size": 128}, {"op": "frames", "fps": 1}, {"op": "contact-sheet", "frames": 4}],
    )
    rows = {r["source"]: r for r in read_rows(out / "manifest.jsonl")}
    assert len(rows) == 6
    still = rows["still.jpg"]
    assert still["status"] == "ok" and still["outputs"] == ["still.jpg"]  # video ops do not apply to it
    walk = rows["clips/walk.mp4"]
    assert walk["status"] == "ok"
    frames = [o for o in walk["outputs"] if o.startswith("clips/walk/")]
    assert len(frames) == 3 and "clips/walk.contact.jpg" in walk["outputs"]
    for r in rows.values():  # a video's bytes_out counts all its outputs: frames, sheet and image op
        assert r["bytes_out"] == sum((out / o).stat().st_size for o in r["outputs"])
    assert [f["t"] for f in walk["frames"]] == sorted(f["t"] for f in walk["frames"])
    with Image.open(out / "clips/walk.jpg") as im:  # the image op, made from the poster frame
        assert max(im.size) == 128
    turned = rows["clips/turned.mp4"]
    assert (turned["width"], turned["height"]) == (240, 320)  # rotation honoured
    with Image.open(out / [o for o in turned["outputs"] if o.startswith("clips/turned/")][0]) as im:
        assert im.height > im.width
    assert rows["clips/sound.mp4"]["error"]["type"] == "no-video-stream"
    assert rows["clips/cut.mp4"]["status"] == "failed" and rows["clips/cut.mp4"]["error"]["type"] in ("truncated", "corrupt")
    assert rows["clips/fake.mp4"]["status"] == "failed"
    assert report.counts == {"ok": 3, "failed": 3}
    ffmpeg_left = [p for p in psutil.process_iter(["name"]) if "ffmpeg" in (p.info["name"] or "")]
    assert ffmpeg_left == []


def test_long_lists_are_probed_on_the_workers(corpus, tmp_path, client, monkeypatch):
    from distributed import get_task_stream

    import toolkit._probe

    monkeypatch.setattr(toolkit._probe, "PROBE_ON_WORKERS", 3)
    with get_task_stream(client) as ts:
        report = toolkit.build(inputs=[str(corpus)], output=str(tmp_path / "out"), client=client, progress=False)
    assert any(str(t["key"]).startswith("dataprep-probe") for t in ts.data)
    assert report.counts == {"ok": 8, "failed": 4, "skipped": 2}  # same outcome as probing here


def test_rerun_with_other_inputs_never_shares_an_output(tmp_path, client):
    """Same-named roots get stable folders, so a rerun with another input set cannot overwrite
    an output that a carried-over row still points at."""
    a, b, c = (tmp_path / n / "photos" for n in "abc")
    for i, root in enumerate((a, b, c)):
        photo(root / "x.jpg", (320, 240), 10 + i)
    out = tmp_path / "out"
    toolkit.build(inputs=[str(a), str(b)], output=str(out), client=client, progress=False)
    toolkit.build(inputs=[str(b), str(c)], output=str(out), client=client, progress=False)
    rows = read_rows(out / "manifest.jsonl")
    outs = [o for r in rows for o in r["outputs"]]
    assert len(rows) == 2 and len(set(outs)) == 2  # one row per input, no output shared
    by_root = {r["input_root"]: r for r in rows}
    for root, seed in ((b, 11), (c, 12)):  # each output really is a thumbnail of its own input
        with Image.open(out / by_root[str(root)]["outputs"][0]) as im:
            expected = synth.photo(320, 240, seed).resize(im.size)
            diff = sum(abs(x - y) for x, y in zip(im.convert("L").getdata(), expected.convert("L").getdata()))
            assert diff / (im.width * im.height) < 20


def test_a_file_name_that_is_not_utf8_is_built_with_a_utf8_output_name(tmp_path, client):
    """A name with a byte that is not UTF-8 (here 0xFF) once crashed the manifest, on every rerun.
    Its output is named with %FF; a real file named like that gets its own output all the same."""
    src = tmp_path / "in"
    photo(src / "x.jpg", (64, 48), 1)
    odd = os.fsencode(src) + b"/bad\xff.jpg"
    synth.write_photo(os.fsdecode(odd), 64, 48, 2)
    photo(src / "bad%FF.jpg", (64, 48), 3)
    out = tmp_path / "out"
    for _ in range(2):  # and a rerun finds it done
        report = toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False)
    assert report.counts.get("ok") == 3
    rows = {r["source_b64"]: r for r in read_rows(out / "manifest.jsonl")}
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows.values())
    row = rows[base64.b64encode(b"bad\xff.jpg").decode()]
    assert row["source"] == "bad\\xff.jpg"
    outs = [o for r in rows.values() for o in r["outputs"]]
    assert len(set(outs)) == 3 and all((out / o).is_file() for o in outs)
    assert all(n.encode("utf-8") for n in os.listdir(out))  # every name on disk is valid UTF-8
    assert "%FF" in row["outputs"][0]


@pytest.mark.parametrize("case", ["same-through-link", "nested-inputs", "twice"])
def test_overlapping_folders_are_misuse(tmp_path, case):
    src = tmp_path / "in"
    photo(src / "sub" / "x.jpg", (64, 64), 1)
    if case == "same-through-link":
        (tmp_path / "alias").symlink_to(src)
        kw = dict(inputs=[str(src)], output=str(tmp_path / "alias"))
    elif case == "nested-inputs":
        kw = dict(inputs=[str(src), str(src / "sub")], output=str(tmp_path / "out"))
    else:
        kw = dict(inputs=[str(src), str(tmp_path / "in" / ".")], output=str(tmp_path / "out"))
    with pytest.raises(toolkit.InputError):
        toolkit.start(**kw)


def _worker_view(name: str) -> tuple[str | None, bool]:
    return os.environ.get(name), "toolkit._ops.image" in sys.modules


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_workers_see_the_environment_of_today_not_of_the_fork_server(method, monkeypatch, make_cluster):
    """A notebook sets a variable after an earlier build started the fork server: new workers see it."""
    import dask

    first = toolkit.connect(None, jobs=1, memory_limit="512MiB", dashboard_address="127.0.0.1:0")
    first.cluster.close()
    first.close()
    monkeypatch.setenv("DATAPREP_TEST_SEEN", "after-first-cluster")
    with dask.config.set({"dataprep.worker-start": method}):
        c = make_cluster(jobs=1, limit="512MiB")
    ((value, preloaded),) = c.run(_worker_view, "DATAPREP_TEST_SEEN").values()
    assert value == "after-first-cluster"
    assert preloaded == (method == "forkserver")  # forked workers start with the image code imported


def test_redo_with_fewer_outputs_leaves_no_stale_file(tmp_path, client):
    """Two ops, then one: the dataset holds exactly the files the manifest lists, nothing from before."""
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "a").mkdir(parents=True)
    for i in range(3):
        synth.photo(256, 192, seed=i).save(src / "a" / f"p{i}.jpg")
    before = digest(src)
    two = [{"op": "thumbnail", "size": 64}, {"op": "resize", "size": 100, "mode": "fill"}]
    toolkit.build(inputs=[str(src)], output=str(out), client=client, ops=two, progress=False)
    assert len(list((out / "a").iterdir())) == 6  # p0.thumbnail.jpg, p0.resize.jpg, ...
    report = toolkit.build(inputs=[str(src)], output=str(out), client=client, op="thumbnail", size=64, progress=False)
    assert report.counts == {"ok": 3} and report.counts["failed"] == 0  # what did not occur reads 0
    assert json.loads(json.dumps(dataclasses.asdict(report)))["counts"] == {"ok": 3}
    listed = {o for r in read_rows(out / "manifest.jsonl") for o in r["outputs"]}
    on_disk = outputs_on_disk(out)
    assert on_disk == listed == {f"a/p{i}.jpg" for i in range(3)}
    assert json.loads((out / "summary.json").read_text())["stale_outputs_removed"] == 6
    assert digest(src) == before and all((src / "a" / f"p{i}.jpg").exists() for i in range(3))  # inputs untouched


def _profile_interval() -> str:
    import dask

    return str(dask.config.get("distributed.worker.profile.interval"))


def test_local_workers_sample_less_often_unless_you_chose(make_cluster):
    """Our cluster slows Dask's profiler (CPU the files need); a value you set yourself is kept."""
    import dask

    c = make_cluster(jobs=1, limit="512MiB")
    assert set(c.run(_profile_interval).values()) == {"100ms"}
    with dask.config.set({"distributed.worker.profile.interval": "20ms"}):
        mine = make_cluster(jobs=1, limit="512MiB")
    assert set(mine.run(_profile_interval).values()) == {"20ms"}


def test_a_redo_that_fails_keeps_the_earlier_output(tmp_path, client):
    """The source got damaged since the last build: its row says failed, but the thumbnail made
    from the good version is not deleted (only a redo that succeeds replaces what was there)."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        synth.photo(256, 192, seed=i).save(src / f"p{i}.jpg")
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False)
    good = (out / "p1.jpg").read_bytes()
    data = (src / "p1.jpg").read_bytes()
    (src / "p1.jpg").write_bytes(data[: len(data) // 2])  # truncated: size and mtime change
    report = toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False)
    assert report.counts == {"ok": 2, "failed": 1}
    assert (out / "p1.jpg").read_bytes() == good
    assert json.loads((out / "summary.json").read_text())["stale_outputs_removed"] == 0


def _start_facts() -> tuple[str, int]:
    import psutil

    return " ".join(psutil.Process().parent().cmdline()), hash("abcdef")


def test_a_restarted_worker_forks_like_the_first_and_hashes_alike(make_cluster):
    """After a worker dies, the nanny's new one comes from the fork server too, and hashes
    strings like the other workers (Dask's fixed PYTHONHASHSEED)."""
    import signal
    import time

    c = make_cluster(jobs=2, limit="512MiB")
    before = c.run(_start_facts)
    assert all("forkserver" in parent for parent, _ in before.values())
    victim = next(iter(c.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            pids = list(c.run(os.getpid).values())
        except Exception:  # noqa: BLE001 - the dead worker is still being removed
            pids = []
        if len(pids) == 2 and victim not in pids:
            break
        time.sleep(0.2)
    after = c.run(_start_facts)
    assert len(after) == 2 and all("forkserver" in parent for parent, _ in after.values())
    assert len({h for _, h in after.values()}) == 1


_START_ENV = r"""
import os, sys
from toolkit._cluster import connect
assert "distributed" not in sys.modules  # as in the dataprep command: the fork server starts first
c = connect(None, jobs=1, memory_limit="512MiB", dashboard_address=None)
pid, = c.run(os.getpid).values()
with open(f"/proc/{pid}/environ", "rb") as fh:
    print(sorted(e.split(b"=")[0].decode() for e in fh.read().split(b"\0") if e))
cluster = c.cluster; c.close(); cluster.close()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/environ")
def test_workers_start_with_dasks_pre_spawn_environment_from_a_fresh_process():
    """Libraries read OMP_NUM_THREADS and the like only when a process starts: Dask sets them before
    a worker starts, and so must our fork server, even when it starts before distributed (whose
    config holds the values) is imported. Dask's default MALLOC_TRIM_THRESHOLD_ is left out (our
    workers trim after each batch, in one malloc arena); a value you set yourself is kept."""
    import ast

    cases = [
        ({}, False),
        ({"DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MY_SETTING": "1"}, False),  # one of your own
        ({"MALLOC_TRIM_THRESHOLD_": "65536"}, False),  # Dask's value, as a Dask nanny leaves it in os.environ
        ({"MALLOC_TRIM_THRESHOLD_": "131072"}, True),
    ]  # yours
    for own, trims in cases:
        out = subprocess.run(
            [sys.executable, "-c", _START_ENV],
            capture_output=True,
            text=True,
            timeout=120,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}, **own},
        )
        assert out.returncode == 0, out.stderr[-2000:]
        at_start = ast.literal_eval(out.stdout.strip().splitlines()[-1])
        assert "OMP_NUM_THREADS" in at_start, own
        assert ("MALLOC_TRIM_THRESHOLD_" in at_start) is trims, own
        assert ("MALLOC_ARENA_MAX" in at_start) is not trims, own  # one arena: the per-batch trim reaches it all
        if "MY_SETTING" in str(own):
            assert "my_setting" in at_start  # Dask lower-cases keys that come from the environment


def _batch_after_big_buffers(output: str) -> tuple[str, int, int, int]:
    """In a worker's task thread: fill and free 300 MB of image-sized buffers, then run a batch.
    -> (thread name, RSS in MiB before, after the buffers, after the batch)."""
    import threading

    from toolkit._batch import process_batch
    from toolkit._worker import JobSpec

    import psutil

    def rss() -> int:
        return psutil.Process().memory_info().rss >> 20

    base = rss()
    for _ in range(20):  # what decoding a few large photos leaves behind, freed
        a, b = bytearray(12 << 20), bytearray(3 << 20)
        a[::4096] = b"\1" * len(a[::4096])
        b[::4096] = b"\1" * len(b[::4096])
        del a, b
    held = rss()
    process_batch([], JobSpec(ops=(), output=output))
    return threading.current_thread().name, base, held, rss()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_a_worker_hands_freed_memory_back_after_each_batch(tmp_path):
    """Without Dask's per-free trimming, glibc keeps freed memory for reuse; the end of every batch
    gives it back, including what the batch's thread freed, so a worker between batches holds only
    what it still uses (what its memory limit and the dashboard see)."""
    from toolkit._cluster import connect

    c = connect(None, jobs=1, memory_limit="1GiB", dashboard_address=None)
    try:
        thread, base, held, after = c.submit(_batch_after_big_buffers, str(tmp_path), pure=False).result(timeout=120)
    finally:
        cluster = c.cluster
        c.close()
        cluster.close()
    assert "Dask" in thread  # a task thread, not the main one
    assert held - base >= 10, (base, held)  # glibc kept some of it
    assert after - base <= 4, (base, held, after)  # MiB


def test_the_dashboard_link_opens_dasks_status_page(tmp_path, monkeypatch):
    """connect() returns with the dashboard's pages up; a build's own cluster builds them when its
    link is first opened, during the build."""
    c = toolkit.connect(None, jobs=1, memory_limit="512MiB", dashboard_address="127.0.0.1:0")
    try:
        status, body = http_get(c.dashboard_link)
        assert status == 200 and "bokeh" in body.lower()
    finally:
        c.cluster.close()
        c.close()

    src = tmp_path / "in"
    src.mkdir()
    for i in range(40):  # 8 of them take 1 s each (test hook): the build cannot end before the checks
        synth.photo(256, 192, seed=i).save(src / (f"p{i}-hang.jpg" if i % 5 == 0 else f"p{i}.jpg"))
    monkeypatch.setenv(TEST_HANG_ENV, "slow:1")  # the run's own workers start with this environment
    run = toolkit.start(
        inputs=[str(src)],
        output=str(tmp_path / "out"),
        jobs=1,
        memory_limit="512MiB",
        dashboard_address="127.0.0.1:0",
        batch_size=1,
    )
    try:
        assert wait_until(lambda: run.dashboard_link or run.done, 60) and run.dashboard_link
        assert wait_until(lambda: http_get(run.dashboard_link)[0] == 200 or run.done, 30)
        assert http_get(run.dashboard_link)[0] == 200  # still running (8 slow files), pages served
        assert not run.done
    finally:
        run.stop()
        run.result(120)


def test_a_builds_dashboard_pages_are_built_when_the_link_is_first_opened():
    """A build's cluster (``dashboard_on_visit=True``) leaves bokeh's pages (~0.35 s of CPU) unbuilt
    until someone opens the link; the first visit is sent back to the page it asked for, now
    served; an unknown page is then a plain 404, not a redirect loop."""
    from concurrent.futures import ThreadPoolExecutor

    from toolkit._cluster import connect
    from toolkit._dashboard import _same_page

    def bokeh_pages(client) -> int:
        return sum(type(a).__name__ == "DaskBokehTornado" for a in client.cluster.scheduler.http_application.applications)

    c = connect(None, jobs=1, memory_limit="512MiB", dashboard_address="127.0.0.1:0", dashboard_on_visit=True)
    try:
        assert bokeh_pages(c) == 0
        assert _same_page("//example.org/workers") == "./workers"  # never to another host
        base = c.dashboard_link.rsplit("/", 1)[0]
        assert http_get(base + "/health") == (200, "ok")  # Dask's own routes need no pages
        assert bokeh_pages(c) == 0

        def first_visit(path: str) -> tuple[int, str | None]:  # not following the redirect
            import http.client

            conn = http.client.HTTPConnection(base.split("//", 1)[1], timeout=30)
            conn.request("GET", path)
            resp = conn.getresponse()
            conn.close()
            return resp.status, resp.getheader("Location")

        assert first_visit("/status?x=1") == (302, "./status?x=1")  # relative: a proxy's prefix is kept
        assert bokeh_pages(c) == 1
        with ThreadPoolExecutor(3) as ex:  # served by the pages now, straight away
            assert list(ex.map(first_visit, ["/status", "/workers"])) == [(200, None), (200, None)]
        assert bokeh_pages(c) == 1
        for url in (c.dashboard_link, base + "/workers"):
            code, body = http_get(url)
            assert code == 200 and "bokeh" in body.lower(), url
        assert http_get(base + "/no-such-page")[0] == 404
    finally:
        c.cluster.close()
        c.close()


def test_our_cluster_skips_the_worker_dashboard_proxy(tmp_path):
    """Our workers run no dashboard, so the scheduler's route that proxies one has nothing to
    reach; a build's cluster leaves it out, and with it the import of jupyter-server-proxy and
    aiohttp (~0.1 s of CPU before the first batch). Dask's other routes stay."""
    pytest.importorskip("jupyter_server_proxy")  # installed with the notebook extras: what made the route costly
    script = tmp_path / "start.py"
    script.write_text(
        "import json, sys, urllib.request\n"
        "import toolkit\n"
        "if __name__ == '__main__':\n"
        "    c = toolkit.connect(None, jobs=1, memory_limit='512MiB', dashboard_address='127.0.0.1:0')\n"
        "    base = c.dashboard_link.rsplit('/', 1)[0]\n"
        "    health = urllib.request.urlopen(base + '/health').read().decode()\n"
        "    print(json.dumps([health, sorted(m for m in ('jupyter_server_proxy', 'aiohttp') if m in sys.modules)]))\n"
        "    c.close(); c.cluster.close()\n"
    )
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == ["ok", []]


def test_a_script_without_the_main_guard_is_told_to_add_it(tmp_path):
    """Workers import the main script again: one that connects at its top level cannot start a
    local cluster. The error says what to do, and nothing hangs."""
    script = tmp_path / "unguarded.py"
    script.write_text("import toolkit\ntoolkit.connect(None, jobs=1, dashboard_address=None)\nprint('connected')\n")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode != 0 and "connected" not in p.stdout
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("toolkit.ClusterError: could not start a local cluster of 1 worker:")
    assert f"if you ran the script {script}" in last and 'under `if __name__ == "__main__":`' in last
    # the same with a build: each worker says why at once, instead of starting a build of its own
    # (which the output folder's lock would refuse, naming another process: a false lead)
    pics = tmp_path / "pics"
    pics.mkdir()
    Image.new("RGB", (8, 8)).save(pics / "a.png")
    script.write_text(
        f"import toolkit\ntoolkit.build(inputs=[{str(pics)!r}], output={str(tmp_path / 'out')!r}, progress=False)\n"
    )
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode != 0 and "in use by another build" not in p.stderr
    assert "a worker process is importing the main script, which starts a build or a cluster" in p.stderr
    assert f"if you ran the script {script}" in p.stderr.strip().splitlines()[-1]
    guarded = tmp_path / "guarded.py"
    guarded.write_text(
        "import toolkit\nif __name__ == '__main__':\n"
        "    toolkit.connect(None, jobs=1, dashboard_address=None).close()\n    print('connected')\n"
    )
    ok = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert ok.returncode == 0 and "connected" in ok.stdout, ok.stderr[-2000:]


def test_files_kept_with_a_warning_are_counted_and_reported(tmp_path, cli, capsys):
    """--allow-truncated keeps a cut JPEG as ok with a `truncated` warning: the build's summary,
    summary.json and `dataprep report` all say so, not only the manifest's row."""
    src, out = tmp_path / "in", tmp_path / "out"
    photo(src / "whole.jpg", (320, 240), 1)
    synth.write_truncated_jpeg(src / "cut.jpg", 2)
    argv = ["build", "-i", str(src), "-o", str(out), "--jobs", "1", "--dashboard-address", "127.0.0.1:0", "-q"]
    assert cli(argv + ["--allow-truncated"]) == 0
    assert "ok with a warning: truncated=1" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"ok": 2} and summary["warnings"] == {"truncated": 1} and summary["stopped"] is False
    assert cli(["report", str(out)]) == 0
    assert "ok with a warning: truncated=1" in capsys.readouterr().out
    assert cli(["report", str(out), "--csv", str(tmp_path)]) == 2  # a folder, not a file
    assert "cannot write the CSV" in capsys.readouterr().err
