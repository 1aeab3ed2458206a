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

    python benchmarks/facts_cost.py [--files 40] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from thumbnails import image_size  # noqa: E402  (the thumbnail benchmark's mix)

CORPUS = HERE / ".cache" / "facts-corpus"


def corpus(n: int) -> list[Path]:
    from toolkit._synth import write_photo

    CORPUS.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        p = CORPUS / f"img{i:05d}.jpg"
        if not p.exists():
            w, h = image_size(i)
            write_photo(p.with_suffix(".tmp"), w, h, seed=i, fmt="JPEG", quality=90)
            p.with_suffix(".tmp").replace(p)
        files.append(p)
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
    args = ap.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
