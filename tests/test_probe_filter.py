"""Probe-level filters (issue 15): a file whose header already rules it out (``min_side``,
``max_aspect``, on the displayed size) is a ``skipped`` row, never decoded, with its size kept."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, strategies as st

from toolkit import _synth
from toolkit._media import MediaInfo, MediaItem
from toolkit._ops import OpSpec
from toolkit._probe import probe_filter, probe_items
from toolkit._scan import scan
from tests.helpers import exif_bytes


def _item(w: int, h: int, name: str = "x.jpg") -> MediaItem:
    return MediaItem(f"/in/{name}", name, "/in", "image", "JPEG", 10, 1, info=MediaInfo(w, h))


def test_tiny_and_odd_aspect_files_are_skipped_with_their_sizes(tmp_path):
    _synth.write_photo(tmp_path / "ok.jpg", 200, 150, seed=1)
    _synth.write_photo(tmp_path / "tiny.jpg", 40, 30, seed=2)
    _synth.write_photo(tmp_path / "strip.jpg", 400, 100, seed=3)
    _synth.write_photo(tmp_path / "tinystrip.jpg", 200, 20, seed=4)
    (tmp_path / "tiny.txt").write_text("a small one")
    probed, bad = probe_items(scan(tmp_path).items, ops=(OpSpec.make("thumbnail"),))
    assert not bad
    keep, rows = probe_filter(probed, min_side=64, max_aspect=3.0)
    assert [i.rel for i in keep] == ["ok.jpg"]
    got = {r.source: r for r in rows}
    assert {k: [w.type for w in r.warnings] for k, r in got.items()} == {
        "tiny.jpg": ["too-small"],
        "strip.jpg": ["aspect"],
        "tinystrip.jpg": ["too-small", "aspect"],
    }
    assert all(r.status == "skipped" and not r.outputs and r.mtime_ns for r in rows)
    assert (got["strip.jpg"].width, got["strip.jpg"].height) == (400, 100)
    assert "min_side 64" in got["tiny.jpg"].warnings[0].message and got["tiny.jpg"].caption == "a small one"


def test_the_filters_see_the_size_after_orientation(tmp_path):
    from PIL import Image

    # stored 100x40 landscape, shown rotated as 40x100 portrait: min_side sees 40 either way, and the row keeps 40x100
    Image.new("RGB", (100, 40), "red").save(tmp_path / "rot.jpg", exif=exif_bytes(6))
    probed, _ = probe_items(scan(tmp_path).items, ops=(OpSpec.make("thumbnail"),))
    _, (row,) = probe_filter(probed, min_side=50)
    assert (row.width, row.height) == (40, 100)


def test_off_by_default_and_unknown_sizes_are_kept():
    items = [_item(1, 1000), replace(_item(0, 0), info=MediaInfo(0, 0)), replace(_item(5, 5), info=None)]
    assert probe_filter(items) == (items, [])
    assert probe_filter(items[1:], min_side=64, max_aspect=2) == (items[1:], [])
    with pytest.raises(ValueError):
        probe_filter(items, max_aspect=0.5)


@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(0, 600), st.sampled_from([0, 1.0, 1.5, 3.0, 10.0]))
def test_a_file_is_kept_exactly_when_both_rules_pass(w, h, min_side, max_aspect):
    keep, rows = probe_filter([_item(w, h)], min_side=min_side, max_aspect=max_aspect)
    passes = (not min_side or min(w, h) >= min_side) and (not max_aspect or not max(w, h) > max_aspect * min(w, h))
    assert bool(keep) == passes and len(keep) + len(rows) == 1
