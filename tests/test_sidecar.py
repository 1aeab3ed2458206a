"""Captions and metadata from sidecar files (issue 15): ``photo.txt`` / ``photo.json`` beside
``photo.jpg`` belong to its row; a bad sidecar is a warning on that row, never a failure."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, strategies as st

from toolkit import _synth
from toolkit._media import ItemResult, MediaItem
from toolkit._scan import scan
from toolkit._sidecar import MAX_SIDECAR_BYTES, STAMP_FIELD, read_sidecars, refresh_carried


def _photo(path, seed=1):
    return _synth.write_photo(path, 64, 48, seed=seed)


def _by_name(res):
    return {i.rel: i for i in res.items}, {r.source: r for r in res.rows}


def test_a_sidecar_belongs_to_its_image_and_has_no_row(tmp_path):
    _photo(tmp_path / "cats" / "a.jpg")
    (tmp_path / "cats" / "a.txt").write_text("a cat\n")
    (tmp_path / "cats" / "a.json").write_text('{"by": "me"}')
    (tmp_path / "cats" / "notes.txt").write_text("no image beside me")
    items, rows = _by_name(scan(tmp_path))
    assert items["cats/a.jpg"].caption_path == str(tmp_path / "cats" / "a.txt")
    assert items["cats/a.jpg"].meta_path == str(tmp_path / "cats" / "a.json")
    assert set(rows) == {"cats/notes.txt"}  # an orphan stays what it was
    assert "with a caption: 1, with metadata: 1" in str(scan(tmp_path))
    assert scan(tmp_path).summary()["sidecars"] == {"caption": 1, "meta": 1}
    assert rows["cats/notes.txt"].status == "skipped" and rows["cats/notes.txt"].warnings[0].type == "not-media"


def test_captions_none_leaves_sidecars_as_not_media_rows(tmp_path):
    _photo(tmp_path / "a.jpg")
    (tmp_path / "a.txt").write_text("a cat")
    items, rows = _by_name(scan(tmp_path, captions="none"))
    assert items["a.jpg"].caption_path is None
    assert rows["a.txt"].warnings[0].type == "not-media"
    with pytest.raises(ValueError, match="captions"):
        scan(tmp_path, captions="folder")


def test_a_sidecar_only_pairs_in_its_own_folder_and_by_its_whole_stem(tmp_path):
    _photo(tmp_path / "a.jpg")
    _photo(tmp_path / "sub" / "b.png")
    (tmp_path / "sub" / "a.txt").write_text("not beside a.jpg")
    (tmp_path / "a.jpg.txt").write_text("stem a.jpg, not a")
    (tmp_path / "sub" / "b.txt").write_text("")  # empty: still b's caption (an empty one)
    items, rows = _by_name(scan(tmp_path))
    assert items["a.jpg"].caption_path is None
    assert items["sub/b.png"].caption_path == str(tmp_path / "sub" / "b.txt")
    assert set(rows) == {"sub/a.txt", "a.jpg.txt"}


def test_two_media_files_of_one_stem_share_the_sidecar_and_media_named_json_is_media(tmp_path):
    _photo(tmp_path / "a.jpg")
    _synth.write_photo(tmp_path / "a.png", 32, 32, seed=2, fmt="PNG")
    (tmp_path / "a.txt").write_text("both")
    (tmp_path / "a.TXT").write_text("first by name: a.TXT sorts before a.txt")
    _photo(tmp_path / "b.json")  # a JPEG with a .json name is an image, not b.jpg's metadata
    items, rows = _by_name(scan(tmp_path))
    assert items["a.jpg"].caption_path == items["a.png"].caption_path == str(tmp_path / "a.TXT")
    assert items["b.json"].format == "JPEG"
    assert set(rows) == {"a.txt"}  # the second caption of a.jpg is not dropped in silence


def _item(tmp_path, caption: bytes | None = None, meta: bytes | None = None) -> MediaItem:
    paths = {}
    for ext, data in ((".txt", caption), (".json", meta)):
        if data is not None:
            (tmp_path / f"p{ext}").write_bytes(data)
            paths[ext] = str(tmp_path / f"p{ext}")
    return MediaItem(
        path=str(tmp_path / "p.jpg"),
        rel="p.jpg",
        root=str(tmp_path),
        kind="image",
        format="JPEG",
        size=1,
        mtime_ns=0,
        caption_path=paths.get(".txt"),
        meta_path=paths.get(".json"),
    )


def test_read_gives_the_caption_text_and_the_meta_object(tmp_path):
    caption, meta, warnings, _ = read_sidecars(_item(tmp_path, "\ufeffun chat été\n".encode(), b'{"n": 1, "tags": ["x"]}'))
    assert (caption, meta, warnings) == ("un chat été", {"n": 1, "tags": ["x"]}, [])


@pytest.mark.parametrize(
    "caption, meta, kind, words",
    [
        (b"caf\xe9", None, "caption", "not UTF-8"),
        (None, b"{not json", "meta", "not valid JSON"),
        (None, b'{"x": NaN}', "meta", "not valid JSON"),
        (None, b"[1, 2]", "meta", "JSON array, not an object"),
        (None, b'"\xff"', "meta", "not UTF-8"),
        (b"x" * (MAX_SIDECAR_BYTES + 1), None, "caption", "larger than 1 MiB"),
        # valid JSON nested past what Python parses (a RecursionError) or what the manifest takes back
        (None, b'{"a": ' * 5000 + b"1" + b"}" * 5000, "meta", "nested more than"),
        (None, b'{"a": ' * 500 + b"1" + b"}" * 500, "meta", "nested more than"),
    ],
)
def test_a_bad_sidecar_is_a_typed_warning_naming_both_files(tmp_path, caption, meta, kind, words):
    got_caption, got_meta, warnings, _ = read_sidecars(_item(tmp_path, caption, meta))
    assert got_caption is None and got_meta is None
    (w,) = warnings
    assert w.type == kind and words in w.message and "p.jpg" in w.message


def test_a_sidecar_gone_since_the_scan_is_a_warning(tmp_path):
    item = _item(tmp_path, b"hi")
    os.remove(item.caption_path)
    _, _, (w,), _ = read_sidecars(item)
    assert w.type == "caption" and "cannot read" in w.message


@given(st.text(max_size=200), st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=5))
def test_any_utf8_caption_and_json_object_round_trip(tmp_path_factory, text, obj):
    d = tmp_path_factory.mktemp("rt")
    caption, meta, warnings, _ = read_sidecars(_item(d, text.encode(), json.dumps(obj).encode()))
    assert caption == text.removeprefix("\ufeff").strip() and meta == obj and not warnings


def test_the_csv_export_has_the_caption_and_the_meta_as_json(tmp_path):
    import csv

    from toolkit._manifest import export_csv
    from toolkit._media import ItemResult

    row = ItemResult("a.jpg", "YS5qcGc=", "/in", "ok", caption="un chat, «gris»", meta={"by": "me", "n": [1, 2]})
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row.to_row(), ensure_ascii=False) + "\n", encoding="utf-8")
    (got,) = csv.DictReader(export_csv(tmp_path / "manifest.jsonl", tmp_path / "m.csv").open(encoding="utf-8"))
    assert got["caption"] == "un chat, «gris»" and json.loads(got["meta"]) == {"by": "me", "n": [1, 2]}


@given(st.sets(st.tuples(st.sampled_from(["a", "b", "c d"]), st.sampled_from([".jpg", ".png", ".txt", ".TXT", ".json"]))))
def test_every_sidecar_is_paired_with_all_its_images_or_keeps_its_row(names):
    from toolkit._media import ItemResult, Problem
    from toolkit._sidecar import SIDECAR_EXT, pair_sidecars

    names = sorted((stem + ext for stem, ext in names), key=os.fsencode)  # the scan's order
    items = [MediaItem(f"/r/{n}", n, "/r", "image", "JPEG", 1, 0) for n in names if n.endswith((".jpg", ".png"))]
    rows = [
        ItemResult(n, "", "/r", "skipped", warnings=(Problem("not-media", ""),)) for n in names if n not in {i.rel for i in items}
    ]
    out, kept = pair_sidecars(items, rows, [("/r", r.source, r) for r in rows])
    used = {p for i in out for p in (i.caption_path, i.meta_path) if p}
    for r in rows:  # each sidecar: in the rows, or the caption/meta of every image of its stem; never both, never lost
        stem, ext = os.path.splitext(r.source)
        owners = [i for i in out if os.path.splitext(i.rel)[0] == stem]
        attr = f"{SIDECAR_EXT[ext.lower()]}_path"
        if r in kept:
            assert f"/r/{r.source}" not in used
            assert not owners or all(getattr(i, attr) not in (None, f"/r/{r.source}") for i in owners)
        else:
            assert owners and all(getattr(i, attr) == f"/r/{r.source}" for i in owners)


def test_a_rebuild_reads_no_unchanged_sidecar_and_picks_up_an_edited_one(tmp_path):
    item, side = _item(tmp_path, b"a red fox"), tmp_path / "p.txt"
    caption, meta, warnings, stamp = read_sidecars(item)
    assert stamp == {"caption": ["p.txt", 9, side.stat().st_mtime_ns]} and caption == "a red fox"
    row = ItemResult("p.jpg", "cC5qcGc=", str(tmp_path), "ok", caption=caption, extra={STAMP_FIELD: stamp})
    row = ItemResult.from_row(json.loads(json.dumps(row.to_row())))  # as the manifest gives it back
    # the same size and time, other bytes: were it read, the row would say "a big ox!"
    st = side.stat()
    side.write_text("a big ox!")
    os.utime(side, ns=(st.st_atime_ns, st.st_mtime_ns))
    (kept,) = refresh_carried([row], [item])
    assert kept is row
    side.write_text("a red fox, edited")  # a real edit: its size and time change
    (fresh,) = refresh_carried([row], [item])
    assert fresh.caption == "a red fox, edited" and fresh.extra[STAMP_FIELD]["caption"][1] == 17
    side.unlink()  # gone: the caption goes with it, and so does the stamp
    (gone,) = refresh_carried([fresh], [item])
    assert gone.caption is None and STAMP_FIELD not in gone.extra and gone.warnings[0].type == "caption"


def test_a_sidecar_with_a_problem_is_read_again_even_with_its_stamp_unchanged(tmp_path):
    item, side = _item(tmp_path, b"caf\xe9"), tmp_path / "p.txt"  # Latin-1: a warning, not a caption
    caption, _, warnings, stamp = read_sidecars(item)
    assert caption is None and warnings[0].type == "caption" and "not UTF-8" in warnings[0].message
    row = ItemResult("p.jpg", "cC5qcGc=", str(tmp_path), "ok", warnings=tuple(warnings), extra={STAMP_FIELD: stamp})
    st = side.stat()
    side.write_bytes(b"cafe")  # fixed (say, re-encoded) with the same size and time
    os.utime(side, ns=(st.st_atime_ns, st.st_mtime_ns))
    (fresh,) = refresh_carried([row], [item])
    assert fresh.caption == "cafe" and not fresh.warnings
