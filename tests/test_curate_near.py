"""Near-duplicate search and grouping give exactly what comparing every pair would (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from toolkit._curate._groups import components, hash_groups
from toolkit._curate._near import near_pairs, plan

u64 = st.integers(min_value=0, max_value=2**64 - 1)


def brute_pairs(values: list[int], d: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(values)) for j in range(i + 1, len(values)) if (values[i] ^ values[j]).bit_count() <= d]


@st.composite
def clustered(draw):
    """Distinct hashes, many of them a few bits from another (so near pairs exist to find)."""
    base = draw(st.lists(u64, min_size=1, max_size=12))
    out = list(base)
    for b in base:
        for flips in draw(st.lists(st.lists(st.integers(0, 63), max_size=12), max_size=4)):
            v = b
            for bit in flips:
                v ^= 1 << bit
            out.append(v)
    return sorted(set(out))


@settings(max_examples=150, deadline=None)
@given(clustered(), st.integers(0, 20))
def test_near_pairs_are_exactly_the_pairs_within_the_distance(values, d):
    got = near_pairs(np.array(values, dtype=np.uint64), d).tolist()
    assert [tuple(p) for p in got] == brute_pairs(values, d)


def test_the_plan_for_a_million_hashes_probes_few_masks_in_small_tables():
    m, b, r = plan(1_000_000, 8)
    assert (m, b, r) == (3, 21, 2)  # the pigeonhole holds: 8 // 3 = 2 bits in some block


def union_find(n: int, edges: list[tuple[int, int]]) -> list[int]:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return [min(i for i in range(n) if find(i) == find(x)) for x in range(n)]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 30).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)))))
)
def test_components_join_transitively(case):
    n, edges = case
    got = components(n, np.array(edges, dtype=np.int64).reshape(-1, 2)).tolist()
    assert got == union_find(n, edges)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 40))), max_size=25), st.integers(0, 6))
def test_groups_join_same_content_and_near_phash_and_nothing_else(items, d):
    content = [f"{c:032x}" for c, _ in items]
    phash = [None if p is None else f"{p:016x}" for _, p in items]
    got = hash_groups(content, phash, d).tolist()
    edges = [
        (i, j)
        for i in range(len(items))
        for j in range(i + 1, len(items))
        if items[i][0] == items[j][0] or (None not in (items[i][1], items[j][1]) and (items[i][1] ^ items[j][1]).bit_count() <= d)
    ]
    assert got == union_find(len(items), edges)
    exact = hash_groups(content, phash, None).tolist()
    assert exact == union_find(len(items), [(i, j) for i, j in edges if items[i][0] == items[j][0]])


def test_a_chain_of_near_copies_is_one_group_even_where_its_ends_are_far_apart():
    chain = [0, 0b1111, 0b11111111, 0b111111111111]  # 4 bits apart each step, 12 end to end
    labels = hash_groups([None] * 4, [f"{v:016x}" for v in chain], 4).tolist()
    assert labels == [0, 0, 0, 0]


def test_a_missing_or_malformed_hash_links_nothing():
    labels = hash_groups([None, "", None], ["zz", None, "1" + "0" * 16], 8).tolist()
    assert labels == [0, 1, 2]
