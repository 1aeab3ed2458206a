"""Splits that never leak and never move.

The unit of assignment is a duplicate group (or a lone file): all its members get one split. A
unit that holds a file placed before with these settings (the carried assignment, matched by
input folder and name: :mod:`._carry`) keeps that split: carried files never move, and new members follow them,
even a new larger copy that becomes the kept one. A new file that links groups already placed in
different splits is a *conflict*: every carried file stays, the new ones follow the kept member's
side, and the conflict is returned for the report.

Units with no carried file are placed by a hash of the seed and their own content (the smallest
content hash among their members): the unit's point in [0, 1), cut into the splits' fractions in name
order. So a file's split depends on its bytes and the seed (and its group's), not on the other files, the
order, the machine or the output folder: version 2 of a dataset built into a fresh folder, with no
``curation-splits.tsv`` to carry, puts the files of version 1 where version 1 had them, but for the rare
moves below and a file that gains a new duplicate with a smaller hash (its group is placed anew); the
carried assignment is what guarantees that no file moves. Hashes place
files independently, so a label's count in a split can stray from ``n * p``; where it passes the
issue's bound (3*sqrt(n p (1-p)) + 1), new units (never carried ones) are moved, one at a time, from the
most crowded split to the emptiest, in a seeded order: rare, and only then does a file's split depend on
the others. Another seed or other fractions is a re-split: the caller carries nothing then.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .._errors import ConfigError
from ._rows import Row, in_dataset, key

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


def _unit_key(rows: Sequence[Row], unit: list[int]) -> tuple[str, str]:
    """What places and orders a new unit: its smallest content hash (its name where there is none),
    and its first name; never the input folder's absolute path, so the same files give the same
    splits on any machine and under any folder."""
    names = [str(rows[i].get("source", "")) for i in unit]
    texts = [str(rows[i].get("content_hash") or "").lower() or "path:" + n for i, n in zip(unit, names)]
    return min(texts), min(names)


def _by_hash(fractions: Mapping[str, float], names: Sequence[str], u: float) -> str:
    """The split whose share of [0, 1) holds ``u`` (the splits in name order, each its fraction wide)."""
    edge = 0.0
    for s in names:
        edge += fractions[s]
        if u < edge:
            return s
    return names[-1]  # the fractions sum to 1 within 1e-9: u past the last edge by rounding


def _within_bound(tally: dict[str, int], sides: list[str], order: Sequence[int], fractions: Mapping[str, float]) -> None:
    """Where a label's count in a split strays past 3 sqrt(n p (1-p)) + 1 from n p (rare: hashes
    place each file independently), move new units, and only new ones, one at a time from the split
    furthest above its share to the one furthest below, in a seeded order; ``sides`` is changed."""

    def excess(s: str) -> float:
        n = sum(tally.values())
        return (tally[s] - n * fractions[s]) / (3 * math.sqrt(n * fractions[s] * (1 - fractions[s])) + 1)

    seeded = sorted(range(len(sides)), key=lambda k: order[k])
    for _ in range(len(sides)):
        if all(abs(excess(s)) <= 1 for s in tally):
            return
        low = min(tally, key=lambda s: (excess(s), s))
        movable = [k for k in seeded if sides[k] != low]
        if not movable:
            return
        k = max(movable, key=lambda k: excess(sides[k]))  # the first, in seeded order, of the most crowded split
        if excess(sides[k]) <= 0:  # new files only in splits at or under their share: moving one fixes nothing
            return
        tally[sides[k]] -= 1
        tally[low] += 1
        sides[k] = low


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
        sides = [_by_hash(fractions, names, _h(seed, _unit_key(rows, u)[0]) / 2**64) for u in new]
        for side in sides:
            tally[side] += 1
        _within_bound(tally, sides, [_h(seed, "move", _unit_key(rows, u)) for u in new], fractions)
        for unit, side in zip(new, sides):
            for i in unit:
                out[i]["split"] = side
    conflicts.sort(key=lambda c: c.kept)
    return out, conflicts
