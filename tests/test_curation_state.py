"""curation.json and the manifest are two files: a stop between their writes (power cut, disk full)
must never let a class number the manifest already shows be given to another class later."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolkit
from toolkit import _curation
from toolkit._manifest import MANIFEST, Manifest, read_rows

from curate_rows import row


def _write(out: Path, sources: list[str]) -> None:
    out.mkdir(exist_ok=True)
    Manifest(out).write_all([row(s) for s in sources])


def test_a_stop_after_the_manifest_before_curation_json_keeps_every_class_number(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _write(out, ["dog/1.jpg", "cat/2.jpg"])
    toolkit.curate(out, labels="folder")  # cat 0, dog 1
    _write(out, ["dog/1.jpg", "cat/2.jpg", "ant/3.jpg"])
    written = (out / MANIFEST).read_bytes()
    real = _curation.write_state

    def stop_once_the_manifest_is_written(output, state):
        if (out / MANIFEST).read_bytes() != written:
            raise OSError(28, "No space left on device")
        real(output, state)

    monkeypatch.setattr(_curation, "write_state", stop_once_the_manifest_is_written)
    with pytest.raises(OSError):
        toolkit.curate(out, labels="folder")
    shown = {r["label"]: r["label_index"] for r in read_rows(out / MANIFEST)}
    assert shown == {"cat": 0, "dog": 1, "ant": 2}  # what a user (or a model) now relies on
    monkeypatch.setattr(_curation, "write_state", real)
    rows = read_rows(out / MANIFEST)
    Manifest(out).write_all([*rows, row("aardvark/4.jpg")])  # the dataset grows
    toolkit.curate(out, labels="folder")
    after = {r["label"]: r["label_index"] for r in read_rows(out / MANIFEST)}
    assert after == {"cat": 0, "dog": 1, "ant": 2, "aardvark": 3}


def test_a_stop_after_the_split_assignment_before_the_manifest_moves_no_file(tmp_path, monkeypatch):
    out = tmp_path / "out"
    splits = {"train": 0.5, "val": 0.5}
    _write(out, [f"cat/{i}.jpg" for i in range(20)])
    toolkit.curate(out, splits=splits)
    first = {r["source"]: r["split"] for r in read_rows(out / MANIFEST)}
    rows = read_rows(out / MANIFEST)
    Manifest(out).write_all([*rows, *(row(f"cat/new{i}.jpg") for i in range(5))])  # the dataset grows

    def full_disk(self, rows):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(Manifest, "write_all", full_disk)
        with pytest.raises(OSError):
            toolkit.curate(out, splits=splits)
    assert (out / _curation.ASSIGNED).is_file() and not any(
        r["source"].startswith("cat/new") and r.get("split") for r in read_rows(out / MANIFEST)
    )
    toolkit.curate(out, splits={})  # and a curation without splits in between
    toolkit.curate(out, splits=splits)
    now = {r["source"]: r["split"] for r in read_rows(out / MANIFEST)}
    assert {k: now[k] for k in first} == first and all(now[f"cat/new{i}.jpg"] for i in range(5))


def test_a_stopped_build_is_not_re_curated_it_is_built_again(tmp_path):
    """A stopped build's manifest lacks the files it had not reached (their rows are kept aside for
    the next build), so curating it would write a dataset, a card and exports missing them."""
    out = tmp_path / "out"
    _write(out, ["cat/1.jpg", "dog/2.jpg"])
    Manifest(out).write_summary({"stopped": True, "settings": {"labels": "folder"}, "counts": {"ok": 2}})
    before = (out / MANIFEST).read_bytes()
    with pytest.raises(toolkit.InputError, match="stopped") as err:
        toolkit.curate(out, splits={"train": 0.5, "test": 0.5})
    assert "build again" in str(err.value)
    assert (out / MANIFEST).read_bytes() == before and not (out / _curation.STATE).exists()
