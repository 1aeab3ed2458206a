"""Dataset benchmark: ``dataprep build --recipe classifier`` vs what users pick instead, side by side.

Corpus: the thumbnail benchmark's photo-like JPEGs (60% 1080p, 30% 12 MP, 10% 24 MP), the first N
hard-linked into two class folders (even -> ``a``, odd -> ``b``), made once and cached.

Contenders, each its own process, timed end to end (benchmarks/thumbnails.py ``run_timed``: wall
time, peak RSS of the largest process, machine CPU seconds), interleaved (the order rotates every
repeat), the corpus read once beforehand (warm page cache for all), a fresh output every run:

* ``toolkit``: ``dataprep build --recipe classifier`` (224 px fill, labels, filters, near dedupe,
  80/10/10 splits, webdataset + imagefolder + parquet, card, manifest.parquet);
* ``hf``: benchmarks/baselines/hf_imagefolder.py (``load_dataset("imagefolder")`` -> ``.map`` on 2
  processes -> ``train_test_split`` -> ``to_parquet``), with a fresh HF cache every run;
* ``pool``: benchmarks/baselines/pool_webdataset.py (``ProcessPoolExecutor`` + ``ShardWriter``).

Targets at 400 photos (issue 16): toolkit >= 2.5x hf and >= 0.9x pool. Results go to
benchmarks/results/dataset-<date>-<time>.json.

    python benchmarks/dataset.py [--files 400] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import thumbnails as tb  # noqa: E402  (the corpus, run_timed, _warm)

TARGETS = {"hf": 2.5, "pool": 0.9}
PY = sys.executable


def classes(n: int) -> Path:
    files = tb.corpus(n)
    dest = tb.CACHE / f"dataset-corpus-{n}"
    marker = dest / ".complete"
    if not marker.exists():
        shutil.rmtree(dest, ignore_errors=True)
        for i, f in enumerate(files):
            (dest / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
            os.link(f, dest / "ab"[i % 2] / f.name)
        marker.write_text(str(n))
    return dest


def command(name: str, src: Path, out: Path, scratch: Path) -> list[str]:
    if name == "toolkit":
        dataprep = str(Path(PY).parent / "dataprep")
        return [dataprep, "build", "--recipe", "classifier", "--input", str(src), "--output", str(out), "--quiet"]
    if name == "hf":
        return [PY, str(HERE / "baselines" / "hf_imagefolder.py"), str(src), str(out), str(scratch / "hf-cache")]
    return [PY, str(HERE / "baselines" / "pool_webdataset.py"), str(src), str(out)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=["toolkit", "hf", "pool"])
    a = ap.parse_args(argv)
    src = classes(a.files)
    tb._warm(sorted(src.rglob("*.jpg")))
    runs: dict[str, list[dict]] = {n: [] for n in a.only}
    for rep in range(a.repeats):
        order = a.only[rep % len(a.only) :] + a.only[: rep % len(a.only)]
        for name in order:
            with tempfile.TemporaryDirectory(dir=tb.CACHE) as scratch:
                out = Path(scratch) / "out"
                secs, code, rss, cpu = tb.run_timed(command(name, src, out, Path(scratch)), Path(scratch) / "log", 1800)
                if code not in (0, 1):
                    print((Path(scratch) / "log").read_text()[-3000:])
                    raise SystemExit(f"{name} exited {code}")
                runs[name].append({"seconds": secs, "peak_rss": rss, "cpu": cpu})
                print(f"  {name:8} {secs:7.2f} s  peak {rss / 2**20:6.0f} MiB  cpu {cpu}", flush=True)
    med = {n: statistics.median(r["seconds"] for r in rs) for n, rs in runs.items()}
    result = {
        "files": a.files,
        "repeats": a.repeats,
        "median_seconds": med,
        "peak_rss_mib": {n: max(r["peak_rss"] for r in rs) / 2**20 for n, rs in runs.items()},
        "runs": runs,
    }
    if "toolkit" in med:
        result["ratios"] = {n: med[n] / med["toolkit"] for n in med if n != "toolkit"}
        for n, r in result["ratios"].items():
            print(f"toolkit is {r:.2f}x as fast as {n} (target >= {TARGETS[n]}x)")
    tb.RESULTS.mkdir(exist_ok=True)
    path = tb.RESULTS / f"dataset-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
