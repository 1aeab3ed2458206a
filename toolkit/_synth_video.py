"""Short, deterministic test videos made with ffmpeg's test sources (testsrc2, smptebars, sine).

Used by the tests, the benchmarks and the demo data set. Every call runs the bundled ffmpeg
through the same runner as the ops (argv only, timeout, no process left behind).

>>> make_video("/tmp/clip.mp4", seconds=2, rotate=90)                # doctest: +SKIP
'/tmp/clip.mp4'
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from ._ops.ffmpeg import _run, _src

__all__ = [
    "make_video",
    "make_audio_only",
    "make_truncated_video",
    "make_cut_video",
    "make_damaged_video",
    "make_oversized_video",
    "make_not_a_video",
    "make_sample_videos",
    "PATTERNS",
    "MARKER",
]

PATTERNS = ("testsrc2", "smptebars", "testsrc")
#: ``pattern=MARKER``: grey frames with a red square in the top-left quarter of the stored pixels,
#: so a test can tell where that corner lands once rotation metadata is applied
MARKER = "marker"


def _ff(args: list, out: str | os.PathLike, timeout: float, fmt: str = "mp4") -> str:
    out = os.fspath(out)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = os.path.join(os.path.dirname(out) or ".", f".{os.path.basename(out)}.{os.getpid()}.synth-tmp")
    try:
        rc, _o, err = _run(["-y", *args, "-f", fmt, os.fsencode(tmp)], timeout=timeout, path=out)
        if rc != 0:
            raise RuntimeError(f"ffmpeg failed making {out}: {err.strip().splitlines()[-1:]}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def make_video(
    path: str | os.PathLike,
    seconds: float = 3,
    size: tuple[int, int] = (320, 240),
    fps: float = 25,
    rotate: int | None = None,
    vfr: bool = False,
    audio: bool = False,
    codec: str = "libx264",
    *,
    seed: int = 0,
    pattern: str | None = None,
    black_start: float = 0.0,
    faststart: bool = True,
    gop: int | None = None,
    threads: int = 1,
    timeout: float = 300,
) -> str:
    """Write a test video; -> its path.

    ``rotate``: rotation metadata (display matrix, degrees counter-clockwise) on unrotated pixels.
    ``vfr``: variable frame rate: the first second at ``fps``, then every third frame only.
    ``black_start``: that many seconds of black before the pattern (for poster tests).
    ``seed`` picks the pattern and the tone, so a seed always gives the same file content
    (``threads=1``, the default, keeps x264 deterministic; 0 lets it use every core).
    """
    rng = random.Random(seed)
    pattern = pattern or PATTERNS[seed % len(PATTERNS)]
    w, h = size
    src = f"{pattern}=size={w}x{h}:rate={fps!r}:duration={seconds - black_start!r}"
    if pattern == MARKER:
        src = (
            f"color=c=gray:size={w}x{h}:rate={fps!r}:duration={seconds - black_start!r},"
            "drawbox=x=0:y=0:w=iw/4:h=ih/4:color=red:t=fill"
        )
    graph = f"{src}[p]"
    if black_start > 0:
        graph = f"color=c=black:size={w}x{h}:rate={fps!r}:duration={black_start!r}[b];{src}[t];[b][t]concat=n=2:v=1:a=0[p]"
    vf = "format=yuv420p"
    if vfr:
        vf = f"select='lt(t\\,1)+not(mod(n\\,3))',{vf}"
    graph += f";[p]{vf}[v]"
    args: list = ["-filter_complex", graph, "-map", "[v]"]
    if audio:
        freq = 220 + 55 * rng.randrange(8)
        args = [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={freq}:sample_rate=44100:duration={seconds!r}",
            *args,
            "-map",
            "0:a",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ]
    if codec == "libx264":
        args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-threads", str(int(threads))]
    else:
        args += ["-c:v", codec, "-q:v", "5"]
    if gop:
        args += ["-g", str(int(gop))]
    args += ["-fps_mode", "vfr" if vfr else "cfr", "-map_metadata", "-1", "-fflags", "+bitexact"]
    if faststart:
        args += ["-movflags", "+faststart"]
    path = os.fspath(path)
    if not rotate:
        return _ff(args, path, timeout)
    plain = path + ".plain.mp4"
    try:
        _ff(args, plain, timeout)
        # rotation as metadata only: the pixels stay as they are, players (and ffmpeg) turn them
        _ff(["-display_rotation:v:0", str(int(rotate)), "-i", _src(plain), "-map", "0", "-c", "copy"], path, timeout)
    finally:
        if os.path.exists(plain):
            os.unlink(plain)
    return path


def make_audio_only(path: str | os.PathLike, seconds: float = 2, *, timeout: float = 120) -> str:
    """An MP4 with one AAC sine track and no video stream."""
    return _ff(
        ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds!r}", "-c:a", "aac", "-b:a", "64k"],
        path,
        timeout,
    )


def make_truncated_video(path: str | os.PathLike, seconds: float = 3, *, keep: float = 0.5) -> str:
    """A video cut short as by an interrupted copy: the index (moov, written last) is missing."""
    path = os.fspath(path)
    full = path + ".full.mp4"
    try:
        make_video(full, seconds=seconds, faststart=False)
        data = Path(full).read_bytes()
    finally:
        if os.path.exists(full):
            os.unlink(full)
    Path(path).write_bytes(data[: max(64, int(len(data) * keep))])
    return path


def make_cut_video(path: str | os.PathLike, seconds: float = 4, *, keep: float = 0.5, **kw) -> str:
    """A video whose index is at the front (``+faststart``) cut to ``keep`` of its bytes: the index
    promises all ``seconds``, the data holds about the first ``keep`` of them."""
    path = os.fspath(path)
    make_video(path, seconds=seconds, faststart=True, **kw)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    return path


def make_damaged_video(path: str | os.PathLike, seconds: float = 4, *, zeroed: tuple[float, float] = (0.4, 0.6), **kw) -> str:
    """A whole video with the bytes from ``zeroed[0]`` to ``zeroed[1]`` of its length set to zero
    (its index at the front stays intact): the middle decodes with errors."""
    path = os.fspath(path)
    make_video(path, seconds=seconds, faststart=True, **kw)
    data = bytearray(Path(path).read_bytes())
    a, b = int(len(data) * zeroed[0]), int(len(data) * zeroed[1])
    data[a:b] = bytes(b - a)
    Path(path).write_bytes(bytes(data))
    return path


def make_oversized_video(path: str | os.PathLike, size: tuple[int, int] = (16384, 16384), *, timeout: float = 60) -> str:
    """A short MJPEG MOV whose container and frame headers declare ``size`` while its data is that
    of 64x64 frames: a file of a few KiB that any decoder would need huge frames for."""
    import struct

    path = os.fspath(path)
    _ff(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=5:duration=1", "-c:v", "mjpeg"], path, timeout, "mov")
    data = bytearray(Path(path).read_bytes())
    w, h = size
    at = 0
    while (at := data.find(b"\xff\xc0\x00\x11\x08", at)) >= 0:  # each frame's SOF0: precision, height, width
        data[at + 5 : at + 9] = struct.pack(">HH", h, w)
        at += 9
    entry = data.find(b"jpeg", data.find(b"stsd"))  # the visual sample entry: 24 bytes on, width and height
    data[entry + 28 : entry + 32] = struct.pack(">HH", w, h)
    tkhd = data.find(b"tkhd")  # version 0 track header: its width and height (16.16) end its 84 bytes
    data[tkhd + 80 : tkhd + 88] = struct.pack(">II", w << 16, h << 16)
    Path(path).write_bytes(bytes(data))
    return path


def make_not_a_video(path: str | os.PathLike, *, seed: int = 0) -> str:
    """A file named like a video whose content is text and random bytes."""
    rng = random.Random(seed)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(b"this is not a video\n" + bytes(rng.randrange(256) for _ in range(2048)))
    return os.fspath(path)


def make_sample_videos(out_dir: str | os.PathLike) -> list[str]:
    """The demo data set's videos under ``out_dir/videos/`` (a few hundred KiB, a few seconds to make)."""
    d = Path(out_dir, "videos")
    d.mkdir(parents=True, exist_ok=True)
    made = [
        make_video(d / "testcard.mp4", seconds=4, size=(640, 360), fps=25, seed=0),
        make_video(d / "bars-with-audio.mp4", seconds=3, size=(320, 240), fps=30, audio=True, seed=1, pattern="smptebars"),
        make_video(d / "rotated-portrait.mp4", seconds=3, size=(320, 240), fps=25, rotate=90, seed=2),
        make_video(d / "variable-frame-rate.mp4", seconds=4, size=(320, 240), fps=30, vfr=True, seed=3),
        make_video(d / "starts-black.mp4", seconds=3, size=(320, 240), fps=25, black_start=1.0, seed=4),
        make_audio_only(d / "audio-only.mp4"),
        make_truncated_video(d / "truncated.mp4"),
    ]
    return made


if __name__ == "__main__":  # python -m toolkit._synth_video OUT_DIR
    import sys

    for p in make_sample_videos(sys.argv[1] if len(sys.argv) > 1 else "datasets/sample"):
        print(p, os.path.getsize(p))
