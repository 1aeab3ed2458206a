"""Videos in the WebDataset export (real LocalCluster, real ffmpeg): each frame and poster an image
sample keyed ``<video key>_<n>``, each clip an ``.mp4`` sample, with its time in the video in its
``.json``, and all of one video's samples in one split."""

from __future__ import annotations

import json

import pytest
from test_export_build import data_files

import toolkit
from toolkit import _synth
from toolkit._export import ParquetSink, WebDatasetSink
from toolkit._manifest import read_rows
from toolkit._synth_video import make_video

pytestmark = pytest.mark.integration


def test_video_outputs_are_samples_keyed_by_their_video(tmp_path, client):
    import pyarrow.parquet as pq
    import webdataset as wds

    src, out = tmp_path / "in", tmp_path / "out"
    make_video(src / "clips" / "walk.v1.mp4", seconds=2, size=(160, 120))
    _synth.write_photo(src / "stills" / "a.jpg", 200, 150, seed=1)
    ops = [
        {"op": "frames", "fps": 2, "size": 64},
        {"op": "poster", "size": 64},
        {"op": "clip", "seconds": 1},
        {"op": "thumbnail", "size": 48},
    ]
    report = toolkit.build(
        inputs=[str(src)], output=str(out), client=client, progress=False, ops=ops, exports=[WebDatasetSink(), ParquetSink()]
    )
    assert not report.stopped and report.counts == {"ok": 2}, report.counts
    video = next(r for r in read_rows(out / "manifest.jsonl") if r["source"].endswith(".mp4"))

    urls = data_files(out, "webdataset", "tar")["train"]  # no splits asked for: one split, "train"
    samples = {s["__key__"]: s for s in wds.WebDataset(urls, shardshuffle=False).decode("pil")}
    mine = {k: s for k, s in samples.items() if k.startswith("clips_walk_v1_mp4_")}
    assert len(mine) == len(video["outputs"]) and all("." not in k for k in samples)
    kinds = {k: json.loads(s["json"]) if isinstance(s["json"], bytes) else s["json"] for k, s in mine.items()}
    frames = sorted((f["t"], k) for k, f in kinds.items() if f["kind"] == "frame")
    assert [t for t, _ in frames] == [f["t"] for f in video["frames"]] and len(frames) >= 3
    assert all(mine[k]["jpg"].size == (kinds[k]["width"], kinds[k]["height"]) for _, k in frames)
    clips = [k for k, f in kinds.items() if f["kind"] == "clip"]
    assert clips and all("mp4" in mine[k] and kinds[k]["t_end"] > kinds[k]["t"] for k in clips)
    assert [f["kind"] for f in kinds.values()].count("poster") == 1
    assert {f["video"] for f in kinds.values()} == {"clips_walk_v1_mp4"} and {f["split"] for f in kinds.values()} == {"train"}

    table = pq.read_table(out / "parquet")  # images only: frames, the poster and the photo, not the clips
    assert sorted(table.column("kind").to_pylist(), key=str) == sorted(
        [f["kind"] for f in kinds.values() if f["kind"] != "clip"] + [None], key=str
    )
