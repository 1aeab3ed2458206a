"""Scanning: content sniffing, junk, special files, loops, deterministic order; collision-free names."""

import os
import socket

import pytest
from hypothesis import given, settings, strategies as st

from toolkit import InputError
from toolkit._media import MediaItem
from toolkit._names import assign_outputs
from toolkit._scan import scan

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 60
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 60


def write(p, data=JPEG):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_sniff_by_content_not_extension(tmp_path):
    write(tmp_path / "really_a_png.jpg", PNG)
    write(tmp_path / "jpeg_named.txt", JPEG)
    write(tmp_path / "text.jpg", b"hello, I am not an image")
    write(tmp_path / "notes.txt", b"just notes")
    res = scan(tmp_path)
    fmts = {i.rel: i.format for i in res.items}
    assert fmts["really_a_png.jpg"] == "PNG"
    assert fmts["jpeg_named.txt"] == "JPEG"
    assert "text.jpg" in fmts  # claims to be media: goes on to fail its probe, never silently skipped
    rows = {r.source: r for r in res.rows}
    assert rows["notes.txt"].status == "skipped"


def test_junk_special_files_and_loops_are_never_opened(tmp_path):
    write(tmp_path / "a" / "ok.jpg")
    write(tmp_path / "a" / ".DS_Store", b"x")
    write(tmp_path / "a" / "._ok.jpg", b"x")
    write(tmp_path / "a" / "Thumbs.db", b"x")
    write(tmp_path / "a" / "empty.jpg", b"")
    os.mkfifo(tmp_path / "a" / "pipe.jpg")  # opening it would block forever
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "a" / "sock.jpg"))
    os.symlink(tmp_path / "a", tmp_path / "a" / "loop")
    os.symlink("missing.jpg", tmp_path / "a" / "dangling.jpg")
    os.symlink("self", tmp_path / "a" / "self")
    write(tmp_path / ".git" / "objects" / "x.jpg")
    res = scan(tmp_path)
    sock.close()
    assert [i.rel for i in res.items] == ["a/ok.jpg"]
    rows = {r.source: (r.status, (r.error or r.warnings[0]).type) for r in res.rows}
    assert rows == {
        "a/.DS_Store": ("skipped", "junk"),
        "a/._ok.jpg": ("skipped", "junk"),
        "a/Thumbs.db": ("skipped", "junk"),
        "a/empty.jpg": ("failed", "empty-file"),
        "a/pipe.jpg": ("failed", "not-regular-file"),
        "a/sock.jpg": ("failed", "not-regular-file"),
        "a/loop": ("failed", "symlink-loop"),
        "a/dangling.jpg": ("failed", "not-found"),
        "a/self": ("failed", "symlink-loop"),
    }
    for r in res.rows:
        msg = (r.error or r.warnings[0]).message
        assert r.source.split("/")[-1] in msg  # every reason names the file


def test_order_is_deterministic_and_output_folder_excluded(tmp_path):
    for name in ["b.jpg", "a.jpg", "z/1.jpg", "m/2.jpg", "thumbs/x.jpg"]:
        write(tmp_path / name)
    res = scan(tmp_path, exclude=[tmp_path / "thumbs"])
    assert [i.rel for i in res.items] == ["a.jpg", "b.jpg", "m/2.jpg", "z/1.jpg"]


