"""Before/after: the thumbnail, memory and video benchmarks for two versions of the toolkit, in one interleaved run.

    .venv/bin/python benchmarks/before_after.py --before REV [--after REV] [--repeats 3]
        [--only thumbnails,memory,video] [--thumbnails-args "--skip-loop"] [--memory-args ...] [--video-args ...]

``--before`` is checked out with ``git worktree add`` into a temporary folder; ``--after`` is the working tree
this script lives in (uncommitted changes included), or another revision checked out the same way.

Only the toolkit's code differs between the two sides: both run this interpreter (the project's virtual
environment: same Python, same packages), each with ``PYTHONPATH`` set to its own tree, so the ``toolkit``
imported by the benchmark script, by the ``python -m toolkit`` it starts and by its Dask workers (started
from a fork server or by spawn, both inherit the environment) is that tree's. Before any timing, a worker of
each side reports its ``toolkit.__file__``; a side whose workers import another tree stops the run.
Each side runs its OWN benchmark scripts (module names changed between versions: ``toolkit.synth`` then,
``toolkit._synth`` now), with ``--repeats 1``; the generated inputs are shared (the before tree's
``benchmarks/.cache`` is a link to the after tree's), so both sides read the same files.

Repeats alternate the order (before then after, after then before, ...). Reported: for every timed contender
the median of each side and after/before; for every benchmark's own ratio (toolkit vs its baseline, computed
from the medians as the scripts do) the same. A ratio of ratios near 1.00 means no change. The result goes to
``benchmarks/results/before-after-<date>-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
NUM = r"([0-9]+(?:\.[0-9]+)?)"  # a number, captured

# benchmark -> (its script's argv for one repeat, {ratio name: (baseline metric, toolkit metric)})
BENCHMARKS = {
    "thumbnails": (
        ["benchmarks/thumbnails.py", "--repeats", "1", "--no-save"],
        {
            "vs pool": ("pool", "toolkit"),
            "vs pool, CPU": ("pool CPU", "toolkit CPU"),
            "vs loop": ("loop", "toolkit"),
            "vs dask": ("dask", "toolkit"),
        },
    ),
    "memory": (["benchmarks/memory.py", "--repeats", "1"], {"vs count-based": ("count-based", "toolkit")}),
    "video": (
        ["benchmarks/video.py", "--repeat", "1"],
        {"frames vs hand": ("hand", "toolkit"), "seek vs decode all": ("decode-all", "seek")},
    ),
}

# what a worker of the cluster the toolkit starts imports as `toolkit` (both versions have toolkit.connect)
WORKER_CHECK = """
import json, toolkit
client = toolkit.connect(None, jobs=1, dashboard_address="127.0.0.1:0")
try:
    seen = client.run(lambda: __import__("toolkit").__file__)
