"""The engine<->worker protocol: what a batch's journal says, written and read back."""

from __future__ import annotations

import json

from toolkit._journal import Journal, arm, disarm, journal_path, read_journal, salvage_journals
from toolkit._worker import JobSpec


def test_journal_counts_only_the_last_attempt(tmp_path):
    """A task re-run by the scheduler appends a second attempt: only that one counts, and a
    timeout recorded for a file that had just finished is ignored."""
    j = tmp_path / "j.jsonl"
    lines = [
        {"start": 0},
        {"done": 0, "row": {"n": "a"}},
        {"start": 1},
        {"done": 1, "row": {"n": "b"}},
        {"start": 2},
        {"start": 0},
        {"done": 0, "row": {"n": "a"}},
        {"start": 1},
    ]
    j.write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn")
    rows, started, timed_out, began = read_journal(str(j))
    assert [r["n"] for r in rows] == ["a"] and started == 1 and timed_out is None and began
    j.write_text("\n".join(json.dumps(x) for x in [{"start": 0}, {"done": 0, "row": {"n": "a"}}, {"timeout": 0}]))
    assert read_journal(str(j))[2] is None


def test_a_journal_written_by_a_batch_reads_back_as_rows_and_the_file_that_was_running(tmp_path):
    job = JobSpec(ops=(), output=str(tmp_path), run_id="r1")
    j = Journal(job, "b1")
    j.open()
    j.started(0)
    j.finished(0, {"source": "a.jpg", "status": "ok"})
    j.started(1)  # then the worker died
    j.close()
    read = read_journal(journal_path(job, "b1"))
    assert read.rows == [{"source": "a.jpg", "status": "ok"}] and read.started == 1 and read.began
    assert read.timed_out is None
    j = Journal(job, "b2")
    j.open()
    j.started(0)
    j.timed_out(0, 301.5)  # the watchdog's last word
    assert read_journal(journal_path(job, "b2")).timed_out == 0
    assert [r["source"] for r in salvage_journals(job.journal_dir)] == ["a.jpg"]  # what an earlier run left
    assert read_journal(str(tmp_path / "missing.jsonl")) == ([], None, None, False)


def test_the_markers_tell_batches_whether_to_go_on(tmp_path):
    job = JobSpec(ops=(), output=str(tmp_path), run_id="r2")
    assert not job.go() and not job.alive()  # no markers (the run is over, or not ours): a batch does nothing
    arm(job)
    assert job.go() and job.alive()
    disarm(job.go_file)  # a stop: running batches end after their current file
    assert not job.go() and job.alive()
    disarm(job.alive_file)  # the grace is over: nothing they make is taken
    assert not job.alive()
