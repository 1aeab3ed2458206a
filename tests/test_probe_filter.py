"""Probe-level filters (issue 15): a file whose header already rules it out (``min_side``,
``max_aspect``, on the displayed size) is a ``skipped`` row, never decoded, with its size kept;
curation judges such a row again, and never turns it into an ok row it has no outputs for."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, strategies as st

from toolkit import _synth
from toolkit._media import MediaInfo, MediaItem
from toolkit._ops import OpSpec
from toolkit._curate import CurationSettings, Filters, curate_rows
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
    keep, rows = probe_filter(probed, Filters(min_side=64, max_aspect=3.0))
    assert [i.rel for i in keep] == ["ok.jpg"]
    got = {r.source: r for r in rows}
    assert {k: [w.type for w in r.warnings] for k, r in got.items()} == {
        "tiny.jpg": ["too-small"],
        "strip.jpg": ["aspect"],
        "tinystrip.jpg": ["too-small", "aspect"],
    }
    assert all(r.status == "skipped" and not r.outputs and r.mtime_ns for r in rows)
    assert (got["strip.jpg"].width, got["strip.jpg"].height) == (400, 100)
    assert "`min_side` = 64" in got["tiny.jpg"].warnings[0].message and got["tiny.jpg"].caption == "a small one"
    assert all(r.to_row()["probe_filtered"] is True for r in rows)


def test_the_filters_see_the_size_after_orientation(tmp_path):
    from PIL import Image

    # stored 100x40 landscape, shown rotated as 40x100 portrait: min_side sees 40 either way, and the row keeps 40x100
    Image.new("RGB", (100, 40), "red").save(tmp_path / "rot.jpg", exif=exif_bytes(6))
    probed, _ = probe_items(scan(tmp_path).items, ops=(OpSpec.make("thumbnail"),))
    _, (row,) = probe_filter(probed, Filters(min_side=50))
    assert (row.width, row.height) == (40, 100)


def test_off_by_default_and_unknown_sizes_are_kept():
    items = [_item(1, 1000), replace(_item(0, 0), info=MediaInfo(0, 0)), replace(_item(5, 5), info=None)]
    assert probe_filter(items, Filters()) == (items, [])
    assert probe_filter(items[1:], Filters(min_side=64, max_aspect=2)) == (items[1:], [])
    assert probe_filter(items, Filters(min_sharpness=1e9)) == (items, [])  # known only after decoding


@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(0, 600), st.sampled_from([0, 1.0, 1.5, 3.0, 10.0]))
def test_a_file_is_kept_exactly_when_curation_would_keep_its_row(w, h, min_side, max_aspect):
    filters = Filters(min_side=min_side or None, max_aspect=max_aspect or None)
    keep, rows = probe_filter([_item(w, h)], filters)
    passes = (not min_side or min(w, h) >= min_side) and (not max_aspect or not max(w, h) > max_aspect * min(w, h))
    assert bool(keep) == passes and len(keep) + len(rows) == 1
    assert not filters.reasons({"width": w, "height": h}) == passes  # one rule: the row's and the header's


def test_curation_never_undoes_a_probe_skip_and_says_which_files_need_a_build():
    _, rows = probe_filter([_item(40, 30, "cat/tiny.jpg"), _item(300, 80, "cat/strip.jpg")], Filters(min_side=64, max_aspect=3))
    probed = [r.to_row() for r in rows]
    ok = {**probed[0], "source": "cat/ok.jpg", "source_b64": "b2s=", "status": "ok", "warnings": [], "probe_filtered": None}
    ok.update(width=200, height=150, outputs=["cat/ok.jpg"])

    def curate(rows, **keys):
        return curate_rows(rows, CurationSettings.from_settings({"labels": "folder", **keys}))

    same = curate([ok, *probed], filters={"min_side": 64, "max_aspect": 3})
    assert [r["status"] for r in same.rows] == ["ok", "skipped", "skipped"] and same.report["filtered"] == {
        "aspect": 1,
        "too-small": 1,
    }
    off = curate(same.rows)  # filters off: nothing to show for them, so they stay out, needing a build
    assert [r["status"] for r in off.rows] == ["ok", "skipped", "skipped"] and not any(r["outputs"] for r in off.rows[1:])
    assert [r["warnings"][0]["type"] for r in off.rows[1:]] == ["needs-build", "needs-build"]
    assert off.report["needs_build"] == 2 and off.report["kept"] == 1 and off.report["filtered"] == {}
    tight = curate(off.rows, filters={"min_side": 100})  # ruled out again: by today's filter, today's message
    assert [r["warnings"][0]["type"] for r in tight.rows[1:]] == ["too-small", "too-small"]
    assert "`min_side` = 100" in tight.rows[1]["warnings"][0]["message"] and tight.report["needs_build"] == 0


def test_a_file_the_probe_left_out_is_carried_while_todays_filters_still_rule_it_out():
    from toolkit._probe import still_filtered

    items = [_item(40, 30, "a.jpg"), _item(200, 150, "b.jpg"), _item(90, 80, "c.jpg")]
    _, rows = probe_filter(items, Filters(min_side=100), settings="s1")
    assert [r.source for r in rows] == ["a.jpg", "c.jpg"] and all(r.settings == "s1" for r in rows)
    carried = [type(r).from_row(r.to_row()) for r in rows]  # as the next build's resume reads them back
    todo, still = still_filtered(items, [], carried, Filters(min_side=100))
    assert todo == [] and [r.source for r in still] == ["a.jpg", "c.jpg"]  # not probed, not read again
    todo, still = still_filtered(items, [items[1]], carried, Filters(min_side=64))  # loosened: c is built now
    assert [i.rel for i in todo] == ["b.jpg", "c.jpg"] and [r.source for r in still] == ["a.jpg"]
