"""Class folders with duplicates for the panel's curation tests (widgets and browser), generated and seeded."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from toolkit import _synth as synth


def class_folders(src: Path) -> None:
    """cat/ and dog/ of 6 photos each (320x240), an exact copy of cat0 (cat0-copy.jpg) and two
    smaller recompressed copies of dog1 (dog1-small.jpg 200x150, dog1-smaller.jpg 160x120)."""
    for label, seed in (("cat", 0), ("dog", 100)):
        for i in range(6):
            synth.write_photo(src / label / f"{label}{i}.jpg", 320, 240, seed + i)
    (src / "cat" / "cat0-copy.jpg").write_bytes((src / "cat" / "cat0.jpg").read_bytes())
    with Image.open(src / "dog" / "dog1.jpg") as im:
        im.resize((200, 150)).save(src / "dog" / "dog1-small.jpg", quality=70)
        im.resize((160, 120)).save(src / "dog" / "dog1-smaller.jpg", quality=60)
