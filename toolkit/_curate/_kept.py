"""Which file each duplicate was left out for, read back from curated rows (for the views of duplicates).

A duplicate's ``duplicate_of`` names its kept file's ``source``, which is relative to its input
folder: with several input folders, more than one file of the dataset may have that name (cameras
repeat ``IMG_0001.jpg``). Of those, the kept file is the one with the same content, else the
fewest phash bits apart (dedupe grouped them by these very facts), else one in the same folder.
"""

from __future__ import annotations

from typing import Any, Iterable

from ._rows import Row

__all__ = ["kept_groups", "same_content", "bits_apart"]


def same_content(row: Row, kept: Row) -> bool:
    a, b = row.get("content_hash"), kept.get("content_hash")
    return isinstance(a, str) and bool(a) and a.lower() == str(b or "").lower()


def bits_apart(row: Row, kept: Row) -> int | None:
    """The phash bits that differ, or None when either has no phash."""
    try:
        return bin(int(str(row["phash"]), 16) ^ int(str(kept["phash"]), 16)).count("1")
    except (KeyError, TypeError, ValueError):
        return None


def _closeness(row: Row, kept: Row) -> tuple[int, bool]:
    bits = -1 if same_content(row, kept) else bits_apart(row, kept)
    return (65 if bits is None else bits), kept.get("input_root") != row.get("input_root")


def kept_groups(rows: Iterable[Row]) -> list[tuple[Row | None, str, list[Row]]]:
    """(kept row, its source, the duplicates left out for it) for each kept file that has any, in
    the order of their first duplicate; the kept row is None when no file in the dataset has the
    name ``duplicate_of`` gives."""
    rows = list(rows)
    named: dict[str, list[Row]] = {}
    for r in rows:
        if not r.get("duplicate_of") and r.get("status") == "ok":
            named.setdefault(str(r.get("source")), []).append(r)
    groups: dict[Any, tuple[Row | None, str, list[Row]]] = {}
    for r in rows:
        of = r.get("duplicate_of")
        if not of or r.get("status") == "ok":
            continue
        kept = min(named.get(str(of)) or [], key=lambda k: _closeness(r, k), default=None)
        gid = (kept.get("input_root"), kept.get("source_b64"), kept.get("source")) if kept is not None else str(of)
        groups.setdefault(gid, (kept, str(of), []))[2].append(r)
    return list(groups.values())
