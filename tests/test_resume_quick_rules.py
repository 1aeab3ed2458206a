"""When a resume may find nothing to do, by ``summary.json`` alone: only after a completed run with
these settings whose exports all stand. A re-export by ``toolkit.curate`` that failed (it lists its
exports only once written), an export these settings name but the run did not write, a card that
could not be drawn, an export short of outputs: each sends the build the long way, which runs the
stages again."""

from __future__ import annotations

import json

import pytest

from toolkit._config import BuildConfig
from toolkit._index import ResumeIndex
from toolkit._quick import may_be_unchanged

DONE = {
    "manifest_parquet": {"rows": 3},
    "card": {"pictures": []},
    "webdataset": {"splits": {"train": {"shards": 1, "samples": 3}}, "missing": 0, "missing_outputs": []},
}


def last_run(tmp_path, exports: dict, **settings):
    cfg = BuildConfig.create(inputs=[str(tmp_path / "in")], output=str(tmp_path / "out"), exports=["webdataset"], **settings)
    out = tmp_path / "out"
    out.mkdir()
    summary = {"stopped": False, "settings": json.loads(json.dumps(cfg.to_dict())), "exports": exports}
    (out / "summary.json").write_text(json.dumps(summary))
    return cfg, out


def test_a_completed_run_whose_exports_stand_may_be_unchanged(tmp_path):
    cfg, out = last_run(tmp_path, DONE)
    assert may_be_unchanged(cfg, out, ResumeIndex({}), []) is not None


@pytest.mark.parametrize(
    "exports",
    [
        {},  # toolkit.curate's, until its re-export is written (a re-export that failed leaves it so)
        {k: v for k, v in DONE.items() if k != "webdataset"},  # an export the settings name, not written
        {k: v for k, v in DONE.items() if k != "manifest_parquet"},
        {**DONE, "card": {"error": "OSError: the card could not be drawn"}},
        {**DONE, "webdataset": {**DONE["webdataset"], "missing": 2, "missing_outputs": ["a.jpg", "b.jpg"]}},
    ],
    ids=["curate-reexport-failed", "export-not-written", "no-manifest-parquet", "card-error", "export-short"],
)
def test_a_run_whose_exports_do_not_all_stand_is_never_nothing_to_do(tmp_path, exports):
    cfg, out = last_run(tmp_path, exports)
    assert may_be_unchanged(cfg, out, ResumeIndex({}), []) is None
