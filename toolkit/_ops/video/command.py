"""Building ffmpeg command lines: filters, encoders, reading ``showinfo``; removing temporaries."""

from __future__ import annotations

import os
import re
from typing import Iterable


from ..._fs import TMP_SUFFIX
from ..._media import MediaInfo
from .. import FileProblem
from ..ffmpeg import has_encoder

_RE_SHOWINFO = re.compile(r"\[Parsed_showinfo_(\d+) @ [^\]]*\] n:\s*(\d+) pts:\s*(-?\d+|NOPTS)\s+pts_time:(\S+)")


def _showinfo(stderr: str) -> dict[int, list[float]]:
    """showinfo filter index -> pts_time of each frame it saw, in order."""
    got: dict[int, list[float]] = {}
    for m in _RE_SHOWINFO.finditer(stderr):
        try:
            t = float(m.group(4))
        except ValueError:
            t = float("nan")
        got.setdefault(int(m.group(1)), []).append(t)
    return got


def _esc(s: str) -> str:
    """Escape a value for a filter-graph option."""
    return re.sub(r"([\\:',;\[\]=])", r"\\\1", s)


def _scale_filter(size: tuple[int, int] | None, mode: str, background: str) -> list[str]:
    if size is None:
        return []
    w, h = size
    if mode == "fill":
        return [f"scale={w}:{h}:force_original_aspect_ratio=increase", f"crop={w}:{h}", "setsar=1"]
    if mode == "pad":
        color = _esc(background or "white")
        return [
            f"scale={w}:{h}:force_original_aspect_ratio=decrease",
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color={color}",
            "setsar=1",
        ]
    if mode == "exact":
        return [f"scale={w}:{h}", "setsar=1"]
    return [f"scale={w}:{h}:force_original_aspect_ratio=decrease", "setsar=1"]  # fit


def _image_codec(fmt: str, quality: int) -> list[str]:
    """Encoder arguments for one still image. JPEG quality 1-100 maps onto mjpeg's -q:v 31..2."""
    if fmt == "png":
        return ["-c:v", "png", "-pix_fmt", "rgb24"]
    if fmt == "webp":
        return ["-c:v", "libwebp", "-quality", str(int(quality)), "-pix_fmt", "yuv420p"]
    q = max(2, min(31, round(2 + (95 - int(quality)) / 3)))
    return ["-c:v", "mjpeg", "-q:v", str(q), "-pix_fmt", "yuvj420p", "-strict", "-1"]


def _h264_encoder() -> str:
    for enc in ("libx264", "libopenh264"):
        if has_encoder(enc):
            return enc
    raise FileProblem("unsupported", "the bundled ffmpeg has no H.264 encoder (libx264 or libopenh264)")


def _video_encode_args(crf: int, audio: bool, max_side: int | None, fps_cap: float | None, info: MediaInfo) -> list[str]:
    vf = []
    if fps_cap and (info.fps is None or info.fps > fps_cap + 1e-6):
        vf.append(f"fps={fps_cap!r}")
    if max_side:
        s = int(max_side)
        # shorter side at most s (never enlarged), the other side keeps the aspect ratio, both even
        vf.append(f"scale='if(lte(iw\\,ih)\\,min({s}\\,iw)\\,-2)':'if(lte(iw\\,ih)\\,-2\\,min({s}\\,ih))'")
    vf += ["scale=trunc(iw/2)*2:trunc(ih/2)*2", "setsar=1", "format=yuv420p"]
    enc = _h264_encoder()
    args = ["-map", "0:v:0", "-vf", ",".join(vf), "-c:v", enc]
    if enc == "libx264":
        args += ["-preset", "veryfast", "-crf", str(int(crf))]
    else:
        args += ["-b:v", "2M"]
    if audio:
        args += ["-map", "0:a:0?", "-c:a", "aac", "-b:a", "128k"]
    else:
        args += ["-an"]
    return args + ["-sn", "-dn", "-map_metadata", "-1"]


def _rm(paths: Iterable[str]) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass


def _rm_pattern(folder: str, token: str) -> None:
    try:
        names = os.listdir(folder)
    except OSError:
        return
    _rm(os.path.join(folder, f) for f in names if f.endswith(f".{token}{TMP_SUFFIX}"))
