"""Output names near the file system's limits: shortened deterministically (a readable prefix cut on
a character boundary + the collision rule's hash of the original path), never a failure; a rerun
finds the same names, so resuming and stale-output removal work for them."""

import hashlib
import os

import pytest

import toolkit
from toolkit import _synth as synth
from toolkit._manifest import read_rows
from toolkit._media import MediaItem
from toolkit._names import NAME_RESERVE, PATH_RESERVE, NameLimits, fit_stem
from toolkit._names import assign_outputs
from toolkit._synth_video import make_video

from helpers import outputs_on_disk

LONG = "\u00e9t\u00e9 " * 80  # 320 bytes of UTF-8 (two-byte characters among one-byte ones)


def mk(rel, kind="image", root="/in"):
    return MediaItem(path=f"{root}/{rel}", rel=rel, root=root, kind=kind, format=None, size=1, mtime_ns=0)


def h(path):
    return "~" + hashlib.sha1(os.fsencode(path)).hexdigest()[:8]


def test_a_long_name_is_cut_on_a_character_boundary_and_hashed_like_a_collision():
    name = LONG[:150] + ".jpg"  # 229 bytes: fits the disk, but not with ".thumbnail.webp" and a temporary name
    assert len(name.encode()) <= 255
    other = LONG[:150] + "x.jpg"
    a, b, short = (i.out_rel for i in assign_outputs([mk(name), mk(other), mk("short.jpg")], multi_root=False))
    assert short == "short"  # names that fit are left as they were
    for stem, rel in ((a, name), (b, other)):
        raw = stem.encode("utf-8")  # valid UTF-8: no character was cut in half
        assert len(raw) + NAME_RESERVE <= 255
        assert stem.endswith(h("/in/" + rel))
        assert rel.startswith(stem[:-9]) and len(stem) > 100  # a readable prefix of the original
    assert a != b
    assert [i.out_rel for i in assign_outputs([mk(name), mk(other)], multi_root=False)] == [a, b]  # deterministic


def test_long_folders_and_a_long_input_root_are_shortened_per_component():
    folder = "\udcff" * 100  # 100 bytes on the input's disk; written %FF it would be 300 bytes
    items = [
        mk(f"{folder}/a.jpg"),
        mk(f"{folder}/b.jpg"),
        mk("c.jpg", root="/x/" + "r" * 250),
        mk("c.jpg", root="/y/" + "r" * 250),
    ]
    a, b, c1, c2 = (i.out_rel.split("/") for i in assign_outputs(items, multi_root=True))
    assert a[:-1] == b[:-1] and a[-1] == "a" and b[-1] == "b"  # one folder, one name for its files
    assert a[1] == "%FF" * 82 + h(f"/in/{folder}") and len(a[1]) <= 255
    assert c1[0] != c2[0] and all(len(p.encode()) <= 255 for p in c1 + c2)


def test_a_path_past_path_max_goes_into_the_deepest_folder_that_fits():
    limits = NameLimits(name_max=255, path_max=400, output="/o")
    folders = [(f"d{i:02d}" + "x" * 60, f"/in/{i}") for i in range(8)]  # 8 * 64 bytes of folders
    stem = fit_stem(folders, "photo", "/in/deep/photo.jpg", hashed=False, limits=limits)
    assert len(("/o/" + stem).encode()) + PATH_RESERVE < 400
    parts = stem.split("/")
    assert parts[:-1] == [name for name, _ in folders[: len(parts) - 1]]  # the upper folders are kept
    assert parts[-1] == "photo" + h("/in/deep/photo.jpg")


