"""A resume looks only at what changed (issue 17): an unchanged build starts no cluster and rewrites
nothing; a changed, added, removed or touched file is redone, and only it; ``verify`` finds an output
deleted since; a settings change redoes what it changes; an output folder from before the resume
index resumes as well and gets the index once. Real builds (LocalCluster, Pillow), seeded photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import toolkit
from toolkit import _synth
from toolkit._manifest import read_rows

pytestmark = pytest.mark.integration


def photos(src: Path, n: int = 6) -> None:
    for i in range(n):
        _synth.write_photo(src / f"d{i % 2}" / f"p{i}.jpg", 96, 64, seed=i)
    (src / "notes.txt").write_text("not a picture")  # a row of its own: skipped, not media
    (src / "d0" / "p0.txt").write_text("a caption")  # p0.jpg's caption sidecar


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file under the output folder but summary.json."""
    return {
        p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.is_file() and p.name != "summary.json"
    }


def build_in_a_fresh_process(src: Path, out: Path, **settings) -> dict:
    """``toolkit.build`` in a process of its own, as a user's second run: its summary.json, and
    whether that process ever imported ``distributed`` (a cluster cannot start without it)."""
    code = (
        "import json, sys, toolkit\n"
        f"r = toolkit.build(inputs=[{str(src)!r}], output={str(out)!r}, progress=False, size=48, **{settings!r})\n"
        "print(json.dumps({'distributed': 'distributed' in sys.modules, 'ok': r.ok}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **json.loads((out / "summary.json").read_text())}


def build(src: Path, out: Path, client, **settings):
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=48, **settings)
    return json.loads((out / "summary.json").read_text())


def test_an_unchanged_build_starts_no_cluster_and_rewrites_nothing(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src)
    first = build(src, out, client, exports=["parquet"])
    before = stamps(out)
    assert ".dataprep/index.tsv" in before and "manifest.parquet" in before and "README.md" in before

    again = build_in_a_fresh_process(src, out, exports=["parquet"])

    assert again["distributed"] is False  # no cluster: not even its library was imported
    assert stamps(out) == before  # manifest, outputs, index, manifest.parquet, card, export: not rewritten
    assert again["unchanged"] is True and again["decoded"] == 0 and again["resumed"] == 6 and again["batches"] == 0
    assert again["counts"] == first["counts"] and again["ok"] == 6
    assert again["exports"] == first["exports"]  # still describes the export on disk


def test_a_changed_added_removed_or_touched_file_is_redone_and_only_it(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src)
    build(src, out, client)
    _synth.write_photo(src / "d1" / "p1.jpg", 80, 80, seed=99)  # changed (size too)
    _synth.write_photo(src / "d0" / "new.jpg", 96, 64, seed=7)  # added
    (src / "d1" / "p3.jpg").unlink()  # removed
    st = (src / "d0" / "p2.jpg").stat()
    os.utime(src / "d0" / "p2.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: same bytes, newer mtime

    summary = build(src, out, client)

    rows = {r["source"]: r for r in read_rows(out / "manifest.jsonl")}
    assert summary["decoded"] == 3 and summary["resumed"] == 3 and not summary.get("unchanged")
    assert sorted(rows) == ["d0/new.jpg", "d0/p0.jpg", "d0/p2.jpg", "d0/p4.jpg", "d1/p1.jpg", "d1/p5.jpg", "notes.txt"]
    assert rows["d1/p1.jpg"]["width"] == 80 and rows["d1/p1.jpg"]["height"] == 80  # the new picture
    assert rows["d0/p0.jpg"]["caption"] == "a caption"
    # and then nothing to do again
    assert build_in_a_fresh_process(src, out)["unchanged"] is True


def test_an_edited_caption_is_read_again_without_redoing_its_picture(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src)
    build(src, out, client)
    (src / "d0" / "p0.txt").write_text("an edited caption, longer")

    summary = build(src, out, client)

    assert not summary.get("unchanged") and summary["decoded"] == 0
    assert {r["source"]: r for r in read_rows(out / "manifest.jsonl")}["d0/p0.jpg"]["caption"] == "an edited caption, longer"


def test_verify_finds_an_output_deleted_since_and_redoes_its_file(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src)
    build(src, out, client)
    gone = {r["source"]: r for r in read_rows(out / "manifest.jsonl")}["d1/p5.jpg"]["outputs"][0]
    (out / gone).unlink()

    trusted = build_in_a_fresh_process(src, out)  # nothing changed in the inputs: outputs are trusted
    assert trusted["unchanged"] is True and not (out / gone).exists()
    verified = build(src, out, client, verify=True)

    assert verified["decoded"] == 1 and not verified.get("unchanged") and (out / gone).is_file()
    assert build(src, out, client, verify=True)["unchanged"] is True  # all there now: nothing to do


def test_a_settings_change_redoes_what_it_changes(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src)
    build(src, out, client)

    bigger = toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=32)
    assert bigger.ok == 6 and json.loads((out / "summary.json").read_text())["decoded"] == 6
    exported = build(src, out, client, exports=["parquet"])  # an export setting: no file redone, the export written
    assert exported["decoded"] == 6 and not exported.get("unchanged")  # (back to size 48: redone)
    assert (out / "parquet").is_dir() and build(src, out, client, exports=["parquet"])["unchanged"] is True
    assert build(src, out, client)["decoded"] == 0  # the export dropped: the stages run, no file redone


def test_an_output_from_before_the_index_resumes_and_gets_the_index_once(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src)
    build(src, out, client)
    (out / ".dataprep" / "index.tsv").unlink()  # as an older version left it
    manifest = (out / "manifest.jsonl").stat()

    again = build_in_a_fresh_process(src, out)

    assert again["unchanged"] is True and again["distributed"] is False
    assert (out / "manifest.jsonl").stat().st_ino == manifest.st_ino  # the manifest is not rewritten
    index = (out / ".dataprep" / "index.tsv").read_text().splitlines()
    assert len(index) == 1 + 7 and all("\timage\tJPEG\t" in line for line in index[1:] if "\tok\t" in line)
    made = (out / ".dataprep" / "index.tsv").stat().st_mtime_ns
    assert build_in_a_fresh_process(src, out)["unchanged"] is True
    assert (out / ".dataprep" / "index.tsv").stat().st_mtime_ns == made  # read, not made again


def test_a_manifest_rewritten_by_another_hand_is_not_trusted_to_the_index(tmp_path, client):
    """The index names the manifest it was made from: a manifest rewritten since (here: a row
    removed by hand) makes it stale, and the build goes the long way and redoes that file."""
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src)
    build(src, out, client)
    lines = (out / "manifest.jsonl").read_text().splitlines(keepends=True)
    (out / "manifest.jsonl").write_text("".join(line for line in lines if "d1/p5.jpg" not in line))

    summary = build(src, out, client)

    assert summary["decoded"] == 1 and not summary.get("unchanged")
