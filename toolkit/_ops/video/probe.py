"""Header facts of a video from ``ffmpeg -i`` (there is no ffprobe), and what ffmpeg's complaints mean."""

from __future__ import annotations

import os
import re


from ..._fs import path_text
from ..._media import MediaInfo
from .. import FileProblem, check_file
from .. import ffmpeg
from .. import ffmpeg_diag as ffdiag
from ..ffmpeg import FFMPEG_BASELINE_BYTES, _src

_RE_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_RE_VSTREAM = re.compile(r"^\s*Stream #(\d+):(\d+)[^:]*: Video: (.*)$", re.M)
_RE_ASTREAM = re.compile(r"^\s*Stream #\d+:\d+[^:]*: Audio: ", re.M)
_RE_ROT = re.compile(r"(?:display ?matrix): rotation of (-?\d+(?:\.\d+)?) degrees", re.I)
_RE_ROTATE_TAG = re.compile(r"^\s*rotate\s*:\s*(-?\d+)", re.M)


def _parse_rate(s: str, unit: str) -> float | None:
    m = re.search(rf"(\d+(?:\.\d+)?)(k?) {unit}\b", s)
    if not m:
        return None
    v = float(m.group(1)) * (1000 if m.group(2) else 1)
    return v if v > 0 else None


def classify_ffmpeg_error(stderr: str, path: str) -> FileProblem:
    """Map ffmpeg's complaint about ``path`` to a stable code and a sentence naming the file."""
    name = path_text(path)
    low = stderr.lower()
    last = next(
        (
            ln.strip()
            for ln in reversed(stderr.strip().splitlines())
            if ln.strip() and "at least one output file" not in ln.lower()
        ),
        "",
    )
    if "no such file or directory" in low:
        return FileProblem("not-found", f"{name} does not exist (moved or deleted since the scan?)")
    if "permission denied" in low:
        return FileProblem("permission-denied", f"cannot read {name}: permission denied")
    if "misdetection possible" in low or "unknown format" in low:  # content is not a known container
        return FileProblem("corrupt", f"{name} is not a video ffmpeg can recognise (wrong extension or damaged header?)")
    if "moov atom not found" in low or "end of file" in low or "partial file" in low or "truncat" in low:
        return FileProblem("truncated", f"{name} is truncated: its index or data is missing (an interrupted copy or recording?)")
    if "does not contain any stream" in low or ("stream #" in low and ": video:" not in low):
        return FileProblem("no-video-stream", f"{name} has no video stream (audio only?)")
    if "invalid data found" in low or "could not find codec parameters" in low:
        return FileProblem("corrupt", f"{name} is not a readable video: {last}")
    if "decoder" in low and ("not found" in low or "unsupported" in low):
        return FileProblem("unsupported", f"{name} uses a codec the bundled ffmpeg cannot decode: {last}")
    return FileProblem("corrupt", f"ffmpeg could not read {name}: {last or 'no message'}")


def _frame_buffers(codec: str | None) -> int:
    """Decoded frames a decoder may hold at once (references + reordering + frame threads)."""
    refs = 20 if codec in ("h264", "hevc", "h265", "av1", "vp9", "vvc") else 8
    return refs + min(os.cpu_count() or 1, 16)


def decoder_bytes(codec: str | None, width: int, height: int) -> int:
    """Estimated memory of one decoder of a ``width`` x ``height`` video (its frames, 4:2:0)."""
    return int(_frame_buffers(codec) * width * height * 1.5)


def probe_video(path: str, *, timeout: float = 30, memory_cap: int | None = None) -> MediaInfo:
    """Header facts of a video from ``ffmpeg -i``: size as displayed, fps, duration, frames, rotation.
    ``memory_cap``: bytes this process and ffmpeg may hold together (None: no cap).

    Raises :class:`FileProblem` (``not-found``, ``permission-denied``, ``empty-file``, ``truncated``,
    ``corrupt``, ``no-video-stream``, ``timeout``, ``limit-exceeded``: also frames larger than
    ffmpeg decodes).
    """
    name = path_text(path)
    check_file(path, regular=False)
    _rc, _out, err = ffmpeg._run([b"-i", _src(path)], timeout=timeout, path=path, memory_cap=memory_cap)
    too_large = ffdiag.parse(err).bad_size  # frames ffmpeg refuses to decode: a limit, not damage
    if too_large:
        raise ffdiag.too_large(path, *too_large)
    vstreams = [m for m in _RE_VSTREAM.finditer(err) if "(attached pic)" not in m.group(3)]
    if not vstreams:
        if _RE_ASTREAM.search(err) and "Input #0" in err:
            raise FileProblem("no-video-stream", f"{name} has no video stream (audio only?)")
        raise classify_ffmpeg_error(err, path)
    desc = vstreams[0].group(3)
    codec = desc.split()[0].strip(",") if desc.split() else None
    m = re.search(r"(?<![\dx])(\d{1,5})x(\d{1,5})(?![\dx])", desc)
    if not m:
        raise classify_ffmpeg_error(err, path)
    w, h = int(m.group(1)), int(m.group(2))
    # side data of the first video stream: text between its Stream line and the next Stream line
    block = err[vstreams[0].end() :]
    nxt = re.search(r"^\s*Stream #", block, re.M)
    block = block[: nxt.start()] if nxt else block
    rot_m = _RE_ROT.search(block) or _RE_ROTATE_TAG.search(block)
    rotation = int(round(float(rot_m.group(1)))) % 360 if rot_m else 0
    rotation = (rotation + 45) // 90 * 90 % 360
    if rotation in (90, 270):
        w, h = h, w
    fps = _parse_rate(desc, "fps") or _parse_rate(desc, "tbr")
    dm = _RE_DURATION.search(err)
    duration = int(dm.group(1)) * 3600 + int(dm.group(2)) * 60 + float(dm.group(3)) if dm else None
    if duration is not None and duration <= 0:
        duration = None
    frames = max(1, int(round(duration * fps))) if duration and fps else None
    est = FFMPEG_BASELINE_BYTES + decoder_bytes(codec, w, h) + w * h * 3 * 2
    return MediaInfo(
        width=w,
        height=h,
        mode="RGB",
        frames=frames,
        fps=round(fps, 4) if fps else None,
        duration=round(duration, 4) if duration else None,
        rotation=rotation,
        codec=codec,
        has_video=True,
        est_bytes=est,
    )
