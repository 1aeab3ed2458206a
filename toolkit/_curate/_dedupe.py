"""Dedupe: keep one file of each duplicate group, skip the others as ``duplicate`` of it.

Only files in the dataset take part (a filtered or failed file is out already). The kept member
is chosen from facts every machine sees alike: the most pixels, then the most bytes (of two
encodings of one picture at one size, the larger is usually the less compressed), then the first
by path (input folder, then name). The others are ``skipped`` with a ``duplicate`` warning and
``duplicate_of`` naming the kept file's ``source``; their outputs stay on disk, out of the dataset.
"""

from __future__ import annotations

from typing import Sequence

from .._errors import ConfigError
from ._groups import hash_groups
from ._rows import Row, in_dataset, path_order, skip

__all__ = ["DEDUPE_MODES", "check_dedupe", "apply_dedupe", "keeper_order"]

DEDUPE_MODES = ("off", "exact", "near")


def check_dedupe(mode: str, near_distance: int) -> None:
    if mode not in DEDUPE_MODES:
        raise ConfigError(f"`dedupe` must be one of {', '.join(DEDUPE_MODES)}, not {mode!r}")
    if isinstance(near_distance, bool) or not isinstance(near_distance, int) or not 0 <= near_distance <= 64:
        raise ConfigError(f"`near_distance` must be a whole number of bits from 0 to 64, not {near_distance!r}")


def keeper_order(row: Row) -> tuple:
    """Sort key: the member to keep sorts first."""
    w, h = row.get("width") or 0, row.get("height") or 0
    return (-(w * h), -(row.get("bytes_in") or 0), path_order(row))


def apply_dedupe(rows: Sequence[Row], mode: str, near_distance: int) -> tuple[list[Row], list[list[int]]]:
    """-> (rows with duplicates skipped, the groups of two or more as lists of row indices, the
    kept member first, then the others in keeper order). ``mode="off"``: rows as they are, no group."""
    check_dedupe(mode, near_distance)
    out = list(rows)
    if mode == "off":
        return out, []
    members = [i for i, r in enumerate(rows) if in_dataset(r)]
    labels = hash_groups(
        [rows[i].get("content_hash") for i in members],
        [rows[i].get("phash") for i in members],
        near_distance if mode == "near" else None,
    )
    by_label: dict[int, list[int]] = {}
    for pos, lab in enumerate(labels.tolist()):
        by_label.setdefault(lab, []).append(members[pos])
    groups = []
    for idx in by_label.values():
        if len(idx) < 2:
            continue
        idx.sort(key=lambda i: keeper_order(rows[i]))
        kept = rows[idx[0]]
        for i in idx[1:]:
            r = skip(rows[i], [("duplicate", f"{rows[i].get('source', '')} is a duplicate of {kept.get('source', '')}")])
            r["duplicate_of"] = kept.get("source")
            out[i] = r
        groups.append(idx)
    groups.sort(key=lambda g: path_order(rows[g[0]]))
    return out, groups
