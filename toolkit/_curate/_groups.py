"""Duplicate groups: connected components over exact (same content hash) and near (phash) links.

Groups are transitive: if A is near B and B near C, A, B and C are one group even when A and C are
farther apart than ``near_distance``; that is what "never leak" needs (a chain of copies across a
split boundary is still a leak). Near links come from :func:`near_pairs` over the *distinct* phash
values, so a value shared by many files links them through the value, never through their pairs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._near import near_pairs

__all__ = ["components", "hash_groups", "parse_hex"]


def components(n: int, edges: np.ndarray) -> np.ndarray:
    """Component label (its smallest member) of each of ``n`` nodes joined by ``edges`` (k, 2)."""
    labels = np.arange(n, dtype=np.int64)
    if len(edges) == 0:
        return labels
    a, b = edges[:, 0], edges[:, 1]
    while True:  # min-label propagation with pointer jumping: O(log diameter) whole-array rounds
        low = np.minimum(labels[a], labels[b])
        before = labels.copy()
        np.minimum.at(labels, a, low)
        np.minimum.at(labels, b, low)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def parse_hex(value: object, bits: int) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        v = int(value, 16)
    except ValueError:
        return None
    return v if 0 <= v < (1 << bits) else None


def hash_groups(content: Sequence[object], phash: Sequence[object], distance: int | None) -> np.ndarray:
    """Group label of each item (its smallest index in the group; a lone item is its own).

    ``content``: hex content hashes (same text = exact copy); ``phash``: 16-hex-digit perceptual
    hashes; ``distance``: None for exact only, else the Hamming radius for near links. An item
    missing a hash (an older manifest, a failed row) just makes no link of that kind.
    """
    n = len(content)
    edges = [np.empty((0, 2), dtype=np.int64)]
    first: dict[str, int] = {}
    star = []
    for i, c in enumerate(content):
        if isinstance(c, str) and c:
            j = first.setdefault(c.lower(), i)
            if j != i:
                star.append((j, i))
    if star:
        edges.append(np.array(star, dtype=np.int64))
    if distance is not None:
        parsed = [(i, v) for i, p in enumerate(phash) if (v := parse_hex(p, 64)) is not None]
        idx = [i for i, _ in parsed]
        if idx:
            vals = np.array([v for _, v in parsed], dtype=np.uint64)
            uniq, inverse = np.unique(vals, return_inverse=True)
            where = np.array(idx, dtype=np.int64)
            # each item to the first item holding its value, then value-to-value near links
            rep = np.full(len(uniq), -1, dtype=np.int64)
            rep[inverse[::-1]] = where[::-1]
            edges.append(np.stack([rep[inverse], where], axis=1))
            pairs = near_pairs(uniq, distance)
            if len(pairs):
                edges.append(rep[pairs])
    return components(n, np.concatenate(edges))
