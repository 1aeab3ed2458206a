"""The resume index: written and read back as it was, stale once its manifest is rewritten, not
trusted when cut short; the scan takes an unchanged file's kind from it without opening the file."""

from __future__ import annotations

import os

from toolkit import _synth
from toolkit._fs import path_b64
from toolkit._index import INDEX, ResumeIndex
from toolkit._manifest import Manifest
from toolkit._scan import scan


def rows() -> list[dict]:
    return [
        {
            "source": name,
            "source_b64": path_b64(name),
            "input_root": "/in",
            "status": "ok",
            "error": None,
            "warnings": [],
            "outputs": [name.replace(".png", ".jpg")],
            "bytes_in": 10 + i,
            "mtime_ns": 1000 + i,
            "settings": "k1",
        }
        for i, name in enumerate(["a/x.png", "b\tc.png", "caf\udce9.png"])  # a tab, an undecodable byte
    ] + [{"source": "n.txt", "source_b64": path_b64("n.txt"), "input_root": "/in", "status": "skipped",
          "error": {"type": "not-media", "message": "m"}, "outputs": []}]  # fmt: skip


def test_an_index_reads_back_what_was_written_until_its_manifest_changes(tmp_path):
    m = Manifest(tmp_path)
    m.write_all(rows())
    ResumeIndex.from_rows(rows()).write(tmp_path, m.path)
    back = ResumeIndex.load(tmp_path, m.path)
    assert back is not None and len(back) == 4
    e = back.entry("/in", path_b64("caf\udce9.png"))
    assert (e.status, e.size, e.mtime_ns, e.settings, e.outputs) == ("ok", 12, 1002, "k1", '["caf\\udce9.jpg"]')
    assert back.entry("/in", path_b64("n.txt")).reason == "not-media"

    m.write_all(rows()[:2])  # the manifest rewritten (toolkit.curate, an editor): the index is stale
    assert ResumeIndex.load(tmp_path, m.path) is None


def test_an_index_cut_short_is_not_trusted(tmp_path):
    m = Manifest(tmp_path)
    m.write_all(rows())
    ResumeIndex.from_rows(rows()).write(tmp_path, m.path)
    data = (tmp_path / INDEX).read_bytes()
    (tmp_path / INDEX).write_bytes(data[:-7])
    assert ResumeIndex.load(tmp_path, m.path) is None


def test_the_scan_takes_an_unchanged_files_kind_from_the_index_and_sniffs_a_changed_one(tmp_path):
    _synth.write_photo(tmp_path / "in" / "p.jpg", 32, 32, seed=1)
    _synth.write_photo(tmp_path / "in" / "q.jpg", 32, 32, seed=2)
    root = str(tmp_path / "in")
    st_p, st_q = os.stat(tmp_path / "in" / "p.jpg"), os.stat(tmp_path / "in" / "q.jpg")
    known = {
        root: {
            path_b64("p.jpg"): f"{st_p.st_size}\t{st_p.st_mtime_ns}\timage\tPNG\tok\t\tk\t\t[]",  # as an earlier scan said
            path_b64("q.jpg"): f"{st_q.st_size}\t{st_q.st_mtime_ns - 1}\timage\tPNG\tok\t\tk\t\t[]",  # touched since
        }
    }
    scanned = scan(root, known=known)
    assert {i.rel: i.format for i in scanned.items} == {"p.jpg": "PNG", "q.jpg": "JPEG"}  # p believed, q sniffed again
    assert scanned.seen == {(root, "p.jpg"): "ok\t\tk\t\t[]"}  # what a resume compares: p only
