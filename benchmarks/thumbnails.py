"""Thumbnail benchmark: seed 000's loop and process pool vs ``dataprep build``, side by side in one run.

Corpus (generated once, cached in benchmarks/.cache/): photo-like JPEGs, quality 90 —
60% 1920x1080, 30% 4000x3000, 10% 6000x4000. Each contender runs as its own process (start-up
included), in rotating order, ``--repeats`` times; we print medians, images per second and the
toolkit's speed ratios (targets on 2 cores: >= 1.9x the loop, >= 1.0x the pool), the cluster
start time (included in the toolkit's figure, reported apart) and peak memory per worker.

    python benchmarks/thumbnails.py [--files 1000] [--repeats 3] [--skip-loop]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "thumbs-corpus"
RESULTS = HERE / "results"
SEED = HERE / "baselines" / "seed000.py"


def _size(i: int) -> tuple[int, int]:
    k = i % 10
    return (1920, 1080) if k < 6 else (4000, 3000) if k < 9 else (6000, 4000)


def _make(i: int) -> None:
    from toolkit.synth import write_photo

    w, h = _size(i)
    write_photo(CACHE / f"img{i:05d}.jpg", w, h, seed=i, quality=90)


def corpus(n: int) -> list[str]:
    marker = CACHE / f".complete-{n}"
    if not marker.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        missing = [i for i in range(n) if not (CACHE / f"img{i:05d}.jpg").exists()]
        t0 = time.perf_counter()
        with ProcessPoolExecutor() as pool:
            list(pool.map(_make, missing, chunksize=8))
        marker.touch()
        print(f"generated {len(missing)} images in {time.perf_counter() - t0:.0f} s")
    return [str(CACHE / f"img{i:05d}.jpg") for i in range(n)]


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-loop", action="store_true", help="leave out the (slow) single-process loop")
    args = ap.parse_args()
    files = corpus(args.files)
    with tempfile.TemporaryDirectory(prefix="bench-thumbs-") as tmp:
        src = Path(tmp) / "corpus"
        src.mkdir()
        for f in files:  # exactly the chosen files, by hard link (no copy)
            os.link(f, src / os.path.basename(f))
        mb = sum(os.path.getsize(f) for f in files) / 2**20
        print(f"corpus: {len(files)} JPEGs, {mb:.0f} MiB; {os.cpu_count()} CPUs; {args.repeats} repeats, rotating order")
        names = ["toolkit", "pool"] + ([] if args.skip_loop else ["loop"])
        times: dict[str, list[float]] = {n: [] for n in names}
        cluster, peaks = [], []
        for r in range(args.repeats):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                out = Path(tmp) / f"out-{name}-{r}"
                if name == "toolkit":
                    cmd = [sys.executable, "-m", "toolkit", "build", "--input", str(src), "--output", str(out),
                           "--op", "thumbnail", "--size", "128", "--format", "jpeg", "--quality", "75",
                           "--dashboard-address", "127.0.0.1:0", "--quiet"]
                else:
                    cmd = [sys.executable, str(SEED), name, str(src), str(out)]
                t = run(cmd)
                times[name].append(t)
                extra = ""
                if name == "toolkit":
                    summary = json.loads((out / "summary.json").read_text())
                    cluster.append(summary["cluster_seconds"])
                    peaks.append(max(summary["peaks"]["worker_rss"].values() or [0]))
                    extra = f"  (cluster start {summary['cluster_seconds']:.1f} s)"
                print(f"  repeat {r + 1}  {name:<8} {t:7.2f} s{extra}", flush=True)
                shutil.rmtree(out)
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"\n{'':<10}{'median s':>10}{'images/s':>10}")
    for n in names:
        print(f"{n:<10}{med[n]:>10.2f}{len(files) / med[n]:>10.1f}")
    result = {"files": len(files), "repeats": args.repeats, "medians": med, "runs": times,
              "cluster_start_median": statistics.median(cluster), "peak_worker_rss_mib": max(peaks) / 2**20}
    print(f"\ntoolkit vs pool: {med['pool'] / med['toolkit']:.2f}x  (target >= 1.0)")
    if "loop" in med:
        print(f"toolkit vs loop: {med['loop'] / med['toolkit']:.2f}x  (target >= 1.9)")
        result["ratio_vs_loop"] = med["loop"] / med["toolkit"]
    result["ratio_vs_pool"] = med["pool"] / med["toolkit"]
    print(f"toolkit cluster start (included above): median {result['cluster_start_median']:.2f} s; "
          f"peak worker memory {result['peak_worker_rss_mib']:.0f} MiB")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"thumbnails-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
