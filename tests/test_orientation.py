"""Every format's orientation is applied exactly once: outputs look the way an image viewer shows
the file, and width/height (probe and manifest row) are the displayed ones. Media made here."""

from __future__ import annotations

import pytest
from PIL import Image

import toolkit
from oriented_media import SIZE, UPRIGHT, WRITERS, quadrants, write
from toolkit._manifest import read_rows
from toolkit._ops import OpSpec
from toolkit._ops import image as iops

THUMB = (OpSpec.make("thumbnail", size=128),)
ORIENTATIONS = range(1, 9)


@pytest.fixture(scope="module")
def oriented(tmp_path_factory):
    """One file per format x orientation, all showing the same upright picture."""
    folder = tmp_path_factory.mktemp("oriented")
    return folder, {(kind, o): write(folder, kind, o) for kind in WRITERS for o in ORIENTATIONS}


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("kind", list(WRITERS))
def test_loaded_image_is_displayed_upright_once(oriented, kind, orientation):
    path = str(oriented[1][kind, orientation])
    info = iops.probe_image(path, ops=THUMB, fmt="jpeg", max_pixels=10**6)
    im, warnings = iops.load_image(path, max_pixels=10**6)
    assert warnings == []
    assert quadrants(im) == UPRIGHT, f"{kind} orientation {orientation} is not shown as a viewer shows it"
    assert im.size == SIZE and (info.width, info.height) == SIZE


@pytest.mark.parametrize("orientation", [6, 7])
def test_jpeg_draft_decodes_upright_too(tmp_path, orientation):
    path = write(tmp_path, "jpeg", orientation)
    im, _ = iops.load_image(str(path), max_pixels=10**6, draft_size=(24, 16))
    assert quadrants(im) == UPRIGHT and im.size[0] > im.size[1]


def test_tiff_estimate_counts_the_stored_size(oriented):
    """The memory estimate takes the stored grid: Pillow reports a TIFF's displayed size before it loads."""
    tiff = iops.probe_image(str(oriented[1]["tiff-deflate", 6]), ops=THUMB, fmt="jpeg", max_pixels=10**6)
    jpeg = iops.probe_image(str(oriented[1]["jpeg", 6]), ops=THUMB, fmt="jpeg", max_pixels=10**6)
    size = oriented[1]["tiff-deflate", 6].stat().st_size  # the worker holds the file's bytes while decoding
    assert tiff.est_bytes == iops.estimate_bytes(SIZE[1], SIZE[0], "RGB", "TIFF", THUMB, orientation=6, source_bytes=size)
    assert tiff.rotation == jpeg.rotation == 270


@pytest.mark.integration
def test_build_outputs_and_rows_are_upright(oriented, tmp_path, client):
    folder, files = oriented
    out = tmp_path / "out"
    report = toolkit.build(inputs=[str(folder)], output=str(out), client=client, progress=False, size=64)
    assert report.counts == {"ok": len(files)}
    rows = {r["source"]: r for r in read_rows(out / "manifest.jsonl")}
    wrong = []
    for (kind, o), path in files.items():
        row = rows[path.name]
        with Image.open(out / row["outputs"][0]) as im:
            look = quadrants(im)
            if look != UPRIGHT or (row["width"], row["height"]) != SIZE or im.width < im.height:
                wrong.append((kind, o, look, row["width"], row["height"]))
    assert wrong == []
