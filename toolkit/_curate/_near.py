"""Pairs of 64-bit hashes within a Hamming distance, without comparing all pairs: multi-index hashing.

Pigeonhole: take m disjoint blocks of b bits of the hash; if two hashes differ in at most d bits,
one of the blocks differs in at most r = d // m bits. So per block a table (a counting sort of the
block's value) is probed, for every hash, at its block value XOR each of the sum(C(b, k), k <= r)
masks, and only the hashes found there are compared on all 64 bits. (m, b) are chosen per call
from a cost model (probes x expected bucket size plus table size): for a million hashes and d = 8
it takes three blocks of 21 bits, radius 2 (232 probes each). Everything is whole-array numpy, in
chunks of a few million candidates, so memory stays flat whatever the data (a bucket holding many
equal block values only costs time). Equal hashes are collapsed first: a thousand copies of one
picture are one value here, not half a million pairs. See benchmarks/near_groups.py.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np

__all__ = ["near_pairs", "popcount", "plan"]

CHUNK = 1 << 22  # candidates compared per numpy step (~100 MB of temporaries at most)
MAX_BITS = 22  # a block's table: 2**22 + 1 int64 = 32 MB


def popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[x.view(np.uint8).reshape(-1, 8)].sum(axis=1)


def plan(n: int, distance: int) -> tuple[int, int, int]:
    """-> (blocks m, bits per block b, radius r) with the least estimated work for n hashes."""
    best: tuple[float, int, int, int] | None = None
    for m in range(1, 9):
        for b in range(1, min(MAX_BITS, 64 // m) + 1):
            r = distance // m
            if r > b:
                continue
            probes = sum(comb(b, k) for k in range(r + 1))
            cost = m * ((1 << b) + probes * (n + n * n / (1 << b)))
            if best is None or cost < best[0]:
                best = (cost, m, b, r)
    assert best is not None
    return best[1], best[2], best[3]


def _masks(b: int, r: int) -> list[int]:
    return [sum(1 << i for i in bits) for k in range(r + 1) for bits in combinations(range(b), k)]


def near_pairs(values: np.ndarray, distance: int) -> np.ndarray:
    """All pairs (i, j), i < j, of *distinct* uint64 ``values`` at Hamming distance <= ``distance``,
    as an (k, 2) int64 array sorted by i then j. (Collapse equal values first: :func:`np.unique`.)"""
    values = np.ascontiguousarray(values, dtype=np.uint64)
    n = len(values)
    if n < 2 or distance < 1:
        return np.empty((0, 2), dtype=np.int64)
    distance = min(distance, 64)
    m, b, r = plan(n, distance)
    found = []
    for block in range(m):
        keys = ((values >> np.uint64(block * b)) & np.uint64((1 << b) - 1)).astype(np.int32)
        order = np.argsort(keys, kind="stable").astype(np.int32)
        counts = np.bincount(keys, minlength=1 << b).astype(np.int32)
        start = (np.cumsum(counts) - counts).astype(np.int32)
        for mask in _masks(b, r):
            found.extend(_probe(values, keys ^ np.int32(mask), start, counts, order, distance))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1)


def _probe(
    values: np.ndarray, wanted: np.ndarray, start: np.ndarray, counts: np.ndarray, order: np.ndarray, distance: int
) -> list[np.ndarray]:
    """Compare every hash i with the hashes whose block value is ``wanted[i]``; -> pair codes i*n+j.
    (int32 indices: half the memory traffic of int64, and a block table is under 2**31 long.)"""
    n = len(values)
    cnt = counts[wanted]
    asking = np.flatnonzero(cnt)  # most probes find nothing: drop them before any expansion
    cnt = cnt[asking].astype(np.int64)
    lo = start[wanted[asking]]
    ends = np.cumsum(cnt)
    out = []
    first = 0
    while first < len(asking):
        # the queries whose candidates fit in one chunk (at least one query)
        base = ends[first - 1] if first else 0
        last = max(int(np.searchsorted(ends, base + CHUNK, side="right")), first + 1)
        c = cnt[first:last]
        total = int(c.sum())
        qi = np.repeat(asking[first:last], c)
        within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
        j = order[np.repeat(lo[first:last], c) + within]
        keep = qi < j
        qi, j = qi[keep], j[keep]
        close = popcount(values[qi] ^ values[j]) <= distance
        if close.any():
            out.append(qi[close].astype(np.int64) * n + j[close])
        first = last
    return out
