"""Grouping near-duplicate perceptual hashes among 1,000,000: time and peak memory.

Synthetic 64-bit hashes: random background values plus planted groups (a centre and copies each
within ``--distance`` bits of it, so every planted group is one connected component). Runs the
toolkit's grouping (multi-index hashing, toolkit/_curate/_near.py) in this process and reports
wall time, peak RSS (``ru_maxrss``), and whether every planted group came out whole.

    python benchmarks/near_groups.py                         # 1,000,000 hashes, distance 8
    python benchmarks/near_groups.py --hashes 100000 --distance 10
    python benchmarks/near_groups.py --method bktree --hashes 20000   # the alternative, smaller
    python benchmarks/near_groups.py --distances 6,8,10,12   # each radius in a fresh process; a table and
                                                             # benchmarks/results/near-groups-<date>-<time>.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from toolkit._curate._groups import components, hash_groups  # noqa: E402
from toolkit._curate._near import plan, popcount  # noqa: E402


def synthetic(n: int, distance: int, group_share: float, group_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """-> (hashes, planted group id of each or -1), shuffled."""
    rng = np.random.default_rng(seed)
    groups = int(n * group_share) // group_size
    background = n - groups * group_size
    hashes = [rng.integers(0, 2**64, background, dtype=np.uint64, endpoint=False)]
    ids = [np.full(background, -1)]
    centres = rng.integers(0, 2**64, groups, dtype=np.uint64, endpoint=False)
    for k in range(group_size):
        flips = np.zeros(groups, dtype=np.uint64)
        if k:  # copy k: up to `distance` random bits flipped from its centre
            for _ in range(distance):
                flips |= np.uint64(1) << rng.integers(0, 64, groups, dtype=np.uint64)
        hashes.append(centres ^ flips)
        ids.append(np.arange(groups))
    order = rng.permutation(n)
    return np.concatenate(hashes)[order], np.concatenate(ids)[order]


def bktree_groups(values: np.ndarray, distance: int) -> np.ndarray:
    """The alternative: a BK-tree in pure Python (insert all, then one range query per hash)."""
    vals = [int(v) for v in values]
    root: list = [vals[0], {}]
    for v in vals[1:]:
        node = root
        while True:
            d = (v ^ node[0]).bit_count()
            child = node[1].get(d)
            if child is None:
                node[1][d] = [v, {}]
                break
            node = child
    index = {v: i for i, v in enumerate(vals)}
    edges = []
    for i, v in enumerate(vals):
        stack = [root]
        while stack:
            node = stack.pop()
            d = (v ^ node[0]).bit_count()
            if d <= distance and index[node[0]] > i:
                edges.append((i, index[node[0]]))
            stack.extend(c for k, c in node[1].items() if d - distance <= k <= d + distance)
    return components(len(vals), np.array(edges, dtype=np.int64).reshape(-1, 2))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--distance", type=int, default=8)
    ap.add_argument("--group-share", type=float, default=0.2, help="share of hashes in planted groups")
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", choices=["mih", "bktree"], default="mih")
    ap.add_argument("--distances", help="several radii, e.g. 6,8,10,12: each in a process of its own (its own peak RSS)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per radius with --distances [1800]")
    a = ap.parse_args()
    if a.distances:
        return several(a)
    hashes, planted = synthetic(a.hashes, a.distance, a.group_share, a.group_size, a.seed)
    texts = [f"{int(h):016x}" for h in hashes] if a.method == "mih" else None
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if a.method == "mih":
        labels = hash_groups([None] * len(hashes), texts, a.distance)  # type: ignore[arg-type]
    else:
        uniq, inverse = np.unique(hashes, return_inverse=True)
        labels = bktree_groups(uniq, a.distance)[inverse]
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    whole = all(len(set(labels[planted == g])) == 1 for g in range(min(2000, planted.max() + 1)))
    in_groups = int((np.bincount(labels, minlength=len(labels))[labels] > 1).sum())
    result = {
        "method": a.method,
        "hashes": a.hashes,
        "distance": a.distance,
        "plan_blocks_bits_radius": plan(len(np.unique(hashes)), a.distance) if a.method == "mih" else None,
        "planted_in_groups": int((planted >= 0).sum()),
        "found_in_groups": in_groups,
        "planted_groups_whole(first 2000)": whole,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak / 1024, 1),
        "rss_before_mib": round(rss0 / 1024, 1),
        "spurious_random_pairs_expected": None,
    }
    _ = popcount
    print(json.dumps(result, indent=2))
    return 0 if whole else 1


def several(a) -> int:
    """Run this script once per radius, each in a fresh process; print a table, save the results."""
    results = []
    for d in [int(x) for x in a.distances.split(",")]:
        cmd = [sys.executable, __file__, "--hashes", str(a.hashes), "--distance", str(d), "--seed", str(a.seed)]
        cmd += ["--group-share", str(a.group_share), "--group-size", str(a.group_size), "--method", a.method]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
            row = json.loads(done.stdout) if done.stdout.strip() else {"distance": d, "error": done.stderr[-500:]}
        except subprocess.TimeoutExpired:
            row = {"distance": d, "error": f"over {a.timeout:.0f} s: stopped"}
        row["process_seconds"] = round(time.perf_counter() - t0, 2)
        results.append(row)
        verdict = "" if "error" in row else ("  ok" if row["seconds"] < 60 and row["peak_rss_mib"] < 1024 else "  OVER TARGET")
        print(
            f"d={d:>2}: "
            + (
                row.get("error")
                or f"{row['seconds']:8.2f} s  peak RSS {row['peak_rss_mib']:7.1f} MiB  "
                f"plan {row['plan_blocks_bits_radius']}  groups whole {row['planted_groups_whole(first 2000)']}{verdict}"
            ),
            flush=True,
        )
    from thumbnails import save_result

    save_result(
        "near-groups",
        {"benchmark": "near_groups", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "hashes": a.hashes, "runs": results},
    )
    return 0 if all("error" not in r and r["planted_groups_whole(first 2000)"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
