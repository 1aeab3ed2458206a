"""Baseline (b) of benchmarks/dataset.py: what a user writes with Hugging Face ``datasets``.

``load_dataset("imagefolder")`` over the class folders -> ``.map(resize to SIZE px, fill)`` on 2
processes -> ``train_test_split`` -> ``to_parquet`` per split. Its own cache folder (a fresh one
every run: a user's first build is cold).

    python hf_imagefolder.py SRC OUT CACHE [--size 224]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("cache")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--procs", type=int, default=2)
    a = ap.parse_args()
    import datasets
    from PIL import Image, ImageOps

    def resize(ex: dict) -> dict:
        im = ImageOps.fit(ex["image"].convert("RGB"), (a.size, a.size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
        return {"image": {"bytes": buf.getvalue(), "path": None}}

    ds = datasets.load_dataset("imagefolder", data_dir=a.src, cache_dir=a.cache, split="train")
    ds = ds.map(resize, num_proc=a.procs)
    parts = ds.train_test_split(test_size=0.2, seed=0, stratify_by_column="label")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.to_parquet(str(out / f"{name}.parquet"))
    print(sum(len(p) for p in parts.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
