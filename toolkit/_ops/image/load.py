"""Decoding the first frame of an image safely: allowed formats only, decompression bombs refused
from the header (before any pixel is decoded), truncation only when allowed, upright and in sRGB.

Pillow keeps two safety switches in module globals (``Image.MAX_IMAGE_PIXELS`` and
``ImageFile.LOAD_TRUNCATED_IMAGES``). We set them per call through :class:`_Gate`, which lets
any number of threads decode at once when they need the same values and makes a thread that
needs different values wait until the others are done; the originals are restored whenever
the gate empties, so nothing leaks between calls or into the user's own Pillow code.
"""

from __future__ import annotations

import io
import threading
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from PIL import Image, ImageFile

from ..._fs import path_text
from ..._media import Problem
from ..._store import StoreError, is_url
from ..._store._read import read_object
from .. import FileProblem, check_file, colour
from .. import orientation as orient
from .errors import _BOMB_FIX, _bomb, _check_size, _is_truncation, classify
from .formats import _JPEG, _formats_for
from ..orientation import swap


class _Gate:
    """Holds Pillow's global safety settings at the values the threads inside need.

    Threads needing the same settings share the gate; a thread needing other settings waits
    until it is empty (and, while it waits, no new thread is let in, so it cannot starve).
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._active = 0
        self._waiting = 0
        self._current: tuple[int | None, bool] | None = None
        self._saved: tuple[int | None, bool] | None = None

    @contextmanager
    def hold(self, max_image_pixels: int | None, truncated: bool) -> Iterator[None]:
        want = (max_image_pixels, truncated)
        with self._cv:
            queued = False
            while self._active and (self._current != want or (self._waiting and not queued)):
                if not queued:
                    self._waiting += 1
                    queued = True
                self._cv.wait()
            if queued:
                self._waiting -= 1
            if not self._active:
                self._saved = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
                Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = want
                self._current = want
            self._active += 1
        try:
            yield
        finally:
            with self._cv:
                self._active -= 1
                if not self._active:
                    assert self._saved is not None
                    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = self._saved
                    self._current = self._saved = None
                    self._cv.notify_all()


_GATE = _Gate()


def _stored(size: tuple[int, int] | None, orientation: int) -> tuple[int, int] | None:
    """A displayed size in stored (pre-rotation) terms."""
    return None if size is None else swap(size, orientation)


def _pillow_limit(max_pixels: int) -> int:
    """``Image.MAX_IMAGE_PIXELS`` that makes Pillow's bomb error (at twice it) fire just above ``max_pixels``."""
    return max(1, -(-max_pixels // 2))


def read_source(path: str) -> bytes:
    """The whole file, read once: the worker hashes these bytes and decodes from them (a second
    read of the file would cost a second trip to the disk or share). A file that is gone,
    unreadable or not regular fails as it would when Pillow opened it (:func:`check_file`, :func:`classify`).
    A URL is read through fsspec (:mod:`toolkit._store`) in one request."""
    if is_url(path):
        try:
            return read_object(path)
        except StoreError as exc:
            raise classify(exc, path) from None
    check_file(path)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, path) from exc


def _open(path: str, max_pixels: int, data: bytes | BinaryIO | None = None) -> ImageFile.ImageFile:
    """Open headers only, with the allow-list; more than ``max_pixels`` is a decompression bomb.
    ``data``: the file's bytes, already read, or a file open on it (an object read in ranges, from
    :mod:`toolkit._store`); ``path`` then only names it and gives its extension.

    Containers (ICO, ICNS) hold whole images whose own headers declare their size, and ICO decodes
    its image while opening: Pillow checks those sizes, so its limit is on here too (at half, its
    error fires exactly above ``max_pixels``); ``_check_size`` then applies it to the declared size.
    """
    try:
        with _GATE.hold(_pillow_limit(max_pixels), False):
            src = path if data is None else io.BytesIO(data) if isinstance(data, bytes) else data
            im = Image.open(src, formats=_formats_for(path))
    except Image.DecompressionBombError as exc:
        raise _bomb(path, exc, max_pixels) from exc
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, path) from exc
    try:
        _check_size(path, im.width, im.height, max_pixels)
    except FileProblem:
        im.close()
        raise
    return im


def _decode(
    path: str, max_pixels: int, draft_size: tuple[int, int] | None, truncated: bool, data: bytes | None = None
) -> tuple[Image.Image, orient.Orientation]:
    """Open, draft, load the first frame; -> (loaded image with its file closed, its orientation)."""
    im = _open(path, max_pixels, data)
    try:
        found = orient.read(im, path, data)
        if draft_size and im.format in _JPEG and im.mode in ("L", "RGB", "CMYK"):
            im.draft(im.mode, _stored(draft_size, found.value))
        # Pillow checks sizes again for frames found while loading (ICO, GIF); with half the limit its
        # error (at twice the setting) fires exactly above max_pixels.
        with _GATE.hold(_pillow_limit(max_pixels), truncated):
            try:
                im.load()
            except Image.DecompressionBombError as exc:
                raise _bomb(path, exc, max_pixels) from exc
        if im.width * im.height > max_pixels:
            raise FileProblem(
                "decompression-bomb",
                f"{path_text(path)} grew to {im.width}x{im.height} while decoding, "
                f"more than the limit of {max_pixels:,} pixels; {_BOMB_FIX}",
            )
        # GIF and multi-frame files keep their file open (to seek to later frames); we only ever use
        # the first frame, so close it now and keep the pixels (a copy only if this Pillow cannot).
        close_file = getattr(im, "_close_fp", None)
        if callable(close_file):
            close_file()
            im.fp = None
            return im, found
        # pragma: no cover - older/newer Pillow without ImageFile._close_fp
        loaded = im.copy()
        im.close()
        return loaded, found
    except BaseException:
        im.close()
        raise


def load_image(
    path: str,
    *,
    max_pixels: int,
    allow_truncated: bool = False,
    draft_size: tuple[int, int] | None = None,
    data: bytes | None = None,
) -> tuple[Image.Image, list[Problem]]:
    """Decode the first frame, upright, with its file closed. -> (image, warnings).

    ``draft_size`` (as displayed) lets a JPEG decode at 1/2, 1/4 or 1/8 scale, never below it.
    Pixels tagged with an ICC profile other than sRGB are converted to sRGB (:mod:`.colour`).
    Warnings: ``exif`` (damaged EXIF: orientation not applied), ``truncated`` (with ``allow_truncated``),
    ``icc`` (a profile that cannot be read or used: pixels kept as they are).
    ``data``: the file's bytes from :func:`read_source` (decoded from memory, the file not read again).
    """
    problems: list[Problem] = []
    name = path_text(path)
    if data is None:
        check_file(path)
    try:
        try:
            im, found = _decode(path, max_pixels, draft_size, False, data)
        except OSError as exc:
            if not (allow_truncated and _is_truncation(exc)):
                raise
            im, found = _decode(path, max_pixels, draft_size, True, data)
            problems.append(Problem("truncated", f"{name} is truncated; the missing part was filled with grey"))
        if found.problem:
            problems.append(Problem("exif", f"{name}: {found.problem}; its orientation was not applied"))
        # upright first: whether to turn it is read from the image as decoded (a TIFF's surviving tag),
        # which a converted copy no longer carries; the transposed copy keeps the profile for the colour step
        im, icc_problem = colour.loaded_to_srgb(found.upright(im), name)
        problems += [icc_problem] if icc_problem else []
        return im, problems
    except FileProblem:
        raise
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, path) from exc
