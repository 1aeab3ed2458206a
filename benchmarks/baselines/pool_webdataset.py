"""Baseline (c) of benchmarks/dataset.py: a hand-written ``ProcessPoolExecutor`` + ``webdataset.ShardWriter``.

Each class folder's images resized to SIZE px (fill) in a process pool, written as WebDataset
samples (``jpg``, ``cls``) into shards of at most 1,000 samples, in the order the pool returns
them. It decodes JPEGs at a reduced scale (``draft``), as a careful script does; no labels file,
no splits, no dedupe, no checks.

    python pool_webdataset.py SRC OUT [--size 224]
"""

from __future__ import annotations

import argparse
import io
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SIZE = 224


def resize(path: str) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.draft("RGB", (SIZE, SIZE))  # JPEG's DCT scaling, as a careful script (and the toolkit) does
        out = ImageOps.fit(im.convert("RGB"), (SIZE, SIZE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main() -> int:
    global SIZE
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args()
    SIZE = a.size
    import webdataset as wds

    src = Path(a.src)
    classes = sorted(p.name for p in src.iterdir() if p.is_dir())
    files = [(str(f), i) for i, c in enumerate(classes) for f in sorted((src / c).iterdir())]
    Path(a.out).mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(os.cpu_count()) as pool, wds.ShardWriter(f"{a.out}/shard-%06d.tar", maxcount=1000) as sink:
        for (path, cls), data in zip(files, pool.map(resize, [f for f, _ in files], chunksize=4)):
            sink.write({"__key__": Path(path).stem + f"_{cls}", "jpg": data, "cls": cls})
    print(len(files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
