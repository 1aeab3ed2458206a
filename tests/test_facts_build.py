"""A build's rows carry each file's facts, read from the one read and the one decode of the file
(real LocalCluster, real Pillow and ffmpeg); a manifest written before the facts resumes as it is."""

from __future__ import annotations

import json
import shutil

import pytest

import toolkit
from toolkit import _synth
from toolkit._facts import content_hash, file_hash, hamming
from toolkit._manifest import read_rows
from toolkit._media import FACT_FIELDS

pytestmark = pytest.mark.integration


def corpus(root):
    _synth.write_photo(root / "a.jpg", 800, 600, seed=1)
    shutil.copyfile(root / "a.jpg", root / "same.jpg")  # an exact copy
    _synth.write_photo(root / "near.jpg", 400, 300, seed=1, quality=60)  # a smaller, rougher copy
    _synth.write_photo(root / "other.png", 640, 480, seed=2, fmt="PNG")
    _synth.write_garbage(root / "broken.jpg", seed=3)
    return root


def _count_input_opens(prefix: str) -> None:
    """On a worker: count every ``open`` of a file under ``prefix`` (Python's audit hook: every
    ``open()``, Pillow's included, raises the ``open`` event)."""
    import sys

    counts: dict[str, int] = {}
    sys._dataprep_test_opens = counts  # type: ignore[attr-defined]

    def hook(event, args):
        if event == "open" and isinstance(args[0], str) and args[0].startswith(prefix):
            counts[args[0]] = counts.get(args[0], 0) + 1

    sys.addaudithook(hook)


def _opens() -> dict[str, int]:
    import sys

    return dict(getattr(sys, "_dataprep_test_opens", {}))


def test_rows_carry_the_facts_of_one_read(tmp_path, make_cluster):
    """Each image is opened once on the workers (counted by an audit hook in every worker), and its
    row has the hash of exactly its bytes, its phash and sharpness, and each output's size. What
    this proves: no second ``open`` of an input on the workers (any second read of the file would
    need one); it does not count bytes read."""
    src = corpus(tmp_path / "in")
    out = tmp_path / "out"
    client = make_cluster()
    client.run(_count_input_opens, str(src))
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=128)
    opens: dict[str, int] = {}
    for counts in client.run(_opens).values():
        for path, n in counts.items():
            opens[path] = opens.get(path, 0) + n
    rows = {r["source"]: r for r in read_rows(out / "manifest.jsonl")}
    good = ["a.jpg", "same.jpg", "near.jpg", "other.png"]
    assert {p: opens.get(str(src / p)) for p in good} == dict.fromkeys(good, 1)
    for name in good:
        r = rows[name]
        assert r["status"] == "ok" and r["content_hash"] == content_hash((src / name).read_bytes())
        assert len(r["phash"]) == 16 and r["sharpness"] > 0
        assert r["output_bytes"] == [(out / o).stat().st_size for o in r["outputs"]] and sum(r["output_bytes"]) == r["bytes_out"]
    assert rows["a.jpg"]["content_hash"] == rows["same.jpg"]["content_hash"] != rows["near.jpg"]["content_hash"]
    assert hamming(rows["a.jpg"]["phash"], rows["near.jpg"]["phash"]) <= 4
    assert hamming(rows["a.jpg"]["phash"], rows["other.png"]["phash"]) > 12
    broken = rows["broken.jpg"]
    assert broken["status"] == "failed" and all(broken[f] is None for f in FACT_FIELDS)


def test_a_manifest_from_before_the_facts_resumes_without_redoing_a_file(tmp_path, client):
    """The facts are not settings: rows without them (as every manifest before them) are carried."""
    src = corpus(tmp_path / "in")
    out = tmp_path / "out"
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=96)
    manifest = out / "manifest.jsonl"
    old = [{k: v for k, v in r.items() if k not in FACT_FIELDS} for r in read_rows(manifest)]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in old))
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=96)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] == 4  # every ok file; the broken one is tried again, as always
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == mtimes  # nothing rewritten
    rows = {r["source"]: r for r in read_rows(manifest)}
    assert rows["a.jpg"]["content_hash"] is None and rows["a.jpg"]["outputs"]  # carried as it was: facts unknown


def test_a_video_row_has_its_file_hash_and_its_poster_frame_facts(tmp_path, client):
    from toolkit._synth_video import make_video

    src = tmp_path / "in"
    src.mkdir()
    video = make_video(src / "clip.mp4", seconds=2, size=(160, 120), seed=4)
    out = tmp_path / "out"
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, op="poster")
    (row,) = read_rows(out / "manifest.jsonl")
    assert row["status"] == "ok" and row["content_hash"] == file_hash(video)
    assert len(row["phash"]) == 16 and row["sharpness"] > 0
    assert row["output_bytes"] == [(out / o).stat().st_size for o in row["outputs"]]
    # no poster frame decoded (frames only): the hash still, no pixel facts (the frames are ffmpeg's, never decoded here)
    toolkit.build(inputs=[str(src)], output=str(tmp_path / "frames"), client=client, progress=False, op="frames", count=3)
    (row,) = read_rows(tmp_path / "frames" / "manifest.jsonl")
    assert row["status"] == "ok" and row["content_hash"] == file_hash(video) and row["phash"] is row["sharpness"] is None
    assert len(row["output_bytes"]) == len(row["outputs"]) > 1
