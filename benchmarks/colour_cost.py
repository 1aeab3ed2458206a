"""What colour management costs per file: the toolkit's own load -> thumbnail -> encode path on the
same photos untagged, tagged sRGB and tagged Display P3 (the only one that is converted).

Per file and variant, the median of interleaved repeats (the variant order rotates); reported:
the median over files, in ms. JPEGs are decoded at their draft scale, so their conversion is of a
reduced image; PNGs are converted at full size. Not part of ``make bench``.

    python benchmarks/colour_cost.py [--files 200] [--size 4000x3000] [--repeats 3] [--png 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import ImageCms  # noqa: E402

from toolkit import _synth as synth, _synth_icc as synth_icc  # noqa: E402
from toolkit._ops import OpSpec  # noqa: E402
from toolkit._ops import image as iops  # noqa: E402

VARIANTS = ("untagged", "srgb", "p3")
OP = OpSpec.make("thumbnail", size=128)


def _profiles() -> dict[str, bytes]:
    return {
        "untagged": b"",
        "srgb": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        "p3": synth_icc.rgb_profile(synth_icc.DISPLAY_P3, v4=True),
    }


def _make(args: tuple[str, int, int, int, str]) -> None:
    folder, seed, w, h, ext = args
    im = synth.photo(w, h, seed)
    for name, icc in _profiles().items():
        kw = {"quality": 90} if ext == "jpg" else {"compress_level": 1}
        synth_icc.write_tagged(Path(folder, f"{name}-{seed:04d}.{ext}"), im, icc, **kw)


def _once(path: str) -> float:
    t0 = time.perf_counter()
    im, _ = iops.load_image(path, max_pixels=10**9, draft_size=iops.draft_hint(OP))
    iops.encode(iops.render(im, OP), "jpeg", 75)
    im.close()
    return time.perf_counter() - t0


def measure(folder: Path, n: int, ext: str, repeats: int) -> dict[str, float]:
    times: dict[tuple[str, int], list[float]] = {}
    for r in range(repeats):
        for i in range(n):
            order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
            for v in order:
                times.setdefault((v, i), []).append(_once(str(folder / f"{v}-{i:04d}.{ext}")))
    return {v: statistics.median(statistics.median(times[(v, i)]) for i in range(n)) * 1000 for v in VARIANTS}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--png", type=int, default=20, help="also this many 1920x1080 PNGs (full-size conversion)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="colour-cost-") as tmp:
        jobs = [(tmp, i, w, h, "jpg") for i in range(args.files)] + [(tmp, i, 1920, 1080, "png") for i in range(args.png)]
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_make, jobs, chunksize=4))
        for ext, n, size in (("jpg", args.files, f"{w}x{h}"), ("png", args.png, "1920x1080")):
            if n:
                ms = measure(Path(tmp), n, ext, args.repeats)
                print(
                    f"{n} {size} {ext.upper()}s, thumbnail 128, median ms per file: "
                    + ", ".join(f"{v} {ms[v]:.1f}" for v in VARIANTS)
                    + f"  (P3 vs untagged: {ms['p3'] / ms['untagged']:.2f}x)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
