"""A build puts each file's caption and metadata in its row (real LocalCluster, real Pillow and
ffmpeg); a bad sidecar is a warning on its image's row, and the image is still made."""

from __future__ import annotations

import json

import pytest

import toolkit
from toolkit import _synth
from tests.helpers import rows_by_source

pytestmark = pytest.mark.integration


def test_rows_carry_captions_and_meta_and_a_bad_sidecar_is_a_warning(tmp_path, client):
    from toolkit._synth_video import make_video

    src, out = tmp_path / "in", tmp_path / "out"
    _synth.write_photo(src / "cats" / "a.jpg", 320, 240, seed=1)
    (src / "cats" / "a.txt").write_text("a grey cat on a mat\n", encoding="utf-8")
    (src / "cats" / "a.json").write_text('{"source": "garden", "year": 2024}')
    _synth.write_photo(src / "cats" / "b.jpg", 320, 240, seed=2)
    (src / "cats" / "b.txt").write_bytes(b"caf\xe9 au lait")  # Latin-1, not UTF-8
    (src / "cats" / "b.json").write_text('{"source": ')  # cut short
    _synth.write_photo(src / "c.jpg", 320, 240, seed=3)  # no sidecars
    (src / "readme.txt").write_text("about this folder")  # no image beside it
    make_video(src / "clip.mp4", seconds=2, size=(160, 120), seed=4)
    (src / "clip.txt").write_text("a short clip")
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=128, op=["thumbnail", "poster"])
    rows = rows_by_source(out, n=5)  # a.jpg, b.jpg, c.jpg, clip.mp4, readme.txt: no row per sidecar
    a, b, c, clip = rows["cats/a.jpg"], rows["cats/b.jpg"], rows["c.jpg"], rows["clip.mp4"]
    assert a["status"] == "ok" and a["caption"] == "a grey cat on a mat" and a["meta"] == {"source": "garden", "year": 2024}
    assert not a["warnings"]
    assert b["status"] == "ok" and b["outputs"] and b["caption"] is None and b["meta"] is None
    assert sorted(w["type"] for w in b["warnings"]) == ["caption", "meta"]
    assert all("cats/b.jpg" in w["message"] for w in b["warnings"])
    assert c["caption"] is None and c["meta"] is None
    # the video's row (its poster and thumbnail are its outputs) has the video's caption
    assert clip["status"] == "ok" and clip["caption"] == "a short clip" and len(clip["outputs"]) >= 2
    assert rows["readme.txt"]["status"] == "skipped" and rows["readme.txt"]["warnings"][0]["type"] == "not-media"


def test_a_resumed_file_gets_its_edited_added_or_removed_caption_without_being_redone(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    for i, name in enumerate(("a", "b", "c")):
        _synth.write_photo(src / f"{name}.jpg", 160, 120, seed=i)
    (src / "a.txt").write_text("old caption")
    (src / "b.txt").write_text("to be removed")
    (src / "b.json").write_text('{"k": 1}')
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=64)
    (src / "a.txt").write_text("new caption")  # edited
    (src / "b.txt").unlink()  # removed
    (src / "b.json").unlink()
    (src / "c.json").write_text("{bad")  # added, broken
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=64)
    rows = rows_by_source(out, n=3)
    assert rows["a.jpg"]["caption"] == "new caption"
    assert rows["b.jpg"]["caption"] is None and rows["b.jpg"]["meta"] is None
    assert [w["type"] for w in rows["c.jpg"]["warnings"]] == ["meta"]
    assert json.loads((out / "summary.json").read_text())["decoded"] == 0  # the images were carried, not redone
