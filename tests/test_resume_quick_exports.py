"""Nothing to do covers the exports too: ``verify`` finds an export's file deleted since (a shard,
an image folder's file) and the build writes it again without redoing any file; a ``toolkit.curate``
whose re-export failed is not taken for a finished build by the next one, which writes the exports
of the new curation. Real builds (LocalCluster, Pillow), seeded photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import toolkit
from toolkit import _synth

pytestmark = pytest.mark.integration


def photos(src: Path, n: int = 8) -> None:
    for i in range(n):
        _synth.write_photo(src / f"d{i % 2}" / f"p{i}.jpg", 96, 64, seed=i)


def build(src: Path, out: Path, client, **settings) -> dict:
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=48, **settings)
    return json.loads((out / "summary.json").read_text())


def test_verify_finds_an_export_file_deleted_since_and_writes_it_again(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src)
    exports = ["webdataset", "imagefolder"]
    build(src, out, client, exports=exports)
    shard = next((out / "webdataset").glob("*.tar"))
    linked = next(p for p in (out / "imagefolder").rglob("*.jpg"))
    shard.unlink()
    linked.unlink()

    trusted = build(src, out, client, exports=exports)  # nothing changed in the inputs: trusted
    assert trusted["unchanged"] is True and not shard.exists()
    verified = build(src, out, client, exports=exports, verify=True)

    assert not verified.get("unchanged") and verified["decoded"] == 0  # the exports again, no file redone
    assert shard.is_file() and linked.is_file()
    assert build(src, out, client, exports=exports, verify=True)["unchanged"] is True  # all there now


def test_a_curate_whose_reexport_failed_is_not_taken_for_a_finished_build(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src)
    build(src, out, client, exports=["webdataset"])
    splits = {"train": 0.5, "val": 0.5}
    shutil.rmtree(out / "webdataset")
    (out / "webdataset").write_text("in the way")  # the re-export cannot make its folder
    with pytest.raises(Exception):
        toolkit.curate(out, splits=splits)
    (out / "webdataset").unlink()
    left = json.loads((out / "summary.json").read_text())
    assert left["settings"]["splits"] == splits and left["exports"] == {} and not left["stopped"]  # as curate left it

    again = build(src, out, client, exports=["webdataset"], splits=splits)  # the curation's settings

    assert not again.get("unchanged") and again["decoded"] == 0
    assert {"train", "val"} <= set(again["exports"]["webdataset"]["splits"])
    assert (out / "webdataset" / "val.index.json").is_file()
