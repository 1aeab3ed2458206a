"""Small helpers shared by the test modules (``from helpers import ...``; pytest puts tests/ on the path)."""

from __future__ import annotations

import time
from pathlib import Path

from toolkit.manifest import read_rows


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
