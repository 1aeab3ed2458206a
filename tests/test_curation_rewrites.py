"""``toolkit.curate`` writes again only what its new rows change: ``manifest.parquet`` when its rows
differ (the digest of its table in its footer), the card's pictures whose content changes, README.md
when its text does. A finished build made here without a cluster: real JPEG outputs (seeded), the
manifest rows a build writes (tests/curate_rows.py), its summary.json."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import toolkit
from toolkit._export import MANIFEST_PARQUET, write_manifest_parquet
from toolkit._manifest import MANIFEST, Manifest, read_rows
from toolkit._synth import photo

from curate_rows import row
from test_card_redraw import changed, stamps

SPLITS = {"train": 0.5, "test": 0.5}


def finished_build(out: Path) -> Path:
    """12 photos in two class folders, one a near copy, every output on disk; curated as a build does."""
    out.mkdir()
    rows = []
    hashes = random.Random(0)  # distinct photos: hashes 32 bits apart on average
    for i in range(12):
        source = f"{('cat', 'dog')[i % 2]}/{i}.jpg"
        rows.append(row(source, w=64 + i, h=48, content=i + 1, phash=hashes.getrandbits(64), sharpness=20.0 + 5 * i))
        (out / source).parent.mkdir(exist_ok=True)
        photo(64, 48, seed=i).save(out / (source + ".jpg"), quality=85)
    rows[11]["phash"] = f"{int(rows[9]['phash'], 16) ^ 1:016x}"  # a near copy of dog/9.jpg: one bit apart
    Manifest(out).write_all(rows)
    settings = {"op": "thumbnail", "size": 64, "labels": "folder", "splits": SPLITS, "dedupe": "near"}
    Manifest(out).write_summary({"settings": settings, "counts": {"ok": 12}, "decoded": 12})
    toolkit.curate(out)  # what the build's own curate stage and sinks wrote
    return out


def files(out: Path) -> dict:
    found = stamps(out)
    p = out / MANIFEST_PARQUET
    found[p.name] = (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
    return found


def test_the_same_settings_again_rewrite_neither_manifest_parquet_nor_the_card(tmp_path):
    out = finished_build(tmp_path / "out")
    before = files(out)
    toolkit.curate(out, splits=SPLITS)
    assert changed(before, files(out)) == set()
    assert pq.read_table(out / MANIFEST_PARQUET).num_rows == 12


def test_new_fractions_rewrite_manifest_parquet_and_the_split_pictures_only(tmp_path):
    out = finished_build(tmp_path / "out")
    before = files(out)
    toolkit.curate(out, splits={"train": 0.25, "val": 0.25, "test": 0.5}, split_seed=3)
    assert changed(before, files(out)) == {MANIFEST_PARQUET, "README.md", "labels.png", "sizes.png"}
    table = pq.read_table(out / MANIFEST_PARQUET).to_pylist()
    assert {(r["source"], r["split"]) for r in table} == {(r["source"], r.get("split")) for r in read_rows(out / MANIFEST)}
    assert "val" in {r["split"] for r in table}


def test_a_tighter_near_distance_redraws_the_duplicates_and_what_the_kept_files_show(tmp_path):
    out = finished_build(tmp_path / "out")
    assert toolkit.curate(out)["duplicates"] == 1
    before = files(out)
    report = toolkit.curate(out, near_distance=0)  # the near copy is a file of its own again
    assert report["duplicates"] == 0 and not (out / "card/duplicates.png").exists()
    assert {MANIFEST_PARQUET, "README.md", "duplicates.png", "samples.png", "sharpness.png"} <= changed(before, files(out))


def test_a_manifest_parquet_without_a_digest_or_with_other_rows_is_written_again(tmp_path):
    rows = [row(f"cat/{i}.jpg") for i in range(3)]
    path = write_manifest_parquet(tmp_path, rows)
    ino = path.stat().st_ino
    assert write_manifest_parquet(tmp_path, [dict(r) for r in rows]).stat().st_ino == ino  # the same rows: left as it is
    pq.write_table(pq.read_table(path).replace_schema_metadata(None), path)  # as an older version wrote it
    ino = path.stat().st_ino
    write_manifest_parquet(tmp_path, rows)
    assert path.stat().st_ino != ino and pq.read_table(path).column("source").to_pylist() == [r["source"] for r in rows]
    ino = path.stat().st_ino
    write_manifest_parquet(tmp_path, [{**rows[0], "caption": "a cat"}, *rows[1:]])
    assert path.stat().st_ino != ino and pq.read_table(path).column("caption").to_pylist() == ["a cat", None, None]


def test_the_garbage_collector_is_back_on_after_a_re_curation_even_one_that_failed(tmp_path, monkeypatch):
    import gc

    out = finished_build(tmp_path / "out")
    assert gc.isenabled()  # (paused during the call: it is a fifth of its time over 10,000 rows' dicts)

    def full_disk(self, rows):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Manifest, "write_all", full_disk)
    with pytest.raises(OSError):
        toolkit.curate(out, split_seed=5)
    assert gc.isenabled()
    monkeypatch.undo()
    toolkit.curate(out, split_seed=5)
    assert gc.isenabled()
    gc.disable()  # the caller's own choice stands: not turned on behind its back
    try:
        toolkit.curate(out, split_seed=6)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_fresh_process_re_curating_imports_no_dask_and_draws_the_pictures_drawn_here(tmp_path):
    """toolkit.curate in a new process (the benchmark's and a script's case): no cluster, the card
    whole, its pictures the same bytes as drawn in this process."""
    out = finished_build(tmp_path / "out")
    before = files(out)
    script = (
        "import sys, toolkit\n"
        f"toolkit.curate({str(out)!r}, splits={{'train': 0.25, 'val': 0.25, 'test': 0.5}}, split_seed=3)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'dask'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['matplotlib']"
    assert changed(before, files(out)) == {MANIFEST_PARQUET, "README.md", "labels.png", "sizes.png"}
    redrawn = tmp_path / "redrawn"  # the same rows drawn in this process: the same pictures
    shutil.copytree(out, redrawn)
    shutil.rmtree(redrawn / "card")
    toolkit.curate(redrawn)
    for n in ("labels", "sizes"):
        assert (redrawn / "card" / f"{n}.png").read_bytes() == (out / "card" / f"{n}.png").read_bytes()
