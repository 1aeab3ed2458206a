"""Scale benchmark (issue 17): scan, plan, build and resume at 20k and 100k tiny files (1M on request).

Corpus: 32x32 JPEGs (each its own bytes: a seeded colour and a few seeded pixels), 1,000 a folder,
made once and cached under ``--cache`` (default ``benchmarks/.cache/scale``) behind a marker naming
the count and a version; 1M is only made when asked for (``--sizes 1000000``, several GB of inodes).

For each size, every step is its own ``dataprep`` process, timed end to end (wall) with its peak
resident size (``ru_maxrss`` of the waited child; the local scheduler runs inside it, the workers
are other processes and not counted):

* ``scan``    ``dataprep scan --input C --json``
* ``plan``    ``dataprep plan --input C --output O --op thumbnail --size 16`` (the dry run)
* ``build``   ``dataprep build ... --op thumbnail --size 16`` into a fresh output folder
* ``resume``  the same command again, nothing to do
* ``verify``  the same with ``--verify`` (every output checked)

Repeats are interleaved (scan, plan, build, resume, verify, then again), medians reported with the
ratio build / resume (target >= 20x at 100k). ``--baseline DIR`` runs another checkout of the
project too (e.g. ``git archive <commit> | tar -x -C DIR``; started with DIR as its working folder,
so ``python -m toolkit`` is DIR's), each step of the two one after the other, into outputs of their
own: the before/after of a change on the same files at the same moment. The machine may be shared:
say so with the figures.
Results go to ``benchmarks/results/scale-<date>-<time>.json``.

    python benchmarks/scale.py [--sizes 20000,100000] [--repeats 2] [--cache DIR] [--steps scan,plan,build,resume,verify]
                               [--baseline DIR] [--keep]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
VERSION = 1  # bump when the corpus changes: it is then remade
PER_FOLDER = 1000
STEPS = ("scan", "plan", "build", "resume", "verify")
DATAPREP = [sys.executable, "-m", "toolkit"]


def make_corpus(cache: Path, n: int) -> Path:
    """``n`` tiny JPEGs in folders of 1,000 under ``cache/tiny-<n>``, made once."""
    from PIL import Image

    where = cache / f"tiny-{n}"
    marker = cache / f"tiny-{n}.made"  # beside the folder: a file in it would be scanned
    if marker.exists() and marker.read_text() == f"{VERSION} {n}":
        return where
    shutil.rmtree(where, ignore_errors=True)
    marker.unlink(missing_ok=True)
    rng = random.Random(17)
    t0 = time.perf_counter()
    for i in range(n):
        folder = where / f"d{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        if i % 10_000 == 0:
            print(f"making tiny JPEGs: {i}/{n}", flush=True)
        im = Image.new("RGB", (32, 32), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        for _ in range(4):
            im.putpixel((rng.randrange(32), rng.randrange(32)), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        (folder / f"f{i:07d}.jpg").write_bytes(buf.getvalue())
    marker.write_text(f"{VERSION} {n}")
    print(f"made {n} tiny JPEGs in {time.perf_counter() - t0:.0f} s under {where}", flush=True)
    return where


def timed(argv: list[str], cwd: Path = ROOT) -> tuple[float, float, int]:
    """(wall seconds, peak RSS of the process in MiB, exit status)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 1):
        print(err[-2000:], file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def step_argv(step: str, corpus: Path, out: Path) -> list[str]:
    if step == "scan":
        return [*DATAPREP, "scan", str(corpus), "--json"]
    common = ["--input", str(corpus), "--output", str(out), "--op", "thumbnail", "--size", "16"]
    if step == "plan":
        return [*DATAPREP, "plan", *common]
    extra = ["--verify"] if step == "verify" else []
    return [*DATAPREP, "build", *common, "--quiet", *extra]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20000,100000", help="file counts, comma-separated (1000000 on request)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=HERE / ".cache" / "scale", help="where the corpora are made once and kept")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--baseline", type=Path, help="another checkout to run the same steps with, interleaved")
    ap.add_argument("--keep", action="store_true", help="keep the output folders (for profiling)")
    args = ap.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    sizes = [int(s) for s in args.sizes.split(",")]
    sides = {"this": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    results: dict[str, dict] = {}
    for n in sizes:
        corpus = make_corpus(args.cache, n)
        runs: dict[str, dict[str, list[tuple[float, float, int]]]] = {side: {s: [] for s in steps} for side in sides}
        for rep in range(args.repeats):
            for step in steps:
                for side, where in sides.items() if rep % 2 == 0 else reversed(sides.items()):
                    out = args.cache / f"out-{n}-{side}"
                    if step == "build":
                        shutil.rmtree(out, ignore_errors=True)
                    res = timed(step_argv(step, corpus, out), cwd=where)
                    runs[side][step].append(res)
                    print(f"{n:>8} {side:<8} {step:<7} rep {rep}: {res[0]:7.2f} s  {res[1]:7.0f} MiB  exit {res[2]}", flush=True)
        med: dict[str, dict] = {}
        for side, by_step in runs.items():
            m: dict = {
                s: {"seconds": statistics.median(r[0] for r in v), "peak_rss_mib": max(r[1] for r in v)}
                for s, v in by_step.items()
            }
            if "build" in m and "resume" in m:
                m["resume_speedup"] = round(m["build"]["seconds"] / m["resume"]["seconds"], 1)
            med[side] = m
        results[str(n)] = {"median": med, "runs": runs}
        print(json.dumps({n: med}, indent=1), flush=True)
        if not args.keep:
            for side in sides:
                shutil.rmtree(args.cache / f"out-{n}-{side}", ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    dest = RESULTS / time.strftime("scale-%Y%m%d-%H%M%S.json")
    dest.write_text(json.dumps({"cpus": os.cpu_count(), "load": os.getloadavg(), "results": results}, indent=1))
    print(f"results: {dest}")


if __name__ == "__main__":
    main()
