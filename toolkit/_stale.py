"""Outputs of earlier runs: which of them a file's new row may leave behind, and removing them.

Redoing a file with other settings can make fewer outputs (fewer frames, one op instead of two):
those left over would sit in the dataset unlisted. :func:`stale_outputs` finds them before the
run, the mirror sink removes them at its end (:func:`remove_outputs`); :func:`named_for` is the
naming rule resuming checks too (a row whose outputs were named otherwise is redone).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from ._fs import path_b64, path_text
from ._media import MediaItem

__all__ = ["stale_outputs", "remove_outputs", "named_for"]


def stale_outputs(items: Iterable[MediaItem], previous: Iterable[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """For each of ``items``: the outputs any earlier row lists for it, under today's name.

    Redoing with other settings can make fewer files (fewer frames, one op instead of two): those
    left over would sit in the dataset unlisted. The engine removes them once the file's final row
    is ``ok`` and no final row lists them. Only names :func:`named_for` the item, relative and
    inside OUTPUT, are returned; every earlier row counts (kept aside, manifest, journals).
    """
    stems = {(path_text(it.root), path_b64(it.rel)): it.out_rel for it in items}
    found: dict[tuple[str, str], set[str]] = {}
    for r in previous:
        key = (r.get("input_root", ""), r.get("source_b64", ""))
        stem = stems.get(key)
        if stem is None:
            continue
        for o in r.get("outputs") or ():
            if isinstance(o, str) and _inside(o) and named_for(o, stem):
                found.setdefault(key, set()).add(o)
    return found


def _inside(rel: str) -> bool:
    """A relative path that stays inside its folder (no root, no ``..``, no NUL)."""
    return bool(rel) and "\0" not in rel and not os.path.isabs(rel) and ".." not in rel.replace("\\", "/").split("/")


def remove_outputs(output: str | os.PathLike, rels: Iterable[str], *, prune: bool = True) -> int:
    """Remove these files (relative to OUTPUT); -> how many. Never outside OUTPUT, even through a
    linked folder. ``prune``: also remove folders they leave empty (only when no worker is writing)."""
    root = Path(output)
    real_root = os.path.realpath(root)
    removed = 0
    for rel in sorted(set(rels)):
        path = root / rel
        try:
            if os.path.commonpath([real_root, os.path.realpath(path.parent)]) != real_root:
                continue
            path.unlink()
        except (OSError, ValueError):
            continue
        removed += 1
        parent = path.parent
        while prune and parent != root and root in parent.parents:
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break
            parent = parent.parent
    return removed


def named_for(output: str, stem: str) -> bool:
    """Is ``output`` one of the names the current naming gives the item with this stem?
    (``stem.jpg``, ``stem.thumbnail.jpg``, ``stem/000001.jpg`` ...). A row whose outputs were named
    under another input set is redone rather than carried, so no two rows share an output."""
    return bool(stem) and output.startswith(stem) and output[len(stem) : len(stem) + 1] in (".", "/")
