"""Every video op of a build on one video: :func:`run_video_ops`."""

from __future__ import annotations

import os
from typing import Any, Callable

from PIL import Image

from ..._fs import Placed, path_text
from ..._media import MediaInfo, Problem
from .. import EXT, FileProblem, OpSpec
from .. import ffmpeg_diag as ffdiag
from .command import _image_codec
from .deadline import _Deadline
from .frames import _op_frames
from .poster import _op_contact, _op_poster
from .probe import decoder_bytes
from .transcode import _op_clip, _op_transcode


def run_video_ops(
    path: str,
    info: MediaInfo,
    ops: tuple[OpSpec, ...],
    out_dir: str,
    out_rel: str,
    *,
    fmt: str,
    quality: int,
    background: str,
    timeout: float,
    poster: tuple[float, Image.Image] | None = None,
    may_write: Callable[[], bool] | None = None,
    placed: Placed | None = None,
    memory_cap: int | None = None,
    damage: dict[str, Problem] | None = None,
) -> tuple[list[str], list[Problem], dict]:
    """Run every video op of ``ops`` on one video (image ops are skipped: they use :func:`poster_frame`).
    ``out_dir`` is the output folder and must exist: one that is gone (deleted, its disk unmounted)
    is an ``OutputWriteError``, never made anew under the bare mount point.

    ``timeout`` bounds the whole file (all its ffmpeg calls together). ``poster``: the video's
    :func:`find_poster` result when the caller has it already (it stays the caller's to close).
    ``may_write``: asked just before each output is put in place; once it is false, the file
    fails as ``stopped`` and nothing more is placed (a worker's run is over). ``placed``: where
    each output is recorded as it lands, a :class:`Placed` rooted at ``out_dir`` (the caller's,
    to remove with its own on a later failure). ``memory_cap``: bytes this process and its
    ffmpeg may hold together (None: no cap; a worker's :func:`ffmpeg_memory_cap`); seeking opens fewer inputs a call to stay under it, and past it the file fails as
    ``limit-exceeded``. ``damage``: the file's damage record when the caller keeps it (shared with
    :func:`find_poster`; the caller reports it), else this call's own, returned with the warnings.
    Returns (outputs relative to ``out_dir``, warnings, extra manifest fields). A failure removes
    this call's outputs.
    """
    if not info.has_video:
        raise FileProblem("no-video-stream", f"{path_text(path)} has no video stream (audio only?)")
    fmt = fmt if fmt in EXT else "jpeg"
    ext = EXT[fmt]
    codec = _image_codec(fmt, quality)
    if placed is not None and os.path.abspath(placed.root) != os.path.abspath(out_dir):
        raise ValueError(f"placed is rooted at {placed.root!r}, not at the output folder {out_dir!r}")
    dl = _Deadline(
        timeout,
        may_write,
        placed if placed is not None else Placed(out_dir),
        memory_cap,
        per_input=decoder_bytes(info.codec, info.width, info.height),
    )
    if damage is not None:
        dl.damage = damage
    outputs: list[str] = []
    warnings: list[Problem] = []
    extra: dict[str, Any] = {}
    try:
        ffdiag.fits(path, info, dl.room())  # frames that cannot be decoded here fail before any decoding
        for op in ops:
            if op.name == "frames":
                outs, warns, rows = _op_frames(path, info, op, out_dir, out_rel, ext, codec, background, dl)
                outputs += outs
                warnings += warns
                extra.setdefault("frames", []).extend(rows)
            elif op.name == "poster":
                rel, t = _op_poster(path, info, op, out_rel, fmt, quality, background, dl, poster)
                outputs.append(rel)
                extra["poster_t"] = round(t, 6)
            elif op.name == "contact-sheet":
                rel, ts, warns = _op_contact(path, info, op, out_rel, fmt, quality, background, dl)
                outputs.append(rel)
                warnings += warns
                extra["contact_sheet_t"] = ts
            elif op.name == "transcode":
                outputs.append(_op_transcode(path, info, op, out_dir, out_rel, dl))
            elif op.name == "clip":
                rows = _op_clip(path, info, op, out_dir, out_rel, dl)
                outputs += [r["output"] for r in rows]
                extra["clips"] = rows
    except BaseException:
        dl.placed.remove()  # exactly what this file put in place, as long as it is still its own
        raise
    if damage is None:
        warnings += dl.damage.values()  # what ffmpeg said of the file's data, once per type
    if outputs:
        extra["video"] = {
            "duration": info.duration,
            "fps": info.fps,
            "frames": info.frames,
            "rotation": info.rotation,
            "codec": info.codec,
        }
    return outputs, warnings, extra