@pytest.mark.integration
def test_long_names_build_resume_and_leave_no_stale_output(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    sub = src / os.fsdecode(b"\xff" * 90 + b"dir")  # %FF-escaped in the output: 273 bytes
    sub.mkdir(parents=True)
    image = LONG[:156] + ".png"  # 238 bytes
    synth.photo(96, 64, seed=1).save(src / image)
    synth.photo(96, 64, seed=2).save(sub / "in a long folder.jpg")
    make_video(src / (LONG[:156] + ".mp4"), seconds=1, size=(96, 64), fps=10)
    assert all(len(os.fsencode(p.name)) <= 255 for p in src.rglob("*"))
    two = [{"op": "thumbnail", "size": 32}, {"op": "resize", "size": 48}]
    first = toolkit.build(inputs=[str(src)], output=str(out), client=client, ops=two, format="webp", progress=False)
    rows = read_rows(out / "manifest.jsonl")
    assert first.counts == {"ok": 3}, [r["error"] for r in rows]
    outs = [o for r in rows for o in r["outputs"]]
    assert len(outs) == 6 and all((out / o).is_file() for o in outs)
    assert all(len(part.encode()) <= 255 for o in outs for part in o.split("/"))
    by_source = {r["source"]: r for r in rows}
    assert by_source[image]["outputs"][0].startswith(LONG[:60])  # readable
    stamps = {o: (out / o).stat().st_mtime_ns for o in outs}

    again = toolkit.build(inputs=[str(src)], output=str(out), client=client, ops=two, format="webp", progress=False)
    assert again.counts == {"ok": 3} and read_rows(out / "manifest.jsonl") == rows  # carried over, not redone
    assert {o: (out / o).stat().st_mtime_ns for o in outs} == stamps

    changed = toolkit.build(inputs=[str(src)], output=str(out), client=client, ops=two, format="webp", quality=60, progress=False)
    assert changed.counts == {"ok": 3}
    assert all((out / o).stat().st_mtime_ns != stamps[o] for o in outs)  # a changed setting redoes them

    one = toolkit.build(inputs=[str(src)], output=str(out), client=client, op="thumbnail", size=32, format="webp", progress=False)
    assert one.counts == {"ok": 3}
    listed = {o for r in read_rows(out / "manifest.jsonl") for o in r["outputs"]}
    on_disk = outputs_on_disk(out)
    assert on_disk == listed and len(listed) == 3  # the resize outputs under shortened names were stale: removed


@pytest.mark.integration
def test_every_video_op_fits_under_a_long_name(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    name = LONG[:160] + ".mp4"  # 244 bytes
    os.rename(make_video(src / "v.mp4", seconds=2, size=(96, 64), fps=10), src / name)
    ops = [
        {"op": "frames", "count": 2},
        {"op": "poster"},
        {"op": "contact-sheet", "frames": 4},
        {"op": "transcode", "size": 64},
        {"op": "clip", "seconds": 1},
        {"op": "thumbnail", "size": 32},
    ]
    report = toolkit.build(inputs=[str(src)], output=str(out), client=client, ops=ops, progress=False)
    (row,) = read_rows(out / "manifest.jsonl")
    assert report.counts == {"ok": 1}, row["error"]
    stem = row["outputs"][0].split("/")[0]
    assert stem.startswith(LONG[:60]) and all(o.startswith(stem) for o in row["outputs"])
    made = {o[len(stem) :] if "/" not in o else "/" + o.rsplit("/", 1)[-1][:4] for o in row["outputs"]}
    assert made == {".poster.jpg", ".contact.jpg", ".mp4", ".jpg", "/0000", "/clip"}  # frames 000000.jpg, clip-0000.mp4


def test_top_level_names_the_exports_own_get_the_collision_hash():
    items = [mk("card/a.jpg"), mk("Parquet/b.jpg"), mk("webdataset.mp4", "video"), mk("cards/c.jpg"), mk("card.jpg")]
    out = {it.rel: it.out_rel for it in assign_outputs(items, multi_root=False)}
    assert out["card/a.jpg"] == f"card{h('/in/card')}/a"
    assert out["Parquet/b.jpg"] == f"Parquet{h('/in/Parquet')}/b"
    assert out["webdataset.mp4"] == f"webdataset{h('/in/webdataset.mp4')}"  # its frames would go in webdataset/
    assert out["cards/c.jpg"] == "cards/c" and out["card.jpg"] == "card"  # an image's file is not the folder
    roots = [mk("x.jpg", root="/a/imagefolder"), mk("y.jpg", root="/b/photos")]
    prefixed = {it.rel: it.out_rel for it in assign_outputs(roots, multi_root=True)}
    assert prefixed["x.jpg"] == f"imagefolder{h('/a/imagefolder')}/x"


def test_an_item_given_its_stem_keeps_every_other_field():
    """assign_outputs builds each item anew (dataclasses.replace cost ~1 s per 100k): a field added
    to MediaItem and not passed on would silently fall back to its default."""
    from dataclasses import fields, replace

    from toolkit._media import MediaInfo, MediaItem
    from toolkit._names import _with_stem

    it = MediaItem(
        "/in/a.jpg", "a.jpg", "/in", "image", "JPEG", 5, 6, "x", MediaInfo(1, 2, est_bytes=3), "/in/a.txt", "/in/a.json"
    )
    assert all(getattr(it, f.name) != f.default for f in fields(MediaItem))  # every field set: the check below means something
    assert _with_stem(it, "a") == replace(it, out_rel="a")
