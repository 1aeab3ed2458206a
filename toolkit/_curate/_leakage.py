"""The leakage report: near-duplicate pairs that sit in two splits, and files per split x label.

With ``dedupe = "near"`` the pair count is 0 by construction (near files are one group, one
split), except for the conflicts a bridging new file makes, which the report lists; with
``exact`` or ``off`` it shows what deduplication would have prevented. Only files in the dataset
count. Pairs are counted per file pair, through the distinct phash values (no all-pairs pass).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np

from ._groups import parse_hex
from ._near import near_pairs
from ._rows import Row, in_dataset

__all__ = ["leakage_report"]


def _cross(a: Counter, b: Counter) -> int:
    """Pairs (x in a, y in b) whose splits differ."""
    return sum(a.values()) * sum(b.values()) - sum(n * b.get(s, 0) for s, n in a.items())


def leakage_report(rows: Sequence[Row], near_distance: int, examples: int = 10, *, search: bool = True) -> dict[str, Any]:
    """-> ``{"near_pairs_across_splits": N, "examples": [[source, source], ...], "files": {split:
    {label: n}}}``; a file with no label counts under ``""`` (no folder name is empty).
    ``search=False`` after near dedupe at this distance: no two kept files are near then (they
    would be one group), so the pairs are 0 without looking; only equal phash values are counted."""
    placed = [r for r in rows if in_dataset(r) and r.get("split") is not None]
    files: dict[str, dict[str, int]] = {}
    for r in placed:
        per = files.setdefault(r["split"], {})
        lb = "" if r.get("label") is None else str(r["label"])
        per[lb] = per.get(lb, 0) + 1
    by_value: dict[int, list[Row]] = {}
    for r in placed:
        v = parse_hex(r.get("phash"), 64)
        if v is not None:
            by_value.setdefault(v, []).append(r)
    values = sorted(by_value)
    splits = [Counter(r["split"] for r in by_value[v]) for v in values]
    total = sum((sum(c.values()) ** 2 - sum(n * n for n in c.values())) // 2 for c in splits)
    shown: list[list[str]] = []
    for c, v in zip(splits, values):
        if len(c) > 1 and len(shown) < examples:
            first = by_value[v][0]
            other = next(r for r in by_value[v] if r["split"] != first["split"])
            shown.append([first.get("source", ""), other.get("source", "")])
    pairs = near_pairs(np.array(values, dtype=np.uint64), near_distance) if search and len(values) > 1 else np.empty((0, 2), int)
    for i, j in pairs.tolist():
        n = _cross(splits[i], splits[j])
        total += n
        if n and len(shown) < examples:
            a, b = by_value[values[i]], by_value[values[j]]
            x, y = next((x, y) for x in a for y in b if x["split"] != y["split"])
            shown.append([x.get("source", ""), y.get("source", "")])
    return {
        "near_pairs_across_splits": total,
        "examples": shown,
        "files": {s: dict(sorted(files[s].items())) for s in sorted(files)},
    }
