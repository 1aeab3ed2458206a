"""Make the demo data set in datasets/sample/ when it is not there yet.

A few hundred photo-like JPEG/PNG/WebP images of mixed sizes up to 24 MP in nested folders,
some tricky ones (EXIF orientation, RGBA, 16-bit, CMYK, palette, ICC colour profiles, same stem side by side,
spaces and unicode in names), a few deliberately broken files and some junk; class folders for
curation (``pets/<class>/``, 24 photos each: captions and metadata sidecars, one invalid JSON and one
not UTF-8 on purpose, an exact and two near copies, a tiny, a panoramic, a blurred and a truncated
image); plus short videos when ``toolkit.synth_video`` is available. Deterministic: the same bytes every time.

    python datasets/make_sample.py [--out datasets/sample] [--force]

Completion is recorded by a marker *beside* the folder (``.sample.complete``), written last:
an interrupted generation has no marker and is redone. A folder this script did not make is
never deleted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit import _synth as synth, _synth_icc as synth_icc  # noqa: E402

VERSION = 5  # bump when the contents change: an older sample is then remade
FOLDERS = [
    "trips/2023/beach",
    "trips/2023/mountains",
    "trips/2024/city",
    "studio/portraits",
    "studio/products",
    "family",
    "scans/archive",
    "phone/DCIM/100APPLE",
]
EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
#: class folders under pets/ (labels = "folder" on pets/, or "parent" on the whole sample)
CLASSES = ("bird", "cat", "dog", "fish")
PER_CLASS = 24  # enough for a split of 0.8 / 0.1 / 0.1 to put a few of each class in val and test

# Junk that real folders carry; the headers are what the real files start with.
JUNK = {
    "trips/.DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(2040),
    "trips/2023/beach/._img_0000.jpg": b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(4000),
    "family/Thumbs.db": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088),
}


def _markers(out: Path) -> tuple[Path, Path]:
    """(complete, in-progress) markers, beside the folder so the toolkit never scans them."""
    return out.parent / f".{out.name}.complete", out.parent / f".{out.name}.generating"


def plan() -> list[tuple[str, int, int, str, int, int]]:
    """(relative path without extension, width, height, format, seed, quality), biggest first."""
    jobs = []
    seed = 1000
    for i in range(4):  # 24 MP
        jobs.append((f"scans/archive/huge_{i:02d}", 6000, 4000, "JPEG", seed, 85))
        seed += 1
    for i in range(12):  # 12 MP, one of them WebP
        jobs.append((f"trips/2024/city/large_{i:02d}", 4000, 3000, "WEBP" if i == 5 else "JPEG", seed, 85))
        seed += 1
    for i in range(60):  # 2-5 MP
        w, h = [(1920, 1080), (2048, 1536), (1080, 1920), (2592, 1944)][i % 4]
        jobs.append((f"{FOLDERS[(i + 3) % len(FOLDERS)]}/photo_{i:04d}", w, h, "JPEG", seed, 85))
        seed += 1
    for i in range(190):  # 0.3-1.2 MP; PNG stays small here (noise does not compress losslessly)
        w, h = [(640, 480), (800, 600), (1024, 768), (1280, 720), (960, 1280), (1200, 900)][i % 6]
        fmt = ["JPEG", "JPEG", "JPEG", "PNG", "WEBP"][i % 5]
        if fmt == "PNG":
            w, h = w * 3 // 4, h * 3 // 4
        jobs.append((f"{FOLDERS[i % len(FOLDERS)]}/img_{i:04d}", w, h, fmt, seed, 85))
        seed += 1
    for c, name in enumerate(CLASSES):  # the class folders' photos (0.3-0.5 MP); _pets adds the rest
        for i in range(PER_CLASS):
            w, h = [(640, 480), (480, 640), (800, 600)][i % 3]
            jobs.append((f"pets/{name}/{name}_{i:02d}", w, h, "JPEG", 3000 + 100 * c + i, 85))
    return jobs


def _one(job: tuple[str, int, int, str, int, int], out: str) -> int:
    rel, w, h, fmt, seed, quality = job
    return synth.write_photo(Path(out, rel + EXT[fmt]), w, h, seed, fmt=fmt, quality=quality).stat().st_size


def _specials(out: Path) -> None:
    t = out / "tricky"
    for o in (3, 6, 8):
        synth.write_with_exif_orientation(t / f"orientation_{o}.jpg", 800, 600, o, seed=o)
    synth.write_broken_exif_jpeg(t / "broken_exif.jpg", seed=9)
    synth.write_photo(t / "transparent.png", 500, 400, 11, fmt="PNG", mode="RGBA")
    synth.write_photo(t / "sixteen_bit.png", 600, 400, 12, fmt="PNG", mode="I;16")
    synth.write_photo(t / "cmyk.jpg", 640, 480, 13, mode="CMYK", quality=85)
    synth_icc.write_p3_photo(t / "display_p3.jpg", 640, 480, 22)
    synth_icc.write_cmyk_with_profile(t / "cmyk_profile.jpg", 640, 480, 23)
    synth_icc.write_garbage_profile_jpeg(t / "bad_icc_profile.jpg", 640, 480, 24)
    synth.write_photo(t / "palette.gif", 320, 240, 14, fmt="GIF", mode="P")
    synth.write_photo(t / "photo.jpg", 640, 480, 15)
    synth.write_photo(t / "photo.png", 480, 360, 16, fmt="PNG")
    synth.write_photo(t / "holiday photo (1).jpg", 640, 480, 17)
    synth.write_photo(t / "f\u00eate \u65e5\u672c.jpg", 640, 480, 18)
    synth.write_photo(t / "-starts-with-dash.jpg", 320, 240, 19)
    b = out / "broken"
    synth.write_truncated_jpeg(b / "truncated.jpg", seed=20)
    synth.write_garbage(b / "garbage.jpg", seed=21)
    synth.write_empty(b / "empty.jpg")
    synth.write_bomb_png(b / "bomb.png")
    synth.write_eps(b / "vector.eps")
    for rel, data in JUNK.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)


def _pets(out: Path) -> None:
    """Class folders with what curation is about: captions (``.txt``) and metadata (``.json``)
    beside some images, one ``.json`` that is not valid JSON and one ``.txt`` that is not UTF-8
    (warnings on their images' rows, the images still ok), an exact copy, a resized and recompressed
    near copy and a slightly cropped one (duplicates), a tiny image (``min_side``), a panorama
    (``max_aspect``), a blurred one (``min_sharpness``) and a truncated JPEG (failed, as in ``broken/``)."""
    from PIL import Image, ImageFilter

    p = out / "pets"
    for name in CLASSES:  # the photos themselves come from plan(), made in the process pool
        for i in range(3):  # captions for the first three of each class, metadata for the first two
            (p / name / f"{name}_{i:02d}.txt").write_text(f"a {name}, picture {i + 1} of the {name} folder\n", "utf-8")
        for i in range(2):
            meta = f'{{"class": "{name}", "photographer": "sample", "index": {i}}}\n'
            (p / name / f"{name}_{i:02d}.json").write_text(meta, "utf-8")
    (p / "dog" / "dog_01.json").write_text('{"class": "dog", "photographer": \n', "utf-8")  # cut short: invalid
    (p / "bird" / "bird_03.txt").write_bytes("un oiseau pr\u00e8s de la fen\u00eatre\n".encode("latin-1"))  # not UTF-8
    shutil.copyfile(p / "cat" / "cat_03.jpg", p / "cat" / "cat_03_copy.jpg")  # an exact copy (sorts after: not kept)
    with Image.open(p / "cat" / "cat_04.jpg") as im:  # a near copy: resized and recompressed
        im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS).save(p / "cat" / "cat_04_small.jpg", quality=60)
    with Image.open(p / "dog" / "dog_05.jpg") as im:  # a near copy: 2% cropped off each side, recompressed
        dx, dy = im.width // 50, im.height // 50
        im.crop((dx, dy, im.width - dx, im.height - dy)).save(p / "dog" / "dog_05_crop.jpg", quality=75)
    synth.write_photo(p / "bird" / "tiny.jpg", 48, 36, 3900, quality=85)  # too small for a min_side of 64
    synth.write_photo(p / "fish" / "panorama.jpg", 1500, 250, 3901, quality=85)  # aspect 6: over a max_aspect of 3
    blurry = synth.photo(640, 480, 3903).filter(ImageFilter.GaussianBlur(6))  # sharpness ~11: under a min_sharpness of 20
    blurry.save(p / "fish" / "fish_blurry.jpg", quality=85)
    synth.write_truncated_jpeg(p / "fish" / "fish_truncated.jpg", seed=3902)  # cut half-way: failed


def _videos(out: Path) -> int:
    try:
        from toolkit._synth_video import make_sample_videos
    except ImportError:
        return 0
    make_sample_videos(out)
    return sum(1 for p in (out / "videos").rglob("*") if p.is_file()) if (out / "videos").is_dir() else 0


def _is_current(out: Path) -> bool:
    done, _ = _markers(out)
    return out.is_dir() and done.is_file() and done.read_text().startswith(f"version {VERSION}\n")


def make(out: Path, force: bool = False) -> bool:
    """Make the sample in ``out`` unless a complete, current one is there. True if it made one."""
    out = out.resolve()
    done, generating = _markers(out)
    if _is_current(out) and not force:
        print(f"{out} is already there (--force makes it again)")
        return False
    if out.exists():
        ours = done.exists() or generating.exists() or not any(out.iterdir())
        if not ours:
            raise SystemExit(f"{out} exists and was not made by this script: not touching it")
        shutil.rmtree(out)
    done.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    generating.write_text("interrupted generation: rerun datasets/make_sample.py\n")
    out.mkdir()
    t0 = time.perf_counter()
    jobs = plan()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(_one, jobs, [str(out)] * len(jobs), chunksize=2))
    _specials(out)
    _pets(out)
    t_images = time.perf_counter() - t0
    n_videos = _videos(out)
    seconds = time.perf_counter() - t0
    done.write_text(f"version {VERSION}\nmade by datasets/make_sample.py in {seconds:.1f} s\n")
    generating.unlink()
    _report(out, len(jobs), n_videos, t_images, seconds)
    return True


def _report(out: Path, n_photos: int, n_videos: int, t_images: float, seconds: float) -> None:
    files = sorted(p for p in out.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    by_dir = Counter(str(p.parent.relative_to(out)) for p in files)
    by_ext = Counter(p.suffix.lower() or p.name for p in files)
    print(
        f"made {out}: {len(files)} files, {total / 2**20:.0f} MiB in {seconds:.1f} s "
        f"(images {t_images:.1f} s; {n_photos} photos, {n_videos} videos)"
    )
    for d, n in sorted(by_dir.items()):
        print(f"  {d + '/':<28} {n:4d} files")
    print("  by extension: " + ", ".join(f"{e} {n}" for e, n in sorted(by_ext.items())))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "sample"), help="[datasets/sample]")
    ap.add_argument("--force", action="store_true", help="make it again even if it is complete")
    args = ap.parse_args(argv)
    make(Path(args.out), args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
