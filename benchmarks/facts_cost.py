"""Extra CPU of the per-file facts (content hash, phash, sharpness) on the thumbnail benchmark's files.

The worker's own code, in this process (no cluster, so nothing but the file's work is counted: the
cluster's overhead would only make the share smaller): ``process_item`` with a 128 px JPEG
thumbnail (quality 75, as benchmarks/thumbnails.py asks the toolkit), over the thumbnail benchmark's
mix (60% 1920x1080, 30% 4000x3000, 10% 6000x4000 photo-like JPEGs at quality 90), CPU seconds of
this process (``time.process_time``) per pass over the corpus:

* ``with``     the worker as it is: the file read once into memory, its XXH3-128, decoded from those
               bytes, phash and sharpness from the decoded pixels;
* ``without``  the worker as it was before the facts: Pillow opens the path, no hash, no pixel facts
               (the three seams patched out).

Passes are interleaved (with, without, without, with, ...), the corpus is read once beforehand
(warm page cache). Reported: median CPU seconds per pass of each, and the ratio.

``--build``: the same comparison through the real thing, the thumbnail benchmark's toolkit command
(``python -m toolkit build --op thumbnail --size 128 --format jpeg --quality 75``, its own ``LocalCluster``)
on the thumbnail benchmark's files (benchmarks/thumbnails.py: same mix, same seeds, same bytes; linked
from its cache when it is there). Facts are switched off in every process of the ``without`` runs (the
CLI, the fork server and the workers forked from it) by a ``sitecustomize`` module on ``PYTHONPATH``
that patches the same three seams at interpreter start; the ``with`` runs import the same modules
there and patch nothing. Each ``without`` run's manifest must have no ``phash`` and each ``with`` run's
one on every row, else the run does not count. Interleaved (with, without, without, with, ...);
reported: the median wall seconds, CPU seconds of the build's own processes (rusage of this process's
children: it is their subreaper, so the fork server and the workers count too) and machine CPU seconds
(``/proc/stat``: everything running) of each, and their ratios. Target: the build's CPU with / without
<= 1.05.

    python benchmarks/facts_cost.py [--files 40] [--repeats 7]
    python benchmarks/facts_cost.py --build [--files 1000] [--repeats 6]     # the real build, on a quiet machine
    python benchmarks/facts_cost.py --build --files 30 --repeats 2             # a quick look
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
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import thumbnails  # noqa: E402  (the thumbnail benchmark: its mix, its command, its timing)

CORPUS = HERE / ".cache" / "facts-corpus"


def _make(i: int) -> None:
    from toolkit._synth import write_photo

    p = CORPUS / f"img{i:05d}.jpg"
    w, h = thumbnails.image_size(i)
    tmp = p.with_suffix(f".{os.getpid()}.tmp")
    write_photo(tmp, w, h, seed=i, fmt="JPEG", quality=90)  # as thumbnails.py makes its corpus: the same bytes
    tmp.replace(p)


def corpus(n: int) -> list[Path]:
    """The thumbnail benchmark's first ``n`` files: linked from its cache when it is complete, else made."""
    CORPUS.mkdir(parents=True, exist_ok=True)
    files = [CORPUS / f"img{i:05d}.jpg" for i in range(n)]
    theirs = any(thumbnails.CORPUS.glob(f".complete-v{thumbnails.CORPUS_VERSION}-*"))
    missing = []
    for i, p in enumerate(files):
        if p.exists():
            continue
        try:
            if not theirs:
                raise FileNotFoundError(p.name)
            os.link(thumbnails.CORPUS / p.name, p)
        except OSError:
            missing.append(i)
    if missing:
        print(f"making {len(missing)} files in {CORPUS} (once) ...", flush=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(_make, missing, chunksize=2))
    return files


@contextmanager
def without_facts():
    """The worker as before the facts: no read into memory (Pillow opens the path), no hash, no pixel facts."""
    import toolkit._worker as worker
    from toolkit._ops import image as iops

    saved = worker.content_hash, worker.pixel_facts, iops.read_source
    worker.content_hash, worker.pixel_facts, iops.read_source = (lambda data: None), (lambda im: {}), (lambda path: None)
    try:
        yield
    finally:
        worker.content_hash, worker.pixel_facts, iops.read_source = saved


def one_pass(items, job) -> float:
    from toolkit._worker import process_item

    t0 = time.process_time()
    for it in items:
        r = process_item(it, job)
        assert r.status == "ok", r
    return time.process_time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--build", action="store_true", help="through the real build (the CLI on its own cluster)")
    args = ap.parse_args(argv)
    if args.build:
        return through_build(args.files, args.repeats)
    from toolkit._media import MediaItem
    from toolkit._ops import OpSpec
    from toolkit._worker import JobSpec

    files = corpus(args.files)
    for p in files:
        p.read_bytes()  # warm page cache
    out = Path(tempfile.mkdtemp(prefix="facts-cost-"))
    op = OpSpec.make("thumbnail", size=128)
    job = JobSpec(ops=(op,), output=str(out), quality=75)
    items = [
        MediaItem(str(p), p.name, str(CORPUS), "image", "JPEG", p.stat().st_size, p.stat().st_mtime_ns, out_rel=p.stem)
        for p in files
    ]
    times: dict[str, list[float]] = {"with": [], "without": []}
    one_pass(items, job)  # warm-up: imports, caches
    for r in range(args.repeats):
        order = ("with", "without") if r % 2 == 0 else ("without", "with")
        for name in order:
            if name == "without":
                with without_facts():
                    times[name].append(one_pass(items, job))
            else:
                times[name].append(one_pass(items, job))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "files": len(files),
        "repeats": args.repeats,
        "median_cpu_s": med,
        "ms_per_file": {k: 1000 * v / len(files) for k, v in med.items()},
        "ratio": med["with"] / med["without"],
        "all_cpu_s": times,
    }
    print(json.dumps(result, indent=2))
    return 0


