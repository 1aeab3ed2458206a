"""Small helpers shared by the test modules (``from helpers import ...``; pytest puts tests/ on the path)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from PIL import Image

from toolkit._manifest import read_rows


def exif_bytes(orientation: int) -> bytes:
    """A raw EXIF block holding only an orientation tag (274)."""
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


def wait_until(cond, limit: float = 60.0, step: float = 0.02) -> bool:
    """Poll ``cond`` until it holds or ``limit`` seconds pass; -> its last answer."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def rows_by_source(out: Path, n: int | None = None) -> dict[str, dict]:
    """The manifest as {source: row}; fails if any file has two rows (or, given ``n``, not ``n`` rows)."""
    rows = read_rows(out / "manifest.jsonl")
    srcs = [r["source"] for r in rows]
    dupes = sorted({s for s in srcs if srcs.count(s) > 1})
    assert not dupes, f"files with more than one row: {dupes}"
    assert n is None or len(srcs) == n, f"{len(srcs)} rows, expected {n}"
    return {r["source"]: r for r in rows}


def http_get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    """GET ``url`` -> (HTTP status, body as text). An HTTP error status is an answer (its body is
    ""); no answer at all (refused, timed out) raises ``OSError``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own local servers
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def descendants() -> set[int]:
    """The pids of every process below this one (workers forked by the fork server included)."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (not gone, not a zombie waiting for its parent)."""
    left = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.add(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def workers_idle(client) -> bool:
    """No task runs on any worker of ``client``'s cluster, counting tasks the scheduler cancelled
    that still run to their end in their worker's thread (Dask cannot interrupt them)."""
    return not any(client.run(lambda dask_worker: dask_worker.state.executing_count).values())


#: what a build writes at the top of its output folder besides the outputs: the manifest and its Parquet
#: copy, the summary, the dataset card and its pictures, curation's state, the exports, the bookkeeping
BUILD_FILES = ("manifest.jsonl", "summary.json", "manifest.parquet", "README.md", "curation.json", "curation-splits.tsv")
BUILD_FOLDERS = (".dataprep", "card", "webdataset", "imagefolder", "parquet")


def bookkeeping_left(out: Path) -> list[str]:
    """What a run left in ``OUTPUT/.dataprep`` besides the resume index (``index.tsv``, kept for the
    next run): journals, rows kept aside, a lock file; [] once a run completed."""
    where = out / ".dataprep"
    return sorted(p.name for p in where.iterdir() if p.name != "index.tsv") if where.exists() else []


def outputs_on_disk(out: Path) -> set[str]:
    """Every file in the output folder a user would take for an output of an input file."""
    found = set()
    for p in out.rglob("*"):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and rel not in BUILD_FILES and rel.split("/", 1)[0] not in BUILD_FOLDERS:
            found.add(rel)
    return found
