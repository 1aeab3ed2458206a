"""Video benchmarks: the toolkit's ffmpeg runner against ffmpeg by hand.

    python benchmarks/video.py [--repeat 3] [--seconds 60] [--long-seconds 600]

(1) frames at 1 per second from a 1080p video: ``run_video_ops`` against the same ffmpeg command
    line run with ``subprocess`` (interleaved, median of the repeats); target ratio >= 0.95.
(2) sparse extraction, 10 frames from a long video: seeking (``count=10``) against decoding
    everything through an ``fps`` filter by hand; prints the speed-up.
Generated videos are cached in ``benchmarks/.cache/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit import _synth_video as sv  # noqa: E402
from toolkit._ops import OpSpec  # noqa: E402
from toolkit._ops import video as v  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"


def cached(name: str, **kw) -> str:
    p = CACHE / name
    if not p.exists():
        t = time.perf_counter()
        print(f"generating {p.name} ...", flush=True)
        sv.make_video(p, threads=0, timeout=3600, **kw)
        print(f"  {os.path.getsize(p) / 2**20:.1f} MiB in {time.perf_counter() - t:.1f} s", flush=True)
    return str(p)


def toolkit_frames(path: str, info, out: str, **params) -> int:
    outs, _w, _e = v.run_video_ops(
        path, info, (OpSpec.make("frames", **params),), out, "clip", fmt="jpeg", quality=85, background="#ffffff", timeout=3600
    )
    return len(outs)


def hand(argv: list[str], cwd: str) -> int:
    subprocess.run(argv, cwd=cwd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return len(os.listdir(cwd))


def timed(fn) -> tuple[float, int]:
    d = tempfile.mkdtemp(prefix="dataprep-bench-")
    try:
        t = time.perf_counter()
        n = fn(d)
        return time.perf_counter() - t, n
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--long-seconds", type=float, default=600)
    a = ap.parse_args(argv)
    ff = v.ffmpeg_exe()
    print(f"ffmpeg: {ff}\nlibx264: {v.has_encoder('libx264')}  cores: {os.cpu_count()}")

    # (1) 1 frame per second from 1080p
    hd = cached(f"hd-{int(a.seconds)}s.mp4", seconds=a.seconds, size=(1920, 1080), fps=30)
    info = v.probe_video(hd)
    print(f"\n(1) frames --fps 1 from {Path(hd).name}: {info.width}x{info.height}, {info.duration} s, {info.fps} fps")
    same = [
        ff,
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-i",
        "file:" + hd,
        "-map",
        "0:v:0",
        "-vf",
        "select='eq(n\\,0)+gt(floor(t*1.0)\\,floor(prev_t*1.0))',showinfo",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "mjpeg",
        "-q:v",
        "5",
        "-pix_fmt",
        "yuvj420p",
        "-strict",
        "-1",
        "-f",
        "image2",
        "-start_number",
        "0",
        "%06d.jpg",
    ]
    plain = [ff, "-nostdin", "-loglevel", "error", "-i", hd, "-vf", "fps=1", "-q:v", "5", "%06d.jpg"]
    print("  hand command:", subprocess.list2cmdline(same))
    tk, hd_t, pl = [], [], []
    for r in range(a.repeat):
        t1, n1 = timed(lambda d: toolkit_frames(hd, info, d, fps=1))
        t2, n2 = timed(lambda d: hand(same, d))
        t3, n3 = timed(lambda d: hand(plain, d))
        tk.append(t1), hd_t.append(t2), pl.append(t3)
        print(
            f"  run {r + 1}: toolkit {t1:.2f} s ({n1} frames)  same by hand {t2:.2f} s ({n2})  "
            f"plain fps=1 by hand {t3:.2f} s ({n3})",
            flush=True,
        )
    mt, mh, mp_ = statistics.median(tk), statistics.median(hd_t), statistics.median(pl)
    print(
        f"  median: toolkit {mt:.2f} s, by hand {mh:.2f} s -> toolkit speed / hand speed = {mh / mt:.3f} "
        f"(target >= 0.95); vs plain '-vf fps=1': {mp_ / mt:.3f}"
    )

    # (2) sparse: 10 frames from a long video
    long = cached(f"long-{int(a.long_seconds)}s.mp4", seconds=a.long_seconds, size=(640, 360), fps=25)
    linfo = v.probe_video(long)
    n = 10
    rate = n / linfo.duration
    full = [ff, "-nostdin", "-loglevel", "error", "-i", long, "-vf", f"fps={rate!r}", "-q:v", "5", "%06d.jpg"]
    print(f"\n(2) {n} frames from {Path(long).name}: {linfo.width}x{linfo.height}, {linfo.duration} s")
    sk, fu = [], []
    for r in range(a.repeat):
        t1, n1 = timed(lambda d: toolkit_frames(long, linfo, d, count=n))
        t2, n2 = timed(lambda d: hand(full, d))
        sk.append(t1), fu.append(t2)
        print(f"  run {r + 1}: seek (count={n}) {t1:.2f} s ({n1} frames)  decode all (fps filter) {t2:.2f} s ({n2})", flush=True)
    ms, mf = statistics.median(sk), statistics.median(fu)
    print(f"  median: seek {ms:.2f} s, decode all {mf:.2f} s -> speed-up x{mf / ms:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
