"""Re-curating a finished build (``toolkit.curate``) vs building it, and a rebuild that changes only curation.

Corpus: ``--files`` (10,000) photo-like JPEGs in 10 class folders, 640x480, 480x640 or 800x600 at quality 85
(the sample's class folders, ~50 KB each); every 20th file is a near copy of the file before it (halved,
quality 60), so dedupe has groups to find. Made once with a process pool into
``benchmarks/.cache/recurate-corpus-N/`` behind a versioned marker.

Each repeat, in a fresh output folder:

* ``build``    ``python -m toolkit build --op thumbnail --size 128 --labels folder --dedupe near
               --split train=0.8 --split val=0.1 --split test=0.1``, a process timed end to end (start-up and
               cluster start included, as a user waits for it);
* ``curate``   a process that imports the toolkit and calls ``toolkit.curate(OUT, splits=..., near_distance=...)``
               with other settings than the build's: timed end to end and the call alone; then a second
               call in the same process, back to the build's settings (what a notebook or the panel waits
               for once matplotlib and pyarrow are loaded), timed apart and not in the process's time;
* ``rebuild``  the build command again with only curation settings changed (other fractions, another
               ``near_distance``): every file is carried; ``summary.json`` must say ``"decoded": 0``.

``curate`` and ``rebuild`` alternate in order from one repeat to the next (after the build, which they
need). The machine's CPU seconds (``/proc/stat``) are read around every run. Reported: medians, min and max,
and the ratios build ÷ curate (process and call; target >= 20x) and build ÷ rebuild. Exit 1 if a build
did not decode every file, or a rebuild or a re-curation decoded any.

    python benchmarks/recurate.py                              # 10,000 files, 3 repeats
    python benchmarks/recurate.py --files 300 --repeats 2      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import thumbnails  # noqa: E402
from thumbnails import mib, run_timed, save_result  # noqa: E402  (process timing and machine CPU, as the thumbnail benchmark)

CACHE = HERE / ".cache"
CORPUS_VERSION = 1  # bump when the corpus recipe changes: it is then remade
CLASSES = [f"class_{k:02d}" for k in range(10)]
SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}
#: what each re-curation / rebuild changes to, in turn (never the settings already in place)
OTHER = [
    {"splits": {"train": 0.7, "val": 0.15, "test": 0.15}, "near_distance": 6},
    {"splits": {"train": 0.6, "val": 0.2, "test": 0.2}, "near_distance": 8},
]
CURATE = """
import json, sys, time
t0 = time.perf_counter()
import toolkit
t1 = time.perf_counter()
report = toolkit.curate(sys.argv[1], **json.loads(sys.argv[2]))
t2 = time.perf_counter()
summary = json.load(open(sys.argv[1] + "/summary.json"))
toolkit.curate(sys.argv[1], **json.loads(sys.argv[3]))  # a second re-curation in the same process (a notebook's, the panel's)
t3 = time.perf_counter()
decoded = max(summary["decoded"], json.load(open(sys.argv[1] + "/summary.json"))["decoded"])
print(json.dumps({"import_seconds": t1 - t0, "call_seconds": t2 - t1, "again_seconds": t3 - t2, "kept": report["kept"], "decoded": decoded}))
"""


def _make_one(args: tuple[int, str]) -> int:
    from PIL import Image

    from toolkit._synth import write_photo

    i, folder = args
    d = Path(folder) / CLASSES[i % len(CLASSES)]
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"img_{i:05d}.jpg"
    tmp = d / f".img_{i:05d}.tmp"
    if i % 20 == 19:  # a near copy of the file before it (same class folder: i - 1 is in class (i - 1) % 10)
        src = Path(folder) / CLASSES[(i - 1) % len(CLASSES)] / f"img_{i - 1:05d}.jpg"
        final = src.parent / f"img_{i:05d}_copy.jpg"
        tmp = src.parent / f".img_{i:05d}.tmp"
        w, h = [(640, 480), (480, 640), (800, 600)][(i - 1) % 3]
        from toolkit._synth import photo

        photo(w, h, seed=50_000 + i - 1).resize((w // 2, h // 2), Image.Resampling.LANCZOS).save(tmp, "JPEG", quality=60)
    else:
        w, h = [(640, 480), (480, 640), (800, 600)][i % 3]
        write_photo(tmp, w, h, seed=50_000 + i, fmt="JPEG", quality=85)
    os.replace(tmp, final)
    return final.stat().st_size


def corpus(n: int) -> Path:
    folder = CACHE / f"recurate-corpus-{n}"
    marker = folder.parent / f".{folder.name}.complete-v{CORPUS_VERSION}"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        print(f"making the corpus: {n} JPEGs in {folder} (once) ...", flush=True)
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            size = sum(pool.map(_make_one, [(i, str(folder)) for i in range(n)], chunksize=16))
        marker.write_text(json.dumps({"files": n, "bytes": size, "seconds": round(time.perf_counter() - t0, 1)}))
        print(f"  made {n} files, {mib(size):.0f} MiB, in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


def build_command(src: Path, out: Path, splits: dict[str, float], near: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "toolkit", "build", "--input", str(src), "--output", str(out)]
    cmd += ["--op", "thumbnail", "--size", "128", "--labels", "folder", "--dedupe", "near"]
    cmd += [f"--split={k}={v}" for k, v in splits.items()]
    if near is not None:
        cmd += ["--near-distance", str(near)]
    return cmd + ["--dashboard-address", "127.0.0.1:0", "--quiet"]


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=10_000, help="files in the build [10000]")
    ap.add_argument("--repeats", type=int, default=3, help="builds, each followed by a re-curation and a rebuild [3]")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/*.json")
    args = ap.parse_args(argv)
    src = corpus(args.files)
    files = [p for p in src.rglob("*.jpg")]
    for p in files:
        p.read_bytes()  # warm page cache
    work = CACHE / "runs" / f"recurate-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    load0 = os.getloadavg()
    print(f"corpus: {len(files)} files, {os.cpu_count()} CPUs, load average {load0[0]:.2f}; {args.repeats} repeats", flush=True)
    runs: dict[str, list[dict]] = {"build": [], "curate": [], "rebuild": []}
    bad: list[str] = []
    try:
        for r in range(args.repeats):
            out = work / f"out-{r}"
            seconds, rc, _, cpu = run_timed(build_command(src, out, SPLITS), work / f"build-{r}.log", args.timeout)
            s = summary_of(out)
            runs["build"].append(
                {
                    "seconds": round(seconds, 3),
                    "exit_code": rc,
                    "tree_cpu_seconds": thumbnails.LAST_TREE_CPU,
                    "machine_cpu_seconds": cpu,
                    "decoded": s["decoded"],
                }
            )
            if rc not in (0, 1) or s["decoded"] != len(files):
                bad.append(f"build {r}: exit {rc}, decoded {s['decoded']} of {len(files)}")
            print(f"  repeat {r + 1}  build    {seconds:8.2f} s  CPU {cpu} s  decoded {s['decoded']}", flush=True)
            order = ("curate", "rebuild") if r % 2 == 0 else ("rebuild", "curate")
            for k, name in enumerate(order):
                other = OTHER[(r + k) % len(OTHER)]
                log = work / f"{name}-{r}.log"
                if name == "curate":
                    back = {"splits": SPLITS, "near_distance": 8}  # the second call: back to the build's settings
                    cmd = [sys.executable, "-c", CURATE, str(out), json.dumps(other), json.dumps(back)]
                else:
                    cmd = build_command(src, out, other["splits"], other["near_distance"])
                seconds, rc, _, cpu = run_timed(cmd, log, args.timeout)
                row = {
                    "seconds": round(seconds, 3),
                    "exit_code": rc,
                    "tree_cpu_seconds": thumbnails.LAST_TREE_CPU,
                    "machine_cpu_seconds": cpu,
                }
                row["settings"] = other
                if name == "curate" and rc == 0:
                    row.update(json.loads(log.read_text().strip().splitlines()[-1]))
                    row["seconds"] = round(seconds - row["again_seconds"], 3)  # the process as for one call
                row["decoded"] = summary_of(out)["decoded"]
                if rc not in (0, 1) or row["decoded"] != 0:
                    bad.append(
                        f"{name} {r}: exit {rc}, decoded {row['decoded']}: " + " | ".join(log.read_text().splitlines()[-3:])
                    )
                runs[name].append(row)
                call = f" (the call {row['call_seconds']:.2f} s)" if "call_seconds" in row else ""
                print(f"  repeat {r + 1}  {name:<8} {seconds:8.2f} s{call}  CPU {cpu} s  decoded {row['decoded']}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = report(runs, len(files), args)
    result["load_average"] = {"before": load0, "after": os.getloadavg()}
    result["problems"] = bad
    if not args.no_save:
        save_result("recurate", result)
    for b in bad:
        print("!!", b)
    return 1 if bad else 0


def report(runs: dict[str, list[dict]], n: int, args) -> dict:
    med = {k: statistics.median(r["seconds"] for r in rows) for k, rows in runs.items()}
    call = statistics.median(r["call_seconds"] for r in runs["curate"] if "call_seconds" in r) if runs["curate"] else None
    print(f"\n{'':<10}{'median s':>10}{'min s':>9}{'max s':>9}")
    for k, rows in runs.items():
        secs = [r["seconds"] for r in rows]
        print(f"{k:<10}{med[k]:>10.2f}{min(secs):>9.2f}{max(secs):>9.2f}")
    ratios = {
        "build_per_curate_process": round(med["build"] / med["curate"], 1),
        "build_per_rebuild": round(med["build"] / med["rebuild"], 2),
    }
    if call:
        ratios["build_per_curate_call"] = round(med["build"] / call, 1)
        print(f"toolkit.curate call alone: median {call:.2f} s")
        again = statistics.median(r["again_seconds"] for r in runs["curate"] if "again_seconds" in r)
        ratios["build_per_curate_again"] = round(med["build"] / again, 1)
        print(f"a second toolkit.curate call in the same process: median {again:.2f} s")
    for key, what in (
        ("build_per_curate_call", "the call alone (Python, toolkit imported)"),
        ("build_per_curate_again", "a second call in the same process (matplotlib, pyarrow loaded)"),
        ("build_per_curate_process", "as a process (start-up and import included)"),
    ):
        if key in ratios:
            print(f"build / re-curation, {what}: {ratios[key]}x (target >= 20x: {'ok' if ratios[key] >= 20 else 'BELOW'})")
    print(f"build / rebuild with only curation changed: {ratios['build_per_rebuild']}x")
    return {
        "benchmark": "recurate",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": n,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "median_curate_call_seconds": call,
        "ratios": ratios,
        "runs": runs,
    }


if __name__ == "__main__":
    sys.exit(main())
