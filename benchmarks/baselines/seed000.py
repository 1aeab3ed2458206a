"""Seed 000's thumbnail code, as the baseline: its single-process loop, or its ProcessPoolExecutor version.

The seed writes ``<name>_thumbnail.jpg`` next to each input; to keep the corpus clean this writes
the same files into OUT instead. Nothing else changes: open, ``thumbnail((128, 128))``, save JPEG.

    python seed000.py loop|pool CORPUS OUT
"""

import concurrent.futures
import glob
import os
import sys

from PIL import Image


def make_image_thumbnail(filename, out_dir):
    base_filename, file_extension = os.path.splitext(os.path.basename(filename))
    thumbnail_filename = os.path.join(out_dir, f"{base_filename}_thumbnail{file_extension}")
    image = Image.open(filename)
    image.thumbnail(size=(128, 128))
    image.save(thumbnail_filename, "JPEG")
    return thumbnail_filename


def main(mode, corpus, out):
    os.makedirs(out, exist_ok=True)
    image_files = sorted(glob.glob(os.path.join(corpus, "*.jpg")))
    if mode == "loop":
        for image_file in image_files:
            make_image_thumbnail(image_file, out)
    else:
        with concurrent.futures.ProcessPoolExecutor() as executor:
            list(executor.map(make_image_thumbnail, image_files, [out] * len(image_files)))


if __name__ == "__main__":
    main(*sys.argv[1:4])
