"""The poster frame (a representative, not black, frame) and the contact sheet (a grid of frames)."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont, ImageStat

from ..._media import MediaInfo, Problem
from .. import EXT, OpSpec
from .. import ffmpeg_diag as ffdiag
from .. import image as iops
from . import grab
from .command import _scale_filter
from .deadline import _Deadline

#: poster candidates, as fractions of the duration
POSTER_AT = (0.10, 0.25, 0.50, 0.75, 0.05, 0.90)


def _interesting(im: Image.Image) -> tuple[bool, float]:
    small = im.convert("L").resize((64, 64)) if im.width > 64 else im.convert("L")
    st = ImageStat.Stat(small)
    mean, std = st.mean[0], st.stddev[0]
    return (24 <= mean <= 235 and std >= 10), std


def _poster(path: str, info: MediaInfo, dl: _Deadline) -> tuple[float, Image.Image]:
    d = info.duration or 0.0
    best: tuple[float, float, Image.Image] | None = None
    times = [f * d for f in POSTER_AT] if d > 0 else [0.0]
    tried: set[float] = set()
    for t in times:
        t = round(t, 3)
        if t in tried:
            continue
        tried.add(t)
        got = grab._grab_images(path, [t], [], dl)
        if not got:
            continue
        ts, im = got[0]
        good, score = _interesting(im)
        if good:
            if best is not None:
                best[2].close()
            return ts, im
        if best is None or score > best[0]:
            if best is not None:
                best[2].close()
            best = (score, ts, im)
        else:
            im.close()
    if best is None:
        if d > 0:  # seeking found nothing (tiny or broken index): decode from the start
            got = grab._grab_images(path, [0.0], [], dl)
            if got:
                return got[0]
        raise ffdiag.nothing_decoded(path, dl.diag)
    return best[1], best[2]


def find_poster(
    path: str, info: MediaInfo, *, timeout: float, memory_cap: int | None = None, damage: dict[str, Problem] | None = None
) -> tuple[float, Image.Image]:
    """(time, frame): a representative, not black or blank, frame as an RGB image, upright
    (rotation applied), and where it is.

    Tries 10 %, 25 %, 50 %, 75 % ... of the duration and keeps the first frame with enough
    brightness and contrast; if none has, the one with the most contrast. ``damage``: the file's
    damage record (one warning per type), shared with :func:`run_video_ops`, so what ffmpeg said
    of the data while seeking here is reported with the file's row.
    """
    dl = _Deadline(timeout, memory_cap=memory_cap)  # one seek a call: per_input not needed
    if damage is not None:
        dl.damage = damage
    ffdiag.fits(path, info, dl.room())
    return _poster(path, info, dl)


def poster_frame(path: str, info: MediaInfo, *, timeout: float, memory_cap: int | None = None) -> Image.Image:
    """The frame of :func:`find_poster`."""
    return find_poster(path, info, timeout=timeout, memory_cap=memory_cap)[1]


def _op_poster(
    path: str,
    info: MediaInfo,
    op: OpSpec,
    out_rel: str,
    fmt: str,
    quality: int,
    background: str,
    dl: _Deadline,
    found: tuple[float, Image.Image] | None = None,
) -> tuple[str, float]:
    t, im = found or _poster(path, info, dl)
    try:
        size = op.get("size")
        out = iops.resize(im, size, op.get("mode") or "fit", background) if size else im
        rel = f"{out_rel}.poster.{EXT[fmt]}"
        dl.put(path, rel, iops.encode(out, fmt, quality, background))
    finally:
        if found is None:  # a frame handed in belongs to the caller
            im.close()
    return rel, t


def _font(px: int):
    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fmt_t(t: float) -> str:
    m, s = divmod(max(0.0, t), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def _op_contact(
    path: str, info: MediaInfo, op: OpSpec, out_rel: str, fmt: str, quality: int, background: str, dl: _Deadline
) -> tuple[str, list[float], list[Problem]]:
    n = int(op.get("frames") or 16)
    cols = int(op.get("columns") or math.ceil(math.sqrt(n)))
    tw, th = op.get("size") or (320, 320)
    times = grab._targets(info, n)
    grabbed = grab._grab_images(path, times, _scale_filter((tw, th), "fit", background), dl)
    tiles, seen = [], set()
    for t, im in grabbed:  # a frame once: seeks past the decodable end, or into a damaged part, repeat one
        if round(t, 6) in seen:
            im.close()
        else:
            seen.add(round(t, 6))
            tiles.append((t, im))
    if not tiles:
        raise ffdiag.nothing_decoded(path, dl.diag)
    warnings = []
    if len(tiles) < n:  # a sheet of the frames there are, laid out for them
        warnings.append(ffdiag.fewer_frames(path, info, times, (t for t, _im in grabbed)))
        cols = min(cols, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    cw = max(im.width for _, im in tiles)
    ch = max(im.height for _, im in tiles)
    gap = 4
    sheet = Image.new("RGB", (cols * cw + (cols + 1) * gap, rows * ch + (rows + 1) * gap), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    font = _font(max(10, min(24, ch // 10)))
    for i, (t, im) in enumerate(tiles):
        x = gap + (i % cols) * (cw + gap)
        y = gap + (i // cols) * (ch + gap)
        sheet.paste(im, (x + (cw - im.width) // 2, y + (ch - im.height) // 2))
        label = _fmt_t(t)
        l, tp, r, b = draw.textbbox((0, 0), label, font=font)
        bx, by = x + 3, y + ch - (b - tp) - 8
        draw.rectangle((bx, by, bx + (r - l) + 6, by + (b - tp) + 5), fill=(0, 0, 0))
        draw.text((bx + 3 - l, by + 2 - tp), label, fill=(255, 255, 255), font=font)
        im.close()
    rel = f"{out_rel}.contact.{EXT[fmt]}"
    dl.put(path, rel, iops.encode(sheet, fmt, quality, background))
    return rel, [round(t, 6) for t, _ in tiles], warnings
