"""Splits that never leak and never move.

The unit of assignment is a duplicate group (or a lone file): all its members get one split. A
unit that holds a file placed before with these settings (the carried assignment, matched by
input folder and name: :mod:`._carry`) keeps that split: carried files never move, and new members follow them,
even a new larger copy that becomes the kept one. A new file that links groups already placed in
different splits is a *conflict*: every carried file stays, the new ones follow the kept member's
side, and the conflict is returned for the report.

Units with no carried file are placed per label (stratified), in the order of a hash of the seed
and their content, each to the split furthest below its share so far: the split s maximising
``(m + 1) * p_s - c_s + offset_s``, with c_s the label's files already in s (carried ones
included), m their total and offset_s in [0, 0.5) drawn from the seed and the label (so that small
labels do not all start in the largest split). This greedy keeps every split within about one file
of its share at every step, so both hold together: carried files stay put, and the new ones fill
the splits back toward ``n * p`` (the bound tested is the issue's 3*sqrt(n p (1-p)) + 1). The
result depends on the seed, the fractions and the set of files, never on their order or machine.
Another seed or other fractions is a re-split: the caller carries nothing then.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .._errors import ConfigError
from ._rows import Row, in_dataset, key, path_order

__all__ = ["check_splits", "assign_splits", "Conflict"]

NAME = re.compile(r"[A-Za-z0-9_]+")


def check_splits(fractions: Mapping[str, Any] | None, seed: Any = 0) -> dict[str, float]:
    """The split fractions, checked: identifiers for names, each in (0, 1], summing to 1 within
    1e-9; ConfigError naming `splits` (or `split_seed`, a whole number) otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"`split_seed` must be a whole number, not {seed!r}")
    out = {}
    for name, p in dict(fractions or {}).items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigError(f"`splits`: a split name is letters, digits and _ only, not {name!r}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or not 0 < p <= 1:
            raise ConfigError(f"`splits`: the fraction of {name!r} must be a number above 0 and at most 1, not {p!r}")
        out[name] = float(p)
    if out and abs(sum(out.values()) - 1) > 1e-9:
        raise ConfigError(f"`splits`: the fractions must sum to 1, not {sum(out.values()):.12g}")
    return out


@dataclass
class Conflict:
    """A group whose carried files sit in more than one split (a new file linked them)."""

    kept: str
    split: str  # where the kept member and the group's new files are
    members: dict[str, list[str]] = field(default_factory=dict)  # split -> sources already there

    def to_json(self) -> dict[str, Any]:
        return {"kept": self.kept, "split": self.split, "members": self.members}


def _h(*parts: object) -> int:
    return int.from_bytes(
        hashlib.blake2b("\0".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big"
    )


def _unit_key(rows: Sequence[Row], unit: list[int]) -> tuple[str, tuple]:
    """What orders a new unit: its smallest content hash (the path where there is none)."""
    texts = [str(rows[i].get("content_hash") or "").lower() or "path:" + "\0".join(path_order(rows[i])) for i in unit]
    return min(texts), min(path_order(rows[i]) for i in unit)


def assign_splits(
    rows: Sequence[Row],
    groups: Iterable[list[int]],
    fractions: Mapping[str, float],
    seed: int,
    carried: Mapping[tuple[str, str], str] | None = None,
) -> tuple[list[Row], list[Conflict]]:
    """-> (rows with ``split`` set on the dataset's files and their duplicates, None elsewhere;
    the conflicts). ``groups``: from :func:`apply_dedupe` (kept member first). ``carried``: the
    splits files were placed in before with these fractions and this seed, by :func:`key`
    (a name not among the fractions is ignored). No fractions: the rows as they are (no copy)."""
    names = sorted(check_splits(fractions, seed))
    if not names:
        return list(rows), []
    carried = {k: s for k, s in (carried or {}).items() if s in names} if carried else {}
    out = [dict(r, split=None) for r in rows]
    grouped = {i for g in groups for i in g}
    units = [list(g) for g in groups] + [[i] for i, r in enumerate(rows) if in_dataset(r) and i not in grouped]
    conflicts: list[Conflict] = []
    fresh: dict[Any, list[list[int]]] = {}
    counts: dict[Any, dict[str, int]] = {}
    for unit in units:
        placed = [(i, carried[key(rows[i])]) for i in unit if key(rows[i]) in carried]
        label = rows[unit[0]].get("label")
        if not placed:
            fresh.setdefault(label, []).append(unit)
            continue
        side = placed[0][1]  # the first carried member in keeper order
        for i in unit:
            out[i]["split"] = carried.get(key(rows[i]), side)
        if len({s for _, s in placed}) > 1:
            members: dict[str, list[str]] = {}
            for i, s in placed:
                members.setdefault(s, []).append(rows[i].get("source", ""))
            conflicts.append(Conflict(rows[unit[0]].get("source", ""), out[unit[0]]["split"], members))
        tally = counts.setdefault(label, dict.fromkeys(names, 0))
        tally[out[unit[0]]["split"]] += 1
    for label, new in fresh.items():
        tally = counts.setdefault(label, dict.fromkeys(names, 0))
        offset = {s: (_h(seed, "offset", label, s) / 2**64) * 0.5 for s in names}
        keys = [_unit_key(rows, u) for u in new]
        order = sorted(range(len(new)), key=lambda k: (_h(seed, keys[k][0]), keys[k]))
        for unit in (new[k] for k in order):
            m = sum(tally.values())
            side = max(names, key=lambda s: ((m + 1) * fractions[s] - tally[s] + offset[s], s))
            tally[side] += 1
            for i in unit:
                out[i]["split"] = side
    conflicts.sort(key=lambda c: c.kept)
    return out, conflicts