#: put first on PYTHONPATH for every process of a ``--build`` run: ``off`` patches the seams, ``on`` does
#: the same imports and nothing else (so both pay the same start-up)
SITECUSTOMIZE = """
import os
if os.environ.get("DATAPREP_BENCH_FACTS") in ("on", "off"):
    import toolkit._worker as _worker
    from toolkit._ops import image as _iops
    if os.environ["DATAPREP_BENCH_FACTS"] == "off":
        _worker.content_hash = lambda data: None
        _worker.pixel_facts = lambda im: {}
        _iops.read_source = lambda path: None
"""


def through_build(n: int, repeats: int) -> int:
    """Facts on and off through the real build, interleaved; -> exit status (1 if a run did not count)."""
    files = corpus(n)
    work = HERE / ".cache" / "runs" / f"facts-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    site = work / "site"
    site.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    src = work / "input"
    thumbnails._link_input(files, src)
    thumbnails._warm(files)
    env0 = {k: os.environ.get(k) for k in ("PYTHONPATH", "DATAPREP_BENCH_FACTS")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE.parent), *filter(None, [env0["PYTHONPATH"]])])
    load0 = os.getloadavg()
    print(f"{n} files, {os.cpu_count()} CPUs, load average {load0[0]:.2f}; {repeats} repeats of each, interleaved", flush=True)
    runs: dict[str, list[dict]] = {"with": [], "without": []}
    bad = []
    try:
        for r in range(repeats):
            for name in ("with", "without") if r % 2 == 0 else ("without", "with"):
                os.environ["DATAPREP_BENCH_FACTS"] = "on" if name == "with" else "off"
                out, log = work / f"out-{name}-{r}", work / f"{name}-{r}.log"
                seconds, rc, _, cpu = thumbnails.run_timed(thumbnails.command("toolkit", src, out), log, 1800)
                try:
                    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.strip()]
                except OSError:
                    rows = []
                hashed = sum(bool(row.get("phash")) for row in rows)
                counts = (name == "with" and hashed == n) or (name == "without" and hashed == 0 and len(rows) == n)
                if rc != 0 or not counts:
                    bad.append(f"{name} {r}: exit {rc}, {len(rows)} rows, {hashed} with a phash: " + log.read_text()[-300:])
                tree = thumbnails.LAST_TREE_CPU
                runs[name].append(
                    {
                        "seconds": round(seconds, 3),
                        "tree_cpu_seconds": tree,
                        "machine_cpu_seconds": cpu,
                        "exit_code": rc,
                        "phashes": hashed,
                    }
                )
                print(
                    f"  repeat {r + 1}  {name:<8} {seconds:7.2f} s  CPU {tree} s (machine {cpu} s)  rows with a phash {hashed}/{n}",
                    flush=True,
                )
                shutil.rmtree(out, ignore_errors=True)
    finally:
        for k, v in env0.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(x["seconds"] for x in v) for k, v in runs.items()}
    cpu = {
        k: statistics.median(x["machine_cpu_seconds"] for x in v if x["machine_cpu_seconds"] is not None) for k, v in runs.items()
    }
    tree = {k: statistics.median(x["tree_cpu_seconds"] for x in v) for k, v in runs.items()}
    result = {
        "benchmark": "facts_cost --build",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": n,
        "repeats": repeats,
        "cpus": os.cpu_count(),
        "median_seconds": med,
        "median_machine_cpu_seconds": cpu,
        "median_tree_cpu_seconds": tree,
        "ratio_tree_cpu": round(tree["with"] / tree["without"], 4),
        "ratio_wall": round(med["with"] / med["without"], 4),
        "ratio_cpu": round(cpu["with"] / cpu["without"], 4),
        "load_average": {"before": load0, "after": os.getloadavg()},
        "runs": runs,
        "problems": bad,
    }
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "median_seconds",
                    "median_tree_cpu_seconds",
                    "median_machine_cpu_seconds",
                    "ratio_wall",
                    "ratio_tree_cpu",
                    "ratio_cpu",
                )
            },
            indent=2,
        )
    )
    verdict = "ok" if result["ratio_tree_cpu"] <= 1.05 else "ABOVE TARGET"
    print(
        f"facts cost {100 * (result['ratio_tree_cpu'] - 1):+.1f}% CPU of the build's processes ({100 * (result['ratio_cpu'] - 1):+.1f}% machine CPU), {100 * (result['ratio_wall'] - 1):+.1f}% wall (target <= 5%: {verdict})"
    )
    thumbnails.save_result("facts-build", result)
    for b in bad:
        print("!!", b)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
