"""toolkit.report(output): what a build's output folder holds, the same for the CLI, a notebook and Python."""

import csv
import re

import pytest

import toolkit
from toolkit import DatasetReport, InputError
from toolkit._lock import OutputLock
from toolkit._manifest import Manifest
from toolkit._media import ItemResult, Problem, problem_row


def folder(out, *, summary=None, warn=True):
    """An output folder written by the manifest's own writer: 2 ok (one kept with a warning), 2 failed, 1 skipped."""
    rows = [
        ItemResult(source="a.jpg", source_b64="YS5qcGc=", input_root="/in", status="ok"),
        ItemResult(
            source="cut.jpg",
            source_b64="Y3V0LmpwZw==",
            input_root="/in",
            status="ok",
            warnings=(Problem("truncated", "recovered"),) if warn else (),
        ),
        problem_row("/in", "bad\n\u202eb.jpg", "failed", "decode-error", "cannot identify image"),
        problem_row("/in", "empty.png", "failed", "empty-file", "0 bytes"),
        problem_row("/in", "notes.txt", "skipped", "unsupported", "not media"),
    ]
    m = Manifest(out)
    out.mkdir(parents=True, exist_ok=True)
    m.start(rows, earlier=[])
    m.finish()
    if summary is not None:
        m.write_summary(summary)
    return out


def test_a_folder_reads_as_the_run_that_wrote_it_counted_it(tmp_path):
    """One tally for both: the run's report (the ledger, as rows arrive) and toolkit.report (from the manifest)."""
    from toolkit._ledger import Ledger
    from toolkit._outfault import OutputFault

    out = folder(tmp_path / "out", summary={"stopped": False, "stop_reason": None})
    ledger = Ledger(Manifest(out), OutputFault(str(out)), lambda exc: None, lambda *a, **k: None)
    ledger.tally(Manifest(out).previous())
    run, folder_report = ledger.report(1.0, 0.0, 1, 0, {}, False, None), toolkit.report(out)
    assert (run.counts, run.errors, run.warnings) == (folder_report.counts, folder_report.errors, folder_report.warnings)
    assert sorted(run.failures) == sorted(tuple(f) for f in folder_report.failures)


def test_counts_errors_warnings_and_failures(tmp_path):
    r = toolkit.report(folder(tmp_path / "out", summary={"stopped": False, "stop_reason": None}))
    assert isinstance(r, DatasetReport)
    assert r.counts == {"ok": 2, "failed": 2, "skipped": 1} and r.files == 5 and r.counts["missing"] == 0
    assert r.errors == {"decode-error": 1, "empty-file": 1} and r.warnings == {"truncated": 1}
    assert sorted(f.type for f in r.failures) == ["decode-error", "empty-file"]
    assert not r.stopped and r.state_text() is None and r.exit_code == 1
    assert str(r).splitlines() == [
        "5 files: failed 2, ok 2, skipped 1",
        "  decode-error         1",
        "  empty-file           1",
        "ok with a warning: truncated=1 (the manifest's rows say which files and why)",
    ]
    lines = r.failure_lines()  # one line a file, a name's newline and bidi control escaped
    assert len(lines) == 2 and all(ln.count("\t") == 2 for ln in lines) and "bad\\n\\u202eb.jpg\tdecode-error" in lines[0]


def test_a_stopped_build_says_why_and_a_missing_summary_says_it_did_not_finish(tmp_path):
    why = {"type": "output-write-failed", "message": "No space left on device"}
    r = toolkit.report(folder(tmp_path / "full", summary={"stopped": True, "stop_reason": why}))
    assert r.stopped and r.stop_reason == why and r.exit_code == 1
    assert str(r).endswith("the build stopped [output-write-failed]: No space left on device")
    r = toolkit.report(folder(tmp_path / "cut", warn=False))  # no summary.json: the build never reached its end
    assert r.stopped and not r.running and "did not finish" in r.state_text()


def test_a_build_still_writing_is_named(tmp_path):
    out = folder(tmp_path / "out")
    lock = OutputLock(out)
    assert lock.acquire()
    try:
        r = toolkit.report(out)
    finally:
        lock.release()
    assert r.running and r.state_text().startswith("a build is still writing this folder (")
    assert not toolkit.report(out).running


def test_csv_and_html(tmp_path):
    r = toolkit.report(folder(tmp_path / "out", summary={"stopped": False}))
    with open(r.to_csv(tmp_path / "m.csv"), newline="") as fh:
        table = list(csv.DictReader(fh))
    assert (
        len(table) == 5 and {t["source"]: t["error"] for t in table}["bad\n\u202eb.jpg"] == "decode-error: cannot identify image"
    )
    page = r._repr_html_()
    assert "<table>" in page and "decode-error" in page and "\u202e" not in page and "\\u202e" in page
    with pytest.raises(OSError):
        r.to_csv(tmp_path)  # a folder: the caller words it


def test_a_folder_without_a_manifest_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty.*manifest.jsonl does not exist.*`output`"):
        toolkit.report(tmp_path / "empty")
    with pytest.raises(InputError, match="nowhere does not exist"):
        toolkit.report(tmp_path / "nowhere")


def test_dataprep_report_shows_settings_as_flags_in_messages_never_in_names(tmp_path, capsys):
    from toolkit._cli import main

    out = tmp_path / "out"
    rows = [problem_row("/in", "`jobs`.jpg", "failed", "limit-exceeded", "`jobs`.jpg: give workers more memory (`memory_limit`)")]
    out.mkdir()
    m = Manifest(out)
    m.start(rows, earlier=[])
    m.finish()
    m.write_summary({"stopped": True, "stop_reason": {"type": "output-write-failed", "message": "see `output`"}})
    assert main(["report", str(out), "--failed"]) == 1
    cap = capsys.readouterr()
    assert cap.out.splitlines()[-1] == "`jobs`.jpg\tlimit-exceeded\t`jobs`.jpg: give workers more memory (--memory-limit)"
    assert "the build stopped [output-write-failed]: see --output" in cap.err


def test_the_split_x_label_table_stays_aligned_with_long_class_names_and_says_when_it_is_empty():
    from toolkit._runreport import curation_lines

    files = {"train": {"cat": 3, "golden_retriever": 12345678}, "test": {"cat": 1}}
    table = curation_lines({"kept": 5, "leakage": {"files": files}})[1:]
    ends = [[m.end() for m in re.finditer(r"\S+", line)][1:] for line in table]  # where each column's cells end
    assert all(e == ends[0] for e in ends), table  # right-aligned under their names, whatever a name's length
    assert [line.split() for line in table[1:]] == [["train", "3", "12345678", "12345681"], ["test", "1", "0", "1"]]
    empty = curation_lines({"kept": 0, "filtered": {"too-small": 3}, "leakage": {"files": {}}})
    assert empty[1:] == ["  no file is in the dataset: nothing to split"], empty
