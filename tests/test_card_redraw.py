"""A card written again draws only the pictures whose content changes (each PNG carries the digest
of what it draws): the others, and a README.md with the same text, are left as they are on disk.
Real pictures of real outputs (Pillow, seeded), as in test_card.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from toolkit._card import write_card
from toolkit._card import _digest
from toolkit._synth import photo

from test_card import SETTINGS, dataset

PICTURES = ("labels", "sizes", "sharpness", "samples", "duplicates")


def stamps(out: Path) -> dict[str, tuple[int, int, bytes]]:
    """Each card file's (inode, mtime_ns, bytes): a file written again, even with the same bytes, is a new inode."""
    files = [out / "README.md", *(out / "card" / f"{n}.png" for n in PICTURES)]
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in files if p.exists()}


def changed(before: dict, after: dict) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def test_the_same_rows_again_rewrite_no_file_of_the_card(tmp_path):
    rows = dataset(tmp_path)
    write_card(tmp_path, rows, {"settings": SETTINGS})
    before = stamps(tmp_path)
    assert len(before) == 6
    figures = write_card(tmp_path, [dict(r) for r in rows], {"settings": SETTINGS})
    assert changed(before, stamps(tmp_path)) == set()
    assert figures["pictures"] == [f"card/{n}.png" for n in PICTURES]  # still all named, all there


def test_a_re_split_redraws_the_pictures_that_show_splits_and_no_other(tmp_path):
    rows = dataset(tmp_path)
    write_card(tmp_path, rows, {"settings": SETTINGS})
    before = stamps(tmp_path)
    moved = [{**r, "split": "val"} if r["source"] == "cat/0.jpg" else r for r in rows]
    write_card(tmp_path, moved, {"settings": SETTINGS})
    after = stamps(tmp_path)
    assert changed(before, after) == {"README.md", "labels.png", "sizes.png"}
    assert "| train | 1 | 2 | 3 |" in (tmp_path / "README.md").read_text()
    fresh = tmp_path / "fresh"  # what was redrawn is what a first card of these rows shows
    fresh.mkdir()
    dataset(fresh)
    write_card(fresh, moved, {"settings": SETTINGS})
    assert all(after[f"{n}.png"][2] == (fresh / "card" / f"{n}.png").read_bytes() for n in PICTURES)


def test_a_tighter_filter_redraws_the_plots_of_what_is_left(tmp_path):
    rows = dataset(tmp_path)
    write_card(tmp_path, rows, {"settings": SETTINGS})
    before = stamps(tmp_path)
    blurry = {"type": "blurry", "message": "dog/3.jpg is blurry"}
    fewer = [
        {**r, "status": "skipped", "curated_from": "ok", "warnings": [blurry]} if r["source"] == "dog/3.jpg" else r for r in rows
    ]
    settings = {**SETTINGS, "filters": {**SETTINGS["filters"], "min_sharpness": 100.0}}
    write_card(tmp_path, fewer, {"settings": settings})
    # the sharpness plot shows the new floor, every plot one file fewer, the samples grid one dog fewer
    assert changed(before, stamps(tmp_path)) == {"README.md", "labels.png", "sizes.png", "sharpness.png", "samples.png"}


def test_an_output_changed_or_gone_and_a_picture_replaced_by_hand_are_drawn_again(tmp_path):
    rows = dataset(tmp_path)
    write_card(tmp_path, rows, {"settings": SETTINGS})
    drawn = (tmp_path / "card/samples.png").read_bytes()
    Image.new("RGB", (400, 300), "red").save(tmp_path / "card/samples.png")  # no digest: not ours
    write_card(tmp_path, rows, {"settings": SETTINGS})
    assert (tmp_path / "card/samples.png").read_bytes() == drawn
    before = stamps(tmp_path)
    photo(80, 60, seed=7).save(tmp_path / "cat/1.jpg", quality=60)  # the output made again, other pixels and size
    write_card(tmp_path, rows, {"settings": SETTINGS})
    once = stamps(tmp_path)
    assert changed(before, once) == {"samples.png"}
    os.remove(tmp_path / "cat/0.jpg")  # the kept file of the duplicate group: both grids show it
    write_card(tmp_path, rows, {"settings": SETTINGS})
    assert changed(once, stamps(tmp_path)) == {"samples.png", "duplicates.png"}


def test_another_matplotlib_or_pillow_version_draws_every_picture_again(tmp_path, monkeypatch):
    rows = dataset(tmp_path)
    write_card(tmp_path, rows, {"settings": SETTINGS})
    before = stamps(tmp_path)
    real = _digest.metadata.version
    monkeypatch.setattr(_digest.metadata, "version", lambda dist: "99.0" if dist == "matplotlib" else real(dist))
    _digest._drawing.cache_clear()
    try:
        write_card(tmp_path, rows, {"settings": SETTINGS})
    finally:
        _digest._drawing.cache_clear()
    assert changed(before, stamps(tmp_path)) == {f"{n}.png" for n in PICTURES}


def test_a_card_with_nothing_to_redraw_never_imports_matplotlib(tmp_path):
    doc = json.loads(json.dumps({"rows": dataset(tmp_path), "settings": SETTINGS}))  # as summary.json gives them
    write_card(tmp_path, doc["rows"], {"settings": doc["settings"]})
    (tmp_path / "rows.json").write_text(json.dumps(doc))
    script = (
        "import json, sys\n"
        "from toolkit._card import write_card\n"
        f"doc = json.load(open({str(tmp_path / 'rows.json')!r}))\n"
        f"write_card({str(tmp_path)!r}, doc['rows'], {{'settings': doc['settings']}})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    before = stamps(tmp_path)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]" and changed(before, stamps(tmp_path)) == set()


def test_the_samples_stay_put_when_files_are_added_or_left_out(tmp_path):
    from toolkit._card._grids import picks

    rows = [{"source": f"cat/{i}.jpg"} for i in range(200)]
    first = picks(rows, 5)
    assert len(first) == 5 and first == sorted(first, key=rows.index)  # shown in the manifest's order
    others = [r for r in rows if r not in first]
    assert picks([r for r in rows if r is not others[0]], 5) == first  # a file not shown left out: the same five
    after = picks([r for r in rows if r is not first[0]], 5)
    assert first[1:] == [r for r in after if r in first] and len(after) == 5  # one shown left out: only it is replaced
    grown = picks(rows + [{"source": f"cat/new{i}.jpg"} for i in range(10)], 5)
    assert sum(r in first for r in grown) >= 4  # ten new files among 210: each one of the five only by chance


def test_rows_sent_to_the_cluster_give_every_picture_the_digest_the_full_rows_give(tmp_path):
    """A build draws the card on a worker from slimmed rows, toolkit.curate from the full ones: both
    must plan the same pictures, or each redraws what the other drew (and picks other samples)."""
    from toolkit._card import card_facts
    from toolkit._card._sink import slim
    from toolkit._card._write import picture_plan

    rows = [
        {**r, "source_b64": f"b64-{i}", "content_hash": f"{i:032x}", "settings": "s1"} for i, r in enumerate(dataset(tmp_path))
    ]
    full = card_facts(rows, {"settings": SETTINGS}, leakage=False)
    sent = card_facts([slim(r) for r in rows], {"settings": SETTINGS}, leakage=False)
    for n in PICTURES:
        assert picture_plan(tmp_path, n, sent) == picture_plan(tmp_path, n, full), n
