"""``toolkit.load``'s errors without a cluster: each says what is missing and how to get it."""

from __future__ import annotations

import sys

import pytest

import toolkit


@pytest.fixture
def built(tmp_path):
    (tmp_path / "manifest.jsonl").write_text("")  # a build that wrote no export
    return tmp_path


def test_hf_without_an_export_names_both_it_could_load(built):
    with pytest.raises(toolkit.InputError, match="neither a parquet nor an imagefolder export.*--export parquet"):
        toolkit.load(built, "hf")


@pytest.mark.parametrize(("kind", "package"), [("hf", "datasets"), ("webdataset", "webdataset")])
def test_a_loader_library_not_installed_is_named_with_the_command_that_installs_it(built, monkeypatch, kind, package):
    (built / "imagefolder").mkdir()
    (built / "imagefolder" / "README.md").write_text("")
    (built / "webdataset").mkdir()
    (built / "webdataset" / "train.index.json").write_text('{"shards": []}')
    monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed
    with pytest.raises(ImportError, match=f"needs the '{package}' package: pip install {package}"):
        toolkit.load(built, kind)


def test_an_export_the_last_build_did_not_write_is_not_loaded_as_if_it_were_current(built):
    """A build with parquet, then one without: the parquet shards on disk are of the earlier dataset."""
    (built / "parquet").mkdir()
    (built / "parquet" / "train-00000.parquet").write_bytes(b"old")
    (built / "webdataset").mkdir()
    (built / "webdataset" / "train.index.json").write_text('{"shards": []}')
    (built / "summary.json").write_text('{"exports": {"manifest_parquet": {}, "card": {}}}')
    for kind, what in (("parquet", "parquet"), ("webdataset", "webdataset")):
        with pytest.raises(toolkit.InputError, match=f"not from the last build.*--export {what}"):
            toolkit.load(built, kind)
    with pytest.raises(toolkit.InputError, match="neither a parquet nor an imagefolder"):
        toolkit.load(built, "hf")
