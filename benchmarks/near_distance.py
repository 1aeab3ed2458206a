"""How far apart (Hamming distance of the 64-bit phash) are copies of one photo, views of one scene,
and unrelated photos? The measurement the default ``near_distance`` is chosen from.

Sample photos: ``toolkit._synth.photo`` at 1600x1200, seeds 0..N-1, saved as JPEG quality 90.
Every file goes the worker's way: written, read once, decoded with the JPEG draft a 128 px
thumbnail build uses (``load_image(draft_size=(128, 128))``), then ``pixel_facts``.

* copies (should be caught): resized to 50% and 25%; recompressed at JPEG quality 60; cropped by 2%
  and 5% (centred, of each side's length in all); cropped 5% from one corner only; all at once
  (crop 3%, resize 50%, quality 60);
* one scene (should mostly not be caught): ``_synth`` cannot photograph one scene twice, so two
  views of one wider photo stand in: windows of 80% of its width, panned by 1/16, 1/8 and 1/4 of a
  window (a second shot moved a little, a step to the side, a different framing); and the same view
  15% brighter with a little blur (an edited version; a copy in practice, counted with the copies);
* distinct: every pair of different seeds.

    python benchmarks/near_distance.py [--photos 60] [--radii 6,8,10,12]

Prints each group's distance histogram and percentiles, and for each radius of ``--radii`` the share of
each kind of copy caught (distance <= radius), of the views of one scene grouped, and of distinct pairs
wrongly grouped; writes it all to benchmarks/results/near-distance-<date>-<time>.json.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from toolkit import _synth  # noqa: E402
from toolkit._facts import hamming, pixel_facts  # noqa: E402
from toolkit._ops import image as iops  # noqa: E402

W, H = 1600, 1200


def facts_of(im: Image.Image, quality: int, tmp: Path) -> dict:
    """As a build finds it: a JPEG file, read once, decoded at the 128 px thumbnail's draft."""
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    path = tmp / "f.jpg"
    path.write_bytes(buf.getvalue())
    data = iops.read_source(str(path))
    loaded, _ = iops.load_image(str(path), max_pixels=10**9, draft_size=(128, 128), data=data)
    try:
        return pixel_facts(loaded)
    finally:
        loaded.close()


def crop(im: Image.Image, frac: float, corner: bool = False) -> Image.Image:
    dx, dy = round(im.width * frac), round(im.height * frac)
    return (
        im.crop((dx, dy, im.width, im.height)) if corner else im.crop((dx // 2, dy // 2, im.width - dx // 2, im.height - dy // 2))
    )


def half(im: Image.Image, f: float) -> Image.Image:
    return im.resize((round(im.width * f), round(im.height * f)), Image.Resampling.LANCZOS)


COPIES = {
    "resize-50%": lambda im: (half(im, 0.5), 90),
    "resize-25%": lambda im: (half(im, 0.25), 90),
    "jpeg-q60": lambda im: (im, 60),
    "crop-2%": lambda im: (crop(im, 0.02), 90),
    "crop-5%": lambda im: (crop(im, 0.05), 90),
    "crop-5%-corner": lambda im: (crop(im, 0.05, corner=True), 90),
    "crop3%+resize50%+q60": lambda im: (half(crop(im, 0.03), 0.5), 60),
}


def summary(ds: list[int]) -> dict:
    q = statistics.quantiles(ds, n=100, method="inclusive") if len(ds) > 1 else ds * 99
    return {
        "n": len(ds),
        "min": min(ds),
        "p1": q[0],
        "p5": q[4],
        "median": statistics.median(ds),
        "p95": q[94],
        "max": max(ds),
        "histogram": dict(sorted(Counter(ds).items())),
    }


SCENES = {"scene-pan-6%": 16, "scene-pan-12%": 8, "scene-pan-25%": 4}  # name -> window / pan step


def measure(photos: int) -> dict[str, list[int]]:
    """Every kind of pair's distances, over ``photos`` seeds."""
    tmp = Path(tempfile.mkdtemp(prefix="near-distance-"))
    groups: dict[str, list[int]] = {k: [] for k in [*COPIES, "edited", *SCENES]}
    originals = []
    for seed in range(photos):
        im = _synth.photo(W, H, seed)
        base = facts_of(im, 90, tmp)["phash"]
        originals.append(base)
        for name, make in COPIES.items():
            copy, q = make(im)
            groups[name].append(hamming(base, facts_of(copy, q, tmp)["phash"]))
        edited = ImageEnhance.Brightness(im).enhance(1.15).filter(ImageFilter.GaussianBlur(1.5))
        groups["edited"].append(hamming(base, facts_of(edited, 90, tmp)["phash"]))
        wide = _synth.photo(W * 5 // 4, H, seed)  # a wider photo: views 80% of its width, panned
        first = facts_of(wide.crop((0, 0, W, H)), 90, tmp)["phash"]
        for name, step in SCENES.items():
            x = W // step
            groups[name].append(hamming(first, facts_of(wide.crop((x, 0, x + W, H)), 90, tmp)["phash"]))
    groups["distinct"] = [hamming(a, b) for a, b in combinations(originals, 2)]
    return groups


def caught(ds: list[int], d: int) -> float:
    return round(sum(x <= d for x in ds) / len(ds), 4)


def by_radius(groups: dict[str, list[int]], d: int) -> dict:
    copies = [x for k in [*COPIES, "edited"] for x in groups[k]]
    return {
        "copies_caught": caught(copies, d),
        "copies_caught_by_kind": {k: caught(groups[k], d) for k in [*COPIES, "edited"]},
        "scene_views_grouped": {k: caught(groups[k], d) for k in SCENES},
        "distinct_grouped": caught(groups["distinct"], d),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--radii", default="6,8,10,12", help="near_distance values to report [6,8,10,12]")
    ap.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/*.json")
    args = ap.parse_args(argv)
    radii = [int(x) for x in args.radii.split(",")]
    groups = measure(args.photos)
    result = {
        "benchmark": "near_distance",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "photos": args.photos,
        "size": [W, H],
        "groups": {k: summary(v) for k, v in groups.items()},
        "by_distance": {d: by_radius(groups, d) for d in sorted({*range(0, 21, 2), *radii})},
    }
    kinds = [*COPIES, "edited"]
    print(f"{'pair':<22}{'n':>6}{'min':>5}{'median':>8}{'max':>5}  " + "".join(f"{'<=' + str(d):>7}" for d in radii))
    for k, ds in groups.items():
        share = "".join(f"{100 * caught(ds, d):6.1f}%" for d in radii)
        print(f"{k:<22}{len(ds):>6}{min(ds):>5}{statistics.median(ds):>8}{max(ds):>5}  {share}")
    copies = [x for k in kinds for x in groups[k]]
    print(f"{'all copies':<22}{len(copies):>6}{min(copies):>5}{statistics.median(copies):>8}{max(copies):>5}  ", end="")
    print("".join(f"{100 * caught(copies, d):6.1f}%" for d in radii))
    if not args.no_save:
        from thumbnails import save_result

        save_result("near-distance", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