def test_strange_names(tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9 -x $(touch y).jpg"  # not UTF-8, spaces, dash, shell chars
    with open(raw, "wb") as fh:
        fh.write(JPEG)
    write(tmp_path / "\u65e5\u672c.jpg")
    res = scan(tmp_path)
    assert len(res.items) == 2
    assert not (tmp_path / "y").exists()


def test_missing_input_is_misuse(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        scan(tmp_path / "nope")


def mk(rel, kind="image", root="/in"):
    return MediaItem(path=f"{root}/{rel}", rel=rel, root=root, kind=kind, format=None, size=1, mtime_ns=0)


def test_same_stem_side_by_side_both_survive():
    out = [i.out_rel for i in assign_outputs([mk("a/photo.jpg"), mk("a/photo.png"), mk("a/other.jpg")], multi_root=False)]
    assert out == ["a/photo.jpg", "a/photo.png", "a/other"]


def test_case_insensitive_collision_and_second_order_collision():
    out = [i.out_rel for i in assign_outputs([mk("A.JPG"), mk("a.jpg"), mk("x.png"), mk("x"), mk("x.png.tif")], multi_root=False)]
    assert len({o.casefold() for o in out}) == len(out)


def test_video_frame_folder_does_not_swallow_an_image():
    out = [i.out_rel for i in assign_outputs([mk("clip.mp4", "video"), mk("clip/000001.jpg")], multi_root=False)]
    assert out[1] == "clip/000001" and out[0] != "clip"


def test_multiple_roots_get_their_own_folders():
    items = [mk("x.jpg", root="/data/cams"), mk("x.jpg", root="/other/cams"), mk("y.jpg", root="/data/phone")]
    out = [i.out_rel for i in assign_outputs(items, multi_root=True)]
    assert len(set(out)) == 3 and out[2] == "phone/y"


names = st.lists(
    st.text(alphabet="aAbB./", min_size=1, max_size=6).filter(
        lambda s: (
            not s.startswith("/")
            and not s.endswith("/")
            and "//" not in s
            and all(p not in ("", ".", "..") for p in s.split("/"))
        )
    ),
    min_size=1,
    max_size=30,
    unique=True,
)


@given(names, st.lists(st.booleans(), min_size=30, max_size=30))
@settings(max_examples=300, deadline=None)
def test_naming_is_collision_free_and_deterministic(rels, kinds):
    items = [mk(r, "video" if k else "image") for r, k in zip(rels, kinds)]
    a = [i.out_rel for i in assign_outputs(items, multi_root=False)]
    assert a == [i.out_rel for i in assign_outputs(items, multi_root=False)]
    # every output file name ("<stem>.jpg") is unique, ignoring case
    assert len({o.casefold() for o in a}) == len(a)


def test_only_an_items_own_earlier_outputs_are_stale(tmp_path):
    """Outputs that an earlier row lists are removable only under the item's own name, inside OUTPUT."""
    from toolkit._fs import path_b64
    from toolkit._manifest import stale_outputs

    it = MediaItem(
        path=str(tmp_path / "a/photo.jpg"),
        rel="a/photo.jpg",
        root=str(tmp_path),
        kind="image",
        format="JPEG",
        size=1,
        mtime_ns=1,
        out_rel="a/photo",
    )
    row = {
        "input_root": str(tmp_path),
        "source_b64": path_b64("a/photo.jpg"),
        "outputs": [
            "a/photo.thumbnail.jpg",
            "a/photo/000003.jpg",
            "a/photograph.jpg",
            "b/photo.jpg",
            "/etc/passwd",
            "a/photo/../../../outside.jpg",
        ],
    }
    other = dict(row, source_b64=path_b64("a/other.jpg"))
    older = dict(row, outputs=["a/photo.resize.jpg", 7, "a/photo.x\0.jpg"])  # every earlier row counts; junk is ignored
    ((key, outs),) = stale_outputs([it], [older, row, other]).items()
    assert outs == {"a/photo.thumbnail.jpg", "a/photo/000003.jpg", "a/photo.resize.jpg"}


def test_removing_outputs_never_leaves_the_output_folder(tmp_path):
    from toolkit._manifest import remove_outputs

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (out / "a").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "keep.jpg").write_text("x")
    (out / "linked").symlink_to(elsewhere, target_is_directory=True)
    (out / "a" / "gone.jpg").write_text("x")
    assert remove_outputs(out, ["linked/keep.jpg", "a/gone.jpg", "../elsewhere/keep.jpg", "a/\0.jpg"]) == 1
    assert (elsewhere / "keep.jpg").exists() and not (out / "a").exists()  # emptied folder pruned


def test_console_entry_flushes_its_output_and_keeps_the_status(tmp_path):
    """``python -m toolkit`` ends with a quick exit: what it printed to a pipe must all arrive."""
    import subprocess
    import sys

    from PIL import Image

    for i in range(3):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(tmp_path / f"p{i}.png")
    ok = subprocess.run([sys.executable, "-m", "toolkit", "scan", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "png" in ok.stdout.lower() and ok.stdout.endswith("\n")
    bad = subprocess.run(
        [sys.executable, "-m", "toolkit", "scan", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def _links_into_an_output(tmp_path):
    """An input holding an earlier output, links into another output (to it, to a folder in it, to a
    file in it), and a folder of another tool's with a manifest.jsonl of its own (that one is input)."""
    src, out = tmp_path / "in", tmp_path / "out"
    write(src / "a" / "x.jpg")
    write(src / "thumbs" / "a" / "x.jpg")
    (src / "thumbs" / "manifest.jsonl").write_text('{"source": "a/x.jpg", "source_b64": "YS94LmpwZw==", "status": "ok"}\n')
    write(src / "other" / "y.jpg")
    write(src / "phone" / "z.jpg")
    (src / "phone" / "manifest.jsonl").write_text("")  # an empty one proves nothing: the photos stay input
    (src / "other" / "manifest.jsonl").write_text('{"image": "y.jpg", "label": 3}\n')
    write(out / "a" / "x.jpg")
    write(out / "top.jpg")
    (out / ".dataprep").mkdir()
    os.symlink(out, src / "to-output")
    os.symlink(out / "a", src / "to-a-folder-in-it")
    os.symlink(out / "top.jpg", src / "to-a-file-in-it.jpg")
    return src, out


def test_scan_leaves_out_output_folders_and_links_into_them_as_the_build_does(tmp_path):
    src, out = _links_into_an_output(tmp_path)
    told = [i.rel for i in scan(src, exclude=[out]).items]  # as the build calls it
    assert told == ["a/x.jpg", "other/y.jpg", "phone/z.jpg"]
    assert [i.rel for i in scan(src).items] == told  # `dataprep scan` is not told the output: it knows one
    assert [i.rel for i in scan(src / "thumbs").items] == ["a/x.jpg"]  # an output asked for by name is scanned


def test_dataprep_scan_counts_what_a_build_would_take(tmp_path, capsys):
    import json

    from toolkit._cli import main

    src, _out = _links_into_an_output(tmp_path)
    assert main(["scan", "--json", str(src)]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == 3


@pytest.mark.integration
def test_a_build_takes_no_file_through_a_link_into_its_output(tmp_path, client):
    import toolkit
    from toolkit._manifest import read_rows

    src, out = _links_into_an_output(tmp_path)
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False)
    rows = read_rows(out / "manifest.jsonl")
    assert sorted(r["source"] for r in rows if r["status"] != "skipped") == ["a/x.jpg", "other/y.jpg", "phone/z.jpg"]
    assert sorted(r["source"] for r in rows if r["status"] == "skipped") == ["other/manifest.jsonl", "phone/manifest.jsonl"]