finally:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()
print(json.dumps({"client": toolkit.__file__, "workers": sorted(set(seen.values()))}))
"""


def parse(bench: str, out: str) -> dict[str, float]:
    """The seconds (and CPU seconds, restarts, failures) a benchmark script printed for its one repeat."""
    m: dict[str, float] = {}
    if bench == "thumbnails":
        for name, secs, cpu in re.findall(rf"repeat 1\s+(\S+)\s+{NUM} s\s+[0-9.]+ img/s(?:\s+CPU\s+{NUM} s)?", out):
            m[name] = float(secs)
            if cpu:
                m[f"{name} CPU"] = float(cpu)
    elif bench == "memory":
        for name, secs, restarts, failed in re.findall(rf"run 1 (\S+)\s+{NUM} s\s+restarts\s+(\d+)\s+failed\s+(\d+)", out):
            m[name], m[f"{name} restarts"], m[f"{name} failed"] = float(secs), float(restarts), float(failed)
    elif bench == "video":
        if hit := re.search(rf"median: toolkit {NUM} s, by hand {NUM} s", out):
            m["toolkit"], m["hand"] = float(hit[1]), float(hit[2])
        if hit := re.search(rf"median: seek {NUM} s, decode all {NUM} s", out):
            m["seek"], m["decode-all"] = float(hit[1]), float(hit[2])
    return m


class Side:
    """One version of the toolkit: a tree, run with this interpreter and PYTHONPATH set to the tree."""

    def __init__(self, label: str, tree: Path, rev: str):
        self.label, self.tree, self.rev = label, tree, rev
        self.env = {**os.environ, "PYTHONPATH": str(tree)}

    def run(self, argv: list[str], log: Path, timeout: float) -> tuple[int, str]:
        with open(log, "w") as fh:
            proc = subprocess.run(
                [sys.executable, *argv], cwd=self.tree, env=self.env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout
            )
        return proc.returncode, log.read_text(errors="replace")

    def check_workers(self) -> dict:
        out = subprocess.run(
            [sys.executable, "-c", WORKER_CHECK], cwd=self.tree, env=self.env, capture_output=True, text=True, timeout=300
        )
        if out.returncode:
            raise SystemExit(f"{self.label}: the worker check failed:\n{out.stderr[-2000:]}")
        seen = json.loads(out.stdout.strip().splitlines()[-1])
        for f in [seen["client"], *seen["workers"]]:
            if not Path(f).resolve().is_relative_to(self.tree.resolve()):
                raise SystemExit(f"{self.label}: toolkit imported from {f}, not from {self.tree}")
        print(f"{self.label:<6} {self.rev}  toolkit in the client: {seen['client']}  in a worker: {', '.join(seen['workers'])}")
        return seen


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def checkout(rev: str, into: Path) -> Path:
    """``rev`` in a worktree of its own, its benchmark cache a link to ours (the same inputs for both sides)."""
    git("worktree", "add", "--detach", str(into), rev)
    (HERE / ".cache").mkdir(exist_ok=True)
    cache = into / "benchmarks" / ".cache"
    if not cache.exists():
        cache.symlink_to(HERE / ".cache", target_is_directory=True)
    return into


def summarise(runs: dict[str, dict[str, list[dict]]], sides: list[Side]) -> dict:
    """Medians per side, each benchmark's own ratios from those medians, and after/before of both."""
    table: dict = {}
    for bench, by_side in runs.items():
        med = {}
        for s in sides:
            rows = by_side[s.label]
            keys = dict.fromkeys(k for r in rows for k in r)  # in the order the script printed them
            med[s.label] = {k: statistics.median(r[k] for r in rows if k in r) for k in keys}
        ratios = {
            s.label: {
                name: round(med[s.label][base] / med[s.label][tk], 3)
                for name, (base, tk) in BENCHMARKS[bench][1].items()
                if med[s.label].get(base) and med[s.label].get(tk)
            }
            for s in sides
        }
        table[bench] = {"medians": med, "ratios": ratios}
        b, a = sides[0].label, sides[1].label
        print(f"\n{bench:<28}{b:>10}{a:>10}{'after/before':>14}")
        for kind, rows in (("s", med), ("ratio", ratios)):
            for key in rows[a]:
                x, y = rows[b].get(key), rows[a][key]
                change = f"{y / x:>14.3f}" if x else f"{'-':>14}"
                label = f"  {key} ({kind})" if kind == "ratio" else f"  {key}"
                shown = f"{x:>10.3f}" if x is not None else f"{'-':>10}"
                print(f"{label:<28}{shown}{y:>10.3f}{change}")
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="git revision of the version before (e.g. main, 04a989c)")
    ap.add_argument("--after", help="git revision of the version after [the working tree, as it is]")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of every benchmark for each side [3]")
    ap.add_argument("--only", default="thumbnails,memory,video", help="comma-separated benchmarks [all three]")
    for name in BENCHMARKS:
        ap.add_argument(f"--{name}-args", default="", help=f"extra arguments for {name}.py, e.g. sizes")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark run before it is killed [3600]")
    args = ap.parse_args(argv)
    chosen = [b for b in args.only.split(",") if b]
    if unknown := set(chosen) - set(BENCHMARKS):
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if sys.prefix == sys.base_prefix:
        print("warning: not run from a virtual environment; run it with the project's .venv/bin/python", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="before-after-"))
    made: list[Path] = []
    try:
        before_tree = checkout(args.before, tmp / "before")
        made.append(before_tree)
        if args.after:
            after_tree = checkout(args.after, tmp / "after")
            made.append(after_tree)
            after_rev = git("rev-parse", "--short", "HEAD", cwd=after_tree)
        else:
            after_tree = ROOT
            dirty = git("status", "--porcelain", "--untracked-files=no", "--", "toolkit")
            after_rev = git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")
        sides = [
            Side("before", before_tree, git("rev-parse", "--short", "HEAD", cwd=before_tree)),
            Side("after", after_tree, after_rev),
        ]
        checks = {s.label: s.check_workers() for s in sides}

        runs: dict[str, dict[str, list[dict]]] = {b: {s.label: [] for s in sides} for b in chosen}
        for r in range(args.repeats):
            order = sides if r % 2 == 0 else sides[::-1]
            for bench in chosen:
                for side in order:
                    script_argv = BENCHMARKS[bench][0] + shlex.split(getattr(args, f"{bench}_args"))
                    results = side.tree / "benchmarks" / "results"
                    before_files = set(results.glob("*.json"))
                    log = tmp / f"{bench}-{side.label}-{r + 1}.log"
                    t0 = time.perf_counter()
                    rc, out = side.run(script_argv, log, args.timeout)
                    for new in set(results.glob("*.json")) - before_files:  # memory.py always saves its own
                        new.unlink()
                    found = parse(bench, out)
                    runs[bench][side.label].append(found)
                    print(f"repeat {r + 1} {bench:<10} {side.label:<6} {time.perf_counter() - t0:6.1f} s  {found}", flush=True)
                    if rc or not found:
                        print(f"  !! exit {rc}; the log's end:\n    " + "\n    ".join(out.strip().splitlines()[-8:]), flush=True)
        table = summarise(runs, sides)
    finally:
        for tree in made:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
        print(f"logs of every run: {tmp}")

    result = {
        "benchmark": "before-after",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "revisions": {s.label: s.rev for s in sides},
        "toolkit_imported_from": checks,
        "python": platform.python_version(),
        "executable": sys.executable,
        "cpus": os.cpu_count(),
        "repeats": args.repeats,
        "extra_args": {b: getattr(args, f"{b}_args") for b in chosen},
        "results": table,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"before-after-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0 if all(r for by_side in runs.values() for rows in by_side.values() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
