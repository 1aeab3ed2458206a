"""The manifest: ``OUTPUT/manifest.jsonl``, exactly one JSON row per input file.

Rows are appended (and fsynced) as batches finish, so a crash keeps every finished row. When
the run ends the file is rewritten sorted, atomically. A write that fails (a full or read-only
disk) raises ``OutputWriteError`` and leaves the file as it was before it: every line whole. A
later run reads it to resume: a file with the same path, size, mtime and op settings whose
outputs still exist is not done again.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

from ._fs import atomic_write, path_b64, path_text, writing
from ._media import ROW_FIELDS, ItemResult, MediaItem
from ._outfault import append_whole, cut_torn_tail
from ._stale import named_for, remove_outputs, stale_outputs

__all__ = [
    "Manifest",
    "existing_files",
    "read_rows",
    "row_key",
    "latest",
    "resume_split",
    "stale_outputs",
    "remove_outputs",
    "export_csv",
]

MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"


def is_our_manifest(path: str | os.PathLike, *, empty: bool = True) -> bool:
    """Whether the file's first row is one of ours (another tool's ``manifest.jsonl`` is not: an
    output folder holding one is not ours to write into). An empty file counts as ours only with
    ``empty=True`` (may we write there? yes); to leave a folder out of the *input*, an empty file
    proves nothing (anyone's tool may leave one) and ``empty=False`` asks for a row of ours."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(1 << 20).strip()
    except OSError:
        return False
    if not first:
        return empty
    try:
        row = json.loads(first)
    except ValueError:
        return False
    return isinstance(row, dict) and {"source", "source_b64", "status"} <= row.keys()


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All well-formed rows of a manifest (a torn last line from a crash is ignored)."""
    rows = []
    try:
        with open(path, "rb") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and "source_b64" in row and "status" in row:
                    rows.append(row)
    except FileNotFoundError:
        pass
    return rows


def row_key(row: dict[str, Any]) -> tuple[str, str]:
    """A file's identity across runs: its input folder and the base64 of its name."""
    return (row.get("input_root", ""), row["source_b64"])


def latest(rows: Iterable[dict[str, Any]] | Mapping[tuple[str, str], dict[str, Any]]) -> Mapping[tuple[str, str], dict[str, Any]]:
    """Each input's last row by :func:`row_key` (rows oldest first); a mapping made so already is
    used as it is, so a run keys its earlier rows once for resuming and for :meth:`Manifest.start`."""
    return rows if isinstance(rows, Mapping) else {row_key(r): r for r in rows}


def resume_split(
    items: list[MediaItem], previous: Iterable[dict[str, Any]] | Mapping, *, settings: str, output: str, force: bool = False
) -> tuple[list[MediaItem], list[ItemResult]]:
    """-> (items still to do, rows carried over from the previous manifest: rows or :func:`latest`)."""
    if force:
        return list(items), []
    prev = latest(previous)
    todo, candidates = [], []
    for it in items:
        r = prev.get((path_text(it.root), path_b64(it.rel)))
        if (
            r is not None
            and r.get("status") in ("ok", "skipped")
            and r.get("settings") == settings
            and r.get("bytes_in") == it.size
            and r.get("mtime_ns") == it.mtime_ns
            and all(named_for(o, it.out_rel) for o in r.get("outputs") or ())
        ):
            candidates.append((it, r))
        else:
            todo.append(it)
    there = existing_files(output, (o for _, r in candidates for o in r.get("outputs") or ()))  # each folder listed once
    carried = []
    for it, r in candidates:
        if all(o in there for o in r.get("outputs") or ()):
            carried.append(ItemResult.from_row(r))
        else:
            todo.append(it)
    if len(carried) < len(candidates):
        todo.sort(key=lambda i: (i.root, os.fsencode(i.rel)))  # in the scan's order, as before
    return todo, carried


def existing_files(output: str | os.PathLike, rels: Iterable[str]) -> set[str]:
    """Which of ``rels`` (relative to ``output``, '/'-separated) are files: each folder is listed
    once (``os.scandir``) rather than each file stat'ed, a hundred thousand outputs in ~0.1 s."""
    by_dir: dict[str, list[str]] = {}
    for o in rels:
        folder, _, name = o.rpartition("/")
        by_dir.setdefault(folder, []).append(name)
    there: set[str] = set()
    for folder, names in by_dir.items():
        try:
            with os.scandir(os.path.join(os.fspath(output), folder)) as it:
                files = {e.name for e in it if e.is_file()}
        except OSError:
            continue
        there.update(f"{folder}/{n}" if folder else n for n in names if n in files)
    return there


class Manifest:
    """Append-only writer for one run; thread-safe."""

    def __init__(self, output: str | os.PathLike):
        self.output = Path(output)
        self.path = self.output / MANIFEST
        self._fd: int | None = None  # the manifest, open for appending while the run goes
        self._started = False  # start() replaced the manifest: from then on finish() writes it
        self._lock = threading.Lock()
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._on_disk: list[dict[str, Any]] | None = None  # the manifest's rows as previous() read them

    @property
    def kept_path(self) -> Path:
        """Rows of earlier runs kept aside until a run completes (see :meth:`start`)."""
        return self.output / ".dataprep" / "previous.jsonl"

    def previous(self) -> list[dict[str, Any]]:
        """Rows of earlier runs, oldest first (for resuming, a later row of an input wins)."""
        on_disk = read_rows(self.path)
        self._on_disk = on_disk  # what start() needs to know of the manifest it replaces
        return read_rows(self.kept_path) + on_disk

    def start(
        self, rows: Iterable[ItemResult | dict[str, Any]], *, earlier: Iterable[dict[str, Any]] | Mapping | None = None
    ) -> None:
        """Atomically replace the manifest with ``rows`` (carried over + known up front), then append.

        The earlier rows are first kept aside (``.dataprep/previous.jsonl``): a run that redoes
        files (``--force``, new settings) and dies or is stopped midway would otherwise lose the
        rows of the files it had not reached yet, whose outputs are still on disk. The next run
        reads them back; :meth:`settle` drops them once a run has completed. ``earlier``: those
        rows, oldest first, if the caller has read them already (:meth:`previous`, plus rows
        salvaged from the journals of a run that died), or :func:`latest` of them.
        """
        by_input = latest(self.previous() if earlier is None else earlier)
        for r in rows:
            self._remember(r.to_row() if isinstance(r, ItemResult) else r)
        # A row carried unchanged needs no copy aside when the manifest on disk holds it too: until
        # the new manifest replaces that one, the old one has it, and from then on the new one
        # does. So a run that adds a few files to a large dataset keeps aside only a few rows.
        if by_input and self._on_disk is None:
            self._on_disk = read_rows(self.path)
        on_disk = latest(self._on_disk or ())
        kept = [r for k, r in by_input.items() if not (self.rows.get(k) == r and on_disk.get(k) == r)]
        if kept:  # (atomic_write makes its folder)
            with atomic_write(self.kept_path, durable=True, root=self.output) as fh:
                fh.write(self._dump(kept))
        with writing(self.output / SUMMARY):  # the summary describes a run that ended; until this one does, there is none
            (self.output / SUMMARY).unlink(missing_ok=True)
        self.write_all(self.rows.values())
        self._started = True
        if not kept:
            self.settle()  # rows an earlier run kept aside are all in the new manifest now
        with writing(self.path):
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))

    def _remember(self, row: dict[str, Any]) -> bool:
        k = row_key(row)
        new = k not in self.rows
        self.rows[k] = row
        return new

    @staticmethod
    def _dump(rows: Iterable[dict[str, Any]]) -> bytes:
        return b"".join(_line(r) for r in rows)

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            fresh = list(rows)
            for r in fresh:  # a later row for the same input replaces the earlier one on rewrite
                self._remember(r)
            if self._fd is not None and fresh:
                append_whole(self._fd, self._dump(fresh), self.path)

    def finish(self) -> None:
        """Close, then rewrite sorted with exactly one row per input (atomic). If the rewrite cannot be
        written (``OutputWriteError``: disk full, read-only), the appended manifest stays, cut back
        to its last whole line: valid as it is, and the next run reads it to resume. If :meth:`start`
        did not get as far as replacing the manifest (a full disk), the earlier one stands: nothing
        is written over it (its rows may be kept nowhere else)."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    os.close(fd)
                except OSError:
                    pass
            if not self._started:
                return
            try:
                self.write_all(self.ordered())
            except OSError:
                cut_torn_tail(self.path)
                raise

    def write_all(self, rows: Iterable[dict[str, Any]]) -> None:
        """Replace the manifest with exactly ``rows``, atomically (as :meth:`finish` does; and
        ``toolkit.curate``, rewriting a finished build's rows). Not while a run appends."""
        with atomic_write(self.path, durable=True, root=self.output) as fh:
            fh.write(self._dump(rows))

    def ordered(self) -> list[dict[str, Any]]:
        """One row per input, in the order :meth:`finish` writes them (input folder, then name)."""
        return sorted(self.rows.values(), key=lambda r: (r["input_root"], r["source"], r["source_b64"]))

    def settle(self) -> None:
        """The run completed: every input has its row here, the rows kept aside are not needed."""
        with writing(self.kept_path):
            self.kept_path.unlink(missing_ok=True)

    def write_summary(self, summary: dict[str, Any]) -> Path:
        p = self.output / SUMMARY
        with atomic_write(p, durable=True, root=self.output) as fh:
            fh.write(json.dumps(summary, indent=2).encode())
        return p


def _line(row: dict[str, Any]) -> bytes:
    """One JSON line, UTF-8. A text that is not valid Unicode (a lone surrogate from an undecodable
    file name, which no field should hold but a caller's own row might) is written as a \\u
    escape instead of failing the whole manifest."""
    text = json.dumps(row, ensure_ascii=False)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(row).encode("ascii") + b"\n"


def export_csv(manifest: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Flatten a manifest to CSV (error type/message and outputs joined by ``;``)."""
    rows = read_rows(manifest)
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = list(ROW_FIELDS)
    w.writerow(cols)
    for r in rows:
        out = []
        for c in cols:
            v = r.get(c)
            if c == "error":
                v = f"{v['type']}: {v['message']}" if v else ""
            elif c == "warnings":
                v = "; ".join(f"{x['type']}: {x['message']}" for x in v or [])
            elif c in ("outputs", "output_bytes"):
                v = ";".join(str(x) for x in v or [])
            elif c == "meta" and v is not None:  # a sidecar's JSON object, as JSON
                v = json.dumps(v, ensure_ascii=False)
            out.append("" if v is None else v)
        w.writerow(out)
    with atomic_write(Path(dest)) as fh:
        fh.write(buf.getvalue().encode())
    return Path(dest)
