"""The ``transcode`` and ``clip`` ops: H.264 MP4 outputs, each written under a temporary name and renamed."""

from __future__ import annotations

import math
from pathlib import Path


from ..._fs import make_folder, place, tmp_path_for
from ..._media import MediaInfo
from .. import OpSpec
from .. import ffmpeg_diag as ffdiag
from ..ffmpeg import _src
from .command import _rm, _video_encode_args
from .deadline import _Deadline


def _ffmpeg_to(out_dir: str, rel: str, args: list, path: str, dl: _Deadline) -> bool:
    """Run ffmpeg ``args`` + a temporary name next to output ``rel``; rename it into place unless
    ffmpeg says it wrote no video frame. -> whether the output was written. The temporary never stays."""
    final = Path(out_dir, rel)
    make_folder(final.parent, root=out_dir)
    tmp = tmp_path_for(final)
    try:
        dl.run([*args, tmp.name], path=path, cwd=str(final.parent))
        if dl.diag is not None and dl.diag.frames_encoded == 0:  # an output of no frame is not kept
            return False
        dl.before_write(path)
        place(tmp, final)
        dl.placed.add(rel)
        return True
    finally:
        _rm([str(tmp)])


def _op_transcode(path: str, info: MediaInfo, op: OpSpec, out_dir: str, out_rel: str, dl: _Deadline) -> str:
    rel = f"{out_rel}.mp4"
    if not _ffmpeg_to(
        out_dir,
        rel,
        [
            "-i",
            _src(path),
            *_video_encode_args(op.get("crf", 23), bool(op.get("audio", True)), op.get("size"), op.get("max_fps"), info),
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ],
        path,
        dl,
    ):
        raise ffdiag.nothing_decoded(path, dl.diag)
    diag = dl.said
    got = diag.out_time  # seconds of video written: right for variable frame rates too
    ffdiag.merge(dl.damage, ffdiag.whole_decode(path, diag, got=got, of=info.duration, rate=info.fps), strong=True)
    return rel


def _op_clip(path: str, info: MediaInfo, op: OpSpec, out_dir: str, out_rel: str, dl: _Deadline) -> list[dict]:
    """Fixed-length segments, one accurately seeked ffmpeg call each (exact cuts, each file atomic)."""
    secs = float(op.get("seconds") or 10.0)
    duration = info.duration or ((info.frames or 0) / (info.fps or 25.0))
    n = max(1, math.ceil(duration / secs - 1e-6))
    make_folder(Path(out_dir, out_rel), root=out_dir)
    enc = _video_encode_args(20, True, None, None, info)
    rows: list[dict] = []
    for i in range(n):
        start = i * secs
        end = min(start + secs, duration)
        rel = f"{out_rel}/clip-{i:04d}.mp4"
        # a segment of no frames (past the last full one, or all in a part that does not decode): no file
        if not _ffmpeg_to(
            out_dir,
            rel,
            ["-ss", f"{start:.6f}", "-t", f"{secs:.6f}", "-i", _src(path), *enc, "-movflags", "+faststart", "-f", "mp4"],
            path,
            dl,
        ):
            continue
        diag = dl.said
        got = diag.out_time
        found = ffdiag.whole_decode(
            path, diag, got=got, of=end - start, rate=info.fps, where=f" making its clip of t={start:.1f}-{end:.1f} s"
        )
        ffdiag.merge(dl.damage, found, strong=True)
        if got is not None and any(p.type == "truncated" for p in found):  # what the clip holds, not what was asked
            end = min(end, start + got)
        rows.append({"index": i, "start": round(start, 6), "end": round(end, 6), "output": rel})
    if not rows:
        raise ffdiag.nothing_decoded(path, dl.diag)
    return rows
