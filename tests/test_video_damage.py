"""Damaged, tiny, huge and rotated videos through the video ops: what a user gets and what the
row says (unit tests on the op functions; the build over a real cluster is in test_build.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from toolkit._ops import FileProblem, OpSpec
from toolkit._ops import ffmpeg
from toolkit._ops import video as v
from toolkit import _synth_video as sv

RUN = dict(fmt="png", quality=85, background="#ffffff", timeout=60)


@pytest.fixture(scope="module")
def vids(tmp_path_factory):
    d = tmp_path_factory.mktemp("damaged")
    return {
        "cut": sv.make_cut_video(d / "cut.mp4", seconds=4, keep=0.5),
        "damaged": sv.make_damaged_video(d / "damaged.mp4", seconds=4),
        "one": sv.make_video(d / "one.mp4", seconds=0.04, fps=25),
    }


def made(folder):
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _ops(path, *ops, out, **kw):
    made(Path(out))  # as a build makes it: video ops never make the output folder
    info = v.probe_video(path)
    outs, warns, extra = v.run_video_ops(path, info, tuple(ops), str(out), "o", **RUN, **kw)
    return outs, {w.type: w.message for w in warns}, extra


# ---------------------------------------------------------------------------------- damaged


def test_a_cut_video_says_how_much_decoded(vids, tmp_path):
    """Index at the front, data cut at half: the frames there are, and a warning that says what is missing."""
    outs, warns, extra = _ops(vids["cut"], OpSpec.make("frames", fps=1), out=tmp_path)
    assert [f["t"] for f in extra["frames"]] == pytest.approx([0, 1, 2], abs=0.1)
    assert "cut short" in warns["truncated"] and "of 4.0 s" in warns["truncated"] and "cut.mp4" in warns["truncated"]
    assert "decoded 2.0 s" in warns["truncated"] or "decoded 1.9 s" in warns["truncated"]


def test_frames_past_the_decodable_part_are_not_invented(vids, tmp_path):
    """--count and contact sheets get only real frames of the decodable first half, and say so."""
    outs, warns, extra = _ops(
        vids["cut"], OpSpec.make("frames", count=8), OpSpec.make("contact-sheet", frames=8, size=64), out=tmp_path
    )
    ts = [f["t"] for f in extra["frames"]]
    assert len(ts) == len(set(ts)) == 4 and max(ts) < 2.1
    assert extra["contact_sheet_t"] == ts  # no tile repeats the last decodable frame
    assert "4 of 8 frames" in warns["fewer-frames"] and "nothing could be decoded after t=1.8 s of 4.0 s" in warns["fewer-frames"]
    assert "truncated" in warns
    with Image.open(tmp_path / "o.contact.png") as sheet:  # a sheet of 4 tiles (3 columns, 2 rows), not 8
        assert sheet.size == (3 * 64 + 4 * 4, 2 * 48 + 3 * 4)


def test_a_video_damaged_in_the_middle_says_where(vids, tmp_path):
    outs, warns, extra = _ops(vids["damaged"], OpSpec.make("frames", fps=1), OpSpec.make("contact-sheet", frames=8), out=tmp_path)
    msg = warns["decode-errors"]
    assert "damaged.mp4" in msg and "decode errors" in msg and "between t=" in msg
    assert "truncated" not in warns  # frames that failed to decode are not a cut
    ts = extra["contact_sheet_t"]
    assert len(ts) == len(set(ts)) < 8 and "fewer-frames" in warns


def test_transcode_and_clip_of_a_cut_video(vids, tmp_path):
    outs, warns, extra = _ops(vids["cut"], OpSpec.make("clip", seconds=1.5), out=tmp_path / "c")
    assert [c["end"] for c in extra["clips"]][0] == 1.5 and extra["clips"][-1]["end"] < 2.2  # what it holds
    assert "making its clip of t=1.5-3.0 s" in warns["truncated"]
    outs, warns, _e = _ops(vids["cut"], OpSpec.make("transcode", size=120), out=tmp_path / "t")
    assert "of 4.0 s" in warns["truncated"]
    assert v.probe_video(str(tmp_path / "t" / outs[0])).duration < 2.2


def test_nothing_decodable_fails_as_truncated(tmp_path):
    cut = sv.make_cut_video(tmp_path / "stub.mp4", seconds=4, keep=0.04)
    for op in (OpSpec.make("frames", fps=1), OpSpec.make("contact-sheet"), OpSpec.make("poster")):
        with pytest.raises(FileProblem) as e:
            _ops(cut, op, out=tmp_path / "o")
        assert e.value.code == "truncated" and "stub.mp4" in e.value.message
    assert not [p for p in (tmp_path / "o").rglob("*") if p.is_file()]


def test_an_intact_video_has_no_damage_warning(tmp_path):
    clip = sv.make_video(tmp_path / "fine.mp4", seconds=3, vfr=True)
    _o, warns, _e = _ops(
        clip,
        OpSpec.make("frames", fps=1),
        OpSpec.make("contact-sheet", frames=4),
        OpSpec.make("transcode", size=64),
        OpSpec.make("clip", seconds=1),
        out=tmp_path / "o",
    )
    assert warns == {}


# ---------------------------------------------------------------------------------- one frame


def test_a_single_frame_video_gives_its_frame_poster_and_sheet(vids, tmp_path):
    outs, warns, extra = _ops(
        vids["one"],
        OpSpec.make("frames", fps=1),
        OpSpec.make("poster"),
        OpSpec.make("contact-sheet", frames=16, size=100),
        out=tmp_path,
    )
    assert len(extra["frames"]) == 1 and extra["poster_t"] == 0.0 and extra["contact_sheet_t"] == [0.0]
    with Image.open(tmp_path / "o.contact.png") as sheet:  # one tile, not 16 copies of it
        assert sheet.size == (100 + 2 * 4, 75 + 2 * 4)
    assert "1 distinct frames of 16" in warns["fewer-frames"]
    assert v.poster_frame(vids["one"], v.probe_video(vids["one"]), timeout=30).size == (320, 240)


# ---------------------------------------------------------------------------------- huge frames


def test_frames_larger_than_ffmpeg_decodes_are_a_limit(tmp_path):
    big = sv.make_oversized_video(tmp_path / "huge.mov", (16384, 16384))
    with pytest.raises(FileProblem) as e:
        v.probe_video(big)
    assert e.value.code == "limit-exceeded" and "16384x16384" in e.value.message and "huge.mov" in e.value.message


def test_frames_too_large_for_the_worker_fail_before_decoding(tmp_path, monkeypatch):
    big = sv.make_oversized_video(tmp_path / "big.mov", (8192, 8192))
    info = v.probe_video(big)
    ran = []
    real = ffmpeg._run
    monkeypatch.setattr(ffmpeg, "_run", lambda *a, **k: ran.append(a) or real(*a, **k))
    cap = v.memory_in_use() + v.FFMPEG_BASELINE_BYTES + 200 * 2**20  # 200 MiB left: one 8192x8192 RGB frame is 192
    for call in (
        lambda: v.run_video_ops(
            big, info, (OpSpec.make("frames", fps=1),), str(made(tmp_path / "o")), "b", **RUN, memory_cap=cap
        ),
        lambda: v.find_poster(big, info, timeout=30, memory_cap=cap),
    ):
        with pytest.raises(FileProblem) as e:
            call()
        assert e.value.code == "limit-exceeded" and "8192x8192" in e.value.message and "`memory_limit`" in e.value.message
    assert ran == []


# ---------------------------------------------------------------------------------- rotation


def _red_corner(im: Image.Image) -> str:
    """Which quarter-corner of ``im`` is red: 'tl', 'tr', 'bl' or 'br'."""
    im = im.convert("RGB")
    w, h = im.size
    spots = {
        "tl": (w // 10, h // 10),
        "tr": (w - 1 - w // 10, h // 10),
        "bl": (w // 10, h - 1 - h // 10),
        "br": (w - 1 - w // 10, h - 1 - h // 10),
    }
    red = [k for k, xy in spots.items() if (lambda p: p[0] > 150 and p[1] < 90 and p[2] < 90)(im.getpixel(xy))]
    assert len(red) == 1, (red, [im.getpixel(xy) for xy in spots.values()])
    return red[0]


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_rotated_video_is_displayed_as_a_player_shows_it_by_every_op(tmp_path, rotate):
    """The display matrix turns the stored pixels counter-clockwise by ``rotate``: every output
    shows the red corner where a player does, and the sizes are the displayed ones."""
    clip = sv.make_video(tmp_path / "phone.mp4", seconds=2, size=(320, 240), pattern=sv.MARKER, rotate=rotate)
    stored = Image.new("RGB", (4, 4), "gray")
    stored.paste((255, 0, 0), (0, 0, 1, 1))
    want = _red_corner(stored.rotate(rotate, expand=True))  # PIL turns counter-clockwise too
    wh = (240, 320) if rotate in (90, 270) else (320, 240)
    info = v.probe_video(clip)
    assert (info.width, info.height) == wh
    ops = (
        OpSpec.make("frames", fps=1),
        OpSpec.make("frames", count=2),
        OpSpec.make("poster"),
        OpSpec.make("contact-sheet", frames=1, size=400),
        OpSpec.make("transcode"),
        OpSpec.make("clip", seconds=1),
    )
    outs, _w, _e = v.run_video_ops(clip, info, ops, str(made(tmp_path / "o")), "p", **RUN)
    images = [o for o in outs if o.endswith(".png")]
    assert len(images) == 2 + 2 + 1 + 1
    for o in images:
        with Image.open(tmp_path / "o" / o) as im:
            assert _red_corner(im) == want, o
            if "contact" not in o:
                assert im.size == wh, o
    for o in [o for o in outs if o.endswith(".mp4")]:  # transcode and clips: upright pixels, no rotation left
        back = v.probe_video(str(tmp_path / "o" / o))
        assert back.rotation == 0 and (back.width, back.height) == wh, o
        assert _red_corner(v.poster_frame(str(tmp_path / "o" / o), back, timeout=30)) == want, o


# ---------------------------------------------------------------------------------- in a build


@pytest.mark.integration
def test_damaged_tiny_huge_and_rotated_videos_in_a_build(tmp_path, client):
    """On a real cluster: damaged videos are ok rows whose warnings say what is missing, a single
    frame is enough, frames larger than ffmpeg decodes are limit-exceeded, a phone video's row has
    its displayed size."""
    import toolkit
    from toolkit._manifest import read_rows

    src = tmp_path / "in"
    sv.make_cut_video(src / "cut.mp4", seconds=4)
    sv.make_damaged_video(src / "damaged.mp4", seconds=4)
    sv.make_video(src / "one.mp4", seconds=0.04)
    sv.make_oversized_video(src / "huge.mov", (16384, 16384))
    sv.make_video(src / "phone.mp4", seconds=1, size=(320, 240), pattern=sv.MARKER, rotate=90)
    out = tmp_path / "out"
    report = toolkit.build(
        inputs=[str(src)],
        output=str(out),
        client=client,
        progress=False,
        ops=[{"op": "frames", "fps": 1}, {"op": "poster"}, {"op": "contact-sheet", "frames": 8}],
    )
    rows = {r["source"]: r for r in read_rows(out / "manifest.jsonl")}
    warn = {k: {w["type"]: w["message"] for w in r["warnings"]} for k, r in rows.items()}
    assert rows["cut.mp4"]["status"] == "ok" and "of 4.0 s" in warn["cut.mp4"]["truncated"]
    assert "nothing could be decoded after" in warn["cut.mp4"]["fewer-frames"]
    assert len([o for o in rows["cut.mp4"]["outputs"] if o.startswith("cut/")]) == 3
    assert rows["damaged.mp4"]["status"] == "ok" and "between t=" in warn["damaged.mp4"]["decode-errors"]
    assert rows["one.mp4"]["status"] == "ok" and sorted(rows["one.mp4"]["outputs"]) == [
        "one.contact.jpg",
        "one.poster.jpg",
        "one/000000.jpg",
    ]
    assert rows["huge.mov"]["status"] == "failed" and rows["huge.mov"]["error"]["type"] == "limit-exceeded"
    phone = rows["phone.mp4"]
    assert phone["status"] == "ok" and (phone["width"], phone["height"]) == (240, 320)
    with Image.open(out / "phone.poster.jpg") as im:
        assert im.size == (240, 320) and _red_corner(im) == "bl"  # 90 degrees counter-clockwise
    assert report.counts == {"ok": 4, "failed": 1}


@pytest.mark.integration
def test_frames_too_large_for_the_worker_are_a_limit_in_a_build(tmp_path, make_cluster):
    import toolkit
    from toolkit._manifest import read_rows

    src = tmp_path / "in"
    sv.make_oversized_video(src / "big.mov", (8192, 8192))
    out = tmp_path / "out"
    client = make_cluster(limit="512MiB", jobs=1)
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, op="poster")
    (row,) = read_rows(out / "manifest.jsonl")
    assert row["status"] == "failed" and row["error"]["type"] == "limit-exceeded", row
    assert "8192x8192" in row["error"]["message"] and "`memory_limit`" in row["error"]["message"]
