"""Samples into shards (pure): shuffled with a seed, cut by count and by bytes, each with a digest.

A split's samples are put in key order, then shuffled with ``random.Random`` seeded by the seed and
the split's name: the same samples and seed give the same shards on every machine, and a shard
never holds one class only (webdataset reads a shard from start to end, so class-sorted shards
train badly). Shards are then filled in that order up to ``max_count`` samples and ``max_bytes``
bytes (a sample larger than ``max_bytes`` gets a shard of its own).

A shard's digest covers what its bytes are made of: the format, each sample's key, member
extension, facts, and its output's origin (the input's content hash, the settings that made the
output, its name and size). A rerun compares it with the digest the split's index recorded for the
shard on disk and rewrites only the shards whose digest changed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import xxhash

from ._samples import Sample

__all__ = ["ShardPlan", "shuffle", "cut", "plan_shards", "digest"]

#: bumped when the bytes a shard is made into change for the same samples (a new member, order, ...)
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class ShardPlan:
    name: str  # the file name, e.g. ``train-000000.tar``
    split: str
    samples: tuple[Sample, ...]
    digest: str

    @property
    def bytes(self) -> int:
        return sum(max(s.size, 0) for s in self.samples)


def shuffle(samples: Iterable[Sample], seed: int, split: str) -> list[Sample]:
    """``samples`` in key order, shuffled by ``seed`` and ``split`` (a string seed: the same on every Python)."""
    order = sorted(samples, key=lambda s: s.key)
    random.Random(f"dataprep-shards:{seed}:{split}").shuffle(order)
    return order


def cut(samples: Sequence[Sample], max_count: int, max_bytes: int) -> list[list[Sample]]:
    """Consecutive runs of ``samples``, each of at most ``max_count`` samples and ``max_bytes`` bytes
    (or a single sample that alone is larger)."""
    shards: list[list[Sample]] = []
    now: list[Sample] = []
    size = 0
    for s in samples:
        grow = max(s.size, 0)
        if now and (len(now) >= max_count or size + grow > max_bytes):
            shards.append(now)
            now, size = [], 0
        now.append(s)
        size += grow
    if now:
        shards.append(now)
    return shards


def digest(fmt: str, samples: Sequence[Sample], extra: Any = None) -> str:
    """What a shard's bytes are made of, as 32 hex digits (see the module's text)."""
    h = xxhash.xxh3_128()
    head = {"format": fmt, "layout": LAYOUT_VERSION, "extra": extra}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for s in samples:
        part = [s.key, s.ext, s.origin, s.size, s.label_index, s.caption, s.facts]
        h.update(json.dumps(part, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()


def plan_shards(
    samples: Sequence[Sample], *, fmt: str, suffix: str, digits: int, max_count: int, max_bytes: int, seed: int, extra: Any = None
) -> dict[str, list[ShardPlan]]:
    """Every split's shards, ``{split}-{n:0<digits>d}.<suffix>``, by split name."""
    by_split: dict[str, list[Sample]] = {}
    for s in samples:
        by_split.setdefault(s.split, []).append(s)
    plans: dict[str, list[ShardPlan]] = {}
    for split in sorted(by_split):
        runs = cut(shuffle(by_split[split], seed, split), max_count, max_bytes)
        plans[split] = [
            ShardPlan(f"{split}-{n:0{digits}d}.{suffix}", split, tuple(run), digest(fmt, run, extra))
            for n, run in enumerate(runs)
        ]
    return plans
