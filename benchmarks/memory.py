"""Memory benchmark: memory-sized batches vs count-based partitions, side by side in one run.

Corpus: photo-like JPEGs plus ~10% very large PNGs (50-100 MP; decoding one needs 150-300 MB).
Both sides make the same outputs (fit inside 1024 px, JPEG) on 2 workers x 768 MiB:

* toolkit:      ``toolkit.build(...)`` with its defaults (1 thread a worker, memory-sized batches,
                a large file alone).
* count-based:  what a user writes by hand: ``dask.bag.from_sequence(files, npartitions=8).map(f)``
                on ``LocalCluster(n_workers=2, memory_limit="768MiB")`` with Dask's laptop-style
                ``threads_per_worker=2`` (Dask's default on a 4-core machine), and the per-file
                function a user would write (open, convert to RGB, thumbnail, save).

Reported for both, interleaved and repeated: worker restarts, failed files, seconds (median).

    python benchmarks/memory.py [--repeats 3] [--limit 768MiB]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "memory-corpus"
RESULTS = HERE / "results"


def corpus(n_small: int, n_big: int) -> Path:
    marker = CACHE / f".done-{n_small}-{n_big}"
    if marker.exists():
        return CACHE
    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True)
    from toolkit._synth import write_big_png, write_photo

    for i in range(n_small):
        w, h = (1920, 1080) if i % 3 else (4000, 3000)
        write_photo(CACHE / f"photo{i:04d}.jpg", w, h, seed=i, quality=90)
    sides = [7100, 7700, 8200, 8700, 9100, 9500, 9800, 10000, 7400, 8000]  # 50-100 MP
    for j in range(n_big):
        s = sides[j % len(sides)]
        write_big_png(CACHE / f"scan{j:03d}.png", s, s, seed=j)
    marker.touch()
    return CACHE


def user_thumbnail(path: str, out_dir: str) -> str:
    """The per-file function a user writes for count-based partitions."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = 120_000_000
    im = Image.open(path).convert("RGB")
    im.thumbnail((1024, 1024))
    out = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".jpg")
    im.save(out, "JPEG", quality=85)
    return out


class RestartCounter(threading.Thread):
    def __init__(self, client):
        super().__init__(daemon=True)
        self.client, self.restarts, self._halt = client, 0, threading.Event()

    def run(self) -> None:
        known = set(self.client.scheduler_info()["workers"])
        while not self._halt.wait(0.2):
            try:
                now = set(self.client.scheduler_info()["workers"])
            except Exception:  # noqa: BLE001
                continue
            self.restarts += len(known - now)
            known = now

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.restarts


def run_count_based(files: list[str], limit: str, out: Path) -> dict:
    import dask.bag as db
    from distributed import Client, LocalCluster

    out.mkdir(parents=True)
    cluster = LocalCluster(n_workers=2, threads_per_worker=2, memory_limit=limit, dashboard_address=":0", silence_logs=50)
    client = Client(cluster)
    counter = RestartCounter(client)
    counter.start()
    t0 = time.perf_counter()
    error = None
    done = 0
    try:
        bag = db.from_sequence(files, npartitions=8).map(user_thumbnail, str(out))
        done = len(bag.compute())
    except Exception as exc:  # noqa: BLE001 - KilledWorker ends the whole compute
        error = f"{type(exc).__name__}: {str(exc)[:120]}"
    seconds = time.perf_counter() - t0
    restarts = counter.stop()
    client.close()
    cluster.close()
    written = len(list(out.glob("*.jpg")))
    return {"seconds": seconds, "restarts": restarts, "failed": len(files) - written, "error": error, "done": done}


def run_toolkit(src: Path, limit: str, out: Path) -> dict:
    import toolkit

    t0 = time.perf_counter()
    report = toolkit.build(
        inputs=[str(src)],
        output=str(out),
        op="thumbnail",
        size=1024,
        jobs=2,
        memory_limit=limit,
        max_pixels=120_000_000,
        dashboard_address="127.0.0.1:0",
        progress=False,
    )
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "restarts": report.worker_restarts,
        "failed": report.failed,
        "error": None,
        "done": report.ok,
        "peak_worker_rss_mib": {k: round(v / 2**20) for k, v in report.peaks.get("worker_rss", {}).items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", default="768MiB")
    ap.add_argument("--small", type=int, default=90)
    ap.add_argument("--big", type=int, default=10)
    args = ap.parse_args()
    src = corpus(args.small, args.big)
    files = sorted(str(p) for p in src.iterdir() if p.suffix in (".jpg", ".png"))
    print(
        f"corpus: {len(files)} files ({args.big} of 50-100 MP), {sum(os.path.getsize(f) for f in files) / 2**20:.0f} MiB; "
        f"2 workers x {args.limit}; {args.repeats} repeats, interleaved"
    )
    results: dict[str, list[dict]] = {"toolkit": [], "count-based": []}
    for r in range(args.repeats):
        for name in ("toolkit", "count-based") if r % 2 == 0 else ("count-based", "toolkit"):
            with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
                res = (
                    run_toolkit(src, args.limit, Path(tmp) / "out")
                    if name == "toolkit"
                    else run_count_based(files, args.limit, Path(tmp) / "out")
                )
            results[name].append(res)
            print(
                f"  run {r + 1} {name:<12} {res['seconds']:7.1f} s  restarts {res['restarts']:>2}  failed {res['failed']:>3}"
                + (f"  ({res['error']})" if res["error"] else ""),
                flush=True,
            )
    print()
    print(f"{'':<13}{'median s':>10}{'restarts':>10}{'failed files':>14}")
    summary = {}
    for name, runs in results.items():
        med = statistics.median(x["seconds"] for x in runs)
        rs = statistics.median(x["restarts"] for x in runs)
        fl = statistics.median(x["failed"] for x in runs)
        summary[name] = {"median_seconds": med, "median_restarts": rs, "median_failed": fl, "runs": runs}
        print(f"{name:<13}{med:>10.1f}{rs:>10.0f}{fl:>14.0f}")
    tk, cb = summary["toolkit"], summary["count-based"]
    ok = tk["median_restarts"] == 0 and tk["median_failed"] == 0 and cb["median_restarts"] > 0
    print(f"\ntarget (toolkit: no restart, no failed good file; count-based restarts workers): {'MET' if ok else 'NOT MET'}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
