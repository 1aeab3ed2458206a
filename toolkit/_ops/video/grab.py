"""Seek-based grabbing: a few frames from anywhere in a video, fast (one ffmpeg call per chunk of times)."""

from __future__ import annotations

import os
import re
from typing import Any, Iterator, Sequence

from PIL import Image

from ..._media import MediaInfo
from ..ffmpeg import _src
from .command import _showinfo
from .deadline import _Deadline


def _targets(info: MediaInfo, n: int) -> list[float]:
    """``n`` timestamps spread evenly over the video (centres of n equal spans)."""
    d = info.duration or ((info.frames or 1) / (info.fps or 25.0))
    last = max(0.0, d - 1.0 / (info.fps or 25.0))
    return [min(last, d * (i + 0.5) / n) for i in range(n)]


def _seek_chunks(n: int, dl: _Deadline) -> Iterator[slice]:
    """Slices of ``n`` times, each as many as one ffmpeg call seeks to (``dl.seek_chunk()``, asked
    before each call: what the memory cap leaves changes as the worker's memory does)."""
    c = 0
    while c < n:
        k = dl.seek_chunk()
        yield slice(c, c + k)
        c += k


def _grab_files(
    path: str, times: Sequence[float], outs: Sequence[str], cwd: str, chain: list[str], codec: list[str], dl: _Deadline
) -> list[float | None]:
    """Write the first decoded frame at or after each time to ``cwd/outs[i]``; -> decoded times."""
    got: list[float | None] = []
    for part in _seek_chunks(len(times), dl):
        ts, os_ = times[part], outs[part]
        args: list[Any] = []
        for t in ts:
            args += ["-ss", f"{t:.6f}", "-i", _src(path)]
        graph = []
        per = 1 + len(chain)
        for i in range(len(ts)):
            graph.append(f"[{i}:v:0]" + ",".join(["showinfo", *chain] if chain else ["showinfo"]) + f"[o{i}]")
        args += ["-filter_complex", ";".join(graph)]
        for i, out in enumerate(os_):
            args += ["-map", f"[o{i}]", "-frames:v", "1", "-fps_mode", "passthrough", *codec, "-f", "image2", "-update", "1", out]
        _rc, _o, err = dl.run(args, path=path, cwd=cwd)
        info = _showinfo(err)
        for i, t in enumerate(ts):
            pts = info.get(i * per)
            ok = os.path.exists(os.path.join(cwd, os_[i]))
            got.append(round(t + pts[0], 3) if (pts and ok and pts[0] == pts[0]) else (t if ok else None))
    return got


def _grab_images(path: str, times: Sequence[float], chain: list[str], dl: _Deadline) -> list[tuple[float, Image.Image]]:
    """Decode the first frame at or after each time as RGB PIL images (through a pipe, no files)."""
    res: list[tuple[float, Image.Image]] = []
    for part in _seek_chunks(len(times), dl):
        ts = times[part]
        args: list[Any] = []
        for t in ts:
            args += ["-ss", f"{t:.6f}", "-i", _src(path)]
        chains = [
            f"[{i}:v:0]" + ",".join(["trim=end_frame=1", "showinfo", *chain, "format=rgb24", "setsar=1"]) + f"[v{i}]"
            for i in range(len(ts))
        ]
        graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(len(ts))) + f"concat=n={len(ts)}:v=1:a=0,showinfo[out]"
        args += ["-filter_complex", graph, "-map", "[out]", "-fps_mode", "passthrough", "-f", "rawvideo", "-"]
        _rc, out, err = dl.run(args, path=path, capture=True)
        per = 4 + len(chain)  # trim, showinfo, *chain, format, setsar
        last = len(ts) * per + 1  # concat, showinfo
        sizes = re.findall(rf"\[Parsed_showinfo_{last} @ [^\]]*\] n:\s*\d+ .*? s:(\d+)x(\d+)", err)
        info = _showinfo(err)
        if not sizes:  # ffmpeg ran fine and no input gave a frame: every time is past the decodable end
            continue
        w, h = int(sizes[-1][0]), int(sizes[-1][1])
        fsize = w * h * 3
        # inputs that delivered a frame, in order (a seek past the end delivers none)
        delivered = [(ts[i], info[i * per + 1][0]) for i in range(len(ts)) if info.get(i * per + 1)]
        for j in range(min(len(out) // fsize, len(delivered))):
            t0, pts = delivered[j]
            t = round(t0 + pts, 3) if pts == pts else t0
            res.append((t, Image.frombytes("RGB", (w, h), out[j * fsize : (j + 1) * fsize])))
    return res
