"""The engine<->worker protocol, in one place: the run's markers and the batches' journals.

The run *arms* two markers in ``OUTPUT/.dataprep/journal``: ``run-<id>`` (``JobSpec.alive_file``)
exists while the run takes results; ``run-<id>.go`` (``JobSpec.go_file``) while batches may start
new files. A stop removes the go marker first (running batches end after the file they are on),
then, after the grace period, the alive marker (from then on nothing they make is put in place).

Each batch appends to its *journal* (``<batch>.jsonl``) as it goes: ``{"start": i}`` before item
``i``, ``{"done": i, "row": {...}}`` after it, and the watchdog's ``{"timeout": i}`` before it ends
a hung worker. If the worker dies, :func:`read_journal` tells the engine which rows finished and
which file was running; journals an earlier run left behind (SIGKILL, power cut) are salvaged at
the next start. The journal folder is removed once the manifest holds what they held.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from ._fs import make_folder, writing

if TYPE_CHECKING:
    from ._worker import JobSpec

__all__ = ["journal_path", "arm", "disarm", "clear", "Journal", "JournalRead", "read_journal", "salvage_journals"]


def journal_path(job: JobSpec, batch_id: str) -> str:
    return os.path.join(job.journal_dir, f"{batch_id}.jsonl")


def arm(job: JobSpec) -> None:
    """Make the run's markers: batches write while ``alive_file`` exists, start files while ``go_file``
    does. A marker that cannot be made is an ``OutputWriteError`` (without it no batch would write)."""
    make_folder(job.journal_dir, job.output)
    for marker in (job.alive_file, job.go_file):
        with writing(marker):
            Path(marker).touch()


def disarm(*markers: str) -> None:
    for marker in markers:
        with contextlib.suppress(OSError):
            os.unlink(marker)


def clear(job: JobSpec) -> None:
    """Remove the journals (and markers): what they held is in the manifest now."""
    shutil.rmtree(job.journal_dir, ignore_errors=True)


def forget(job: JobSpec, batch_id: str) -> None:
    """Before a batch is submitted: no earlier attempt's journal is read as this one's."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal_path(job, batch_id))


class Journal:
    """The worker side: one batch's journal, written line by line as the batch goes (no journal
    when the batch has no id, e.g. a batch run by hand)."""

    def __init__(self, job: JobSpec, batch_id: str):
        self.path = journal_path(job, batch_id) if batch_id else None
        self._output = job.output
        self._fh: IO[str] | None = None

    def open(self) -> None:
        if self.path:
            with writing(self.path):
                make_folder(os.path.dirname(self.path), self._output)
                self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - one attempt per journal; closed by close()

    def log(self, rec: dict[str, Any]) -> None:
        if self._fh:
            with writing(self.path):  # type: ignore[arg-type]
                self._fh.write(json.dumps(rec) + "\n")
                self._fh.flush()

    def started(self, i: int) -> None:
        self.log({"start": i})

    def finished(self, i: int, row: dict[str, Any]) -> None:
        self.log({"done": i, "row": row})

    def timed_out(self, i: int, seconds: float) -> None:
        """From the watchdog, which must end the process whatever happens: never raises."""
        try:
            self.log({"timeout": i, "seconds": round(seconds, 3)})
        except OSError:
            pass

    def close(self) -> None:
        if self._fh:
            with contextlib.suppress(OSError):
                self._fh.close()


class JournalRead(NamedTuple):
    rows: list[dict]  # the rows the batch finished
    started: int | None  # the index of the file running when it died
    timed_out: int | None  # the index of the file the watchdog ended
    began: bool  # whether any file started at all


def read_journal(path: str) -> JournalRead:
    """What one batch's journal says; a missing journal says nothing happened."""
    rows: list[dict] = []
    started: int | None = None
    timed_out: int | None = None
    began = False
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # torn last line
                if "row" in rec:
                    rows.append(rec["row"])
                    started = None
                elif "start" in rec:
                    if rec["start"] == 0:  # a new attempt of the same task: only the last one counts
                        rows, timed_out = [], None
                    started, began = rec["start"], True
                elif "timeout" in rec:
                    timed_out = rec["timeout"]
    except FileNotFoundError:
        pass
    if timed_out is not None and timed_out < len(rows):  # it finished just as the watchdog fired
        timed_out = None
    return JournalRead(rows, started, timed_out, began)


def salvage_journals(folder: str | os.PathLike) -> list[dict]:
    """The rows that the batches of an earlier run finished, from the journals it left behind."""
    rows: list[dict] = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        rows += read_journal(str(path)).rows
    return rows
