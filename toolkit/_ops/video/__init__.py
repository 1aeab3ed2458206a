"""Video ops on the ffmpeg binary that ``imageio-ffmpeg`` ships (there is no ffprobe).

Every ffmpeg call goes through the runner of :mod:`toolkit._ops.ffmpeg` (argv only, a timeout, the
worker's memory cap, no ffmpeg outliving its task); its names are importable from here as
before. Outputs are written under temporary names in their target folder and renamed into place.
One module per job: :mod:`.probe` (header facts, ffmpeg's complaints), :mod:`.command` (command
lines), :mod:`.deadline` (one file's time, memory and outputs), :mod:`.grab` (seek-based frames),
:mod:`.poster` (poster frame, contact sheet), :mod:`.frames`, :mod:`.transcode` (transcode, clip)
and :mod:`.run` (every op of a build on one video).

>>> info = probe_video("clip.mp4")                                   # doctest: +SKIP
>>> run_video_ops("clip.mp4", info, (OpSpec.make("frames", fps=1),), "out", "clip",
...               fmt="jpeg", quality=85, background="#fff", timeout=60)  # doctest: +SKIP
(['clip/000000.jpg', ...], [], {'frames': [{'index': 0, 't': 0.0, 'output': 'clip/000000.jpg'}, ...]})
"""

from __future__ import annotations

from ..ffmpeg import FFMPEG_BASELINE_BYTES, ffmpeg_exe, ffmpeg_memory_cap, has_encoder, live_ffmpeg_pids, memory_in_use
from .poster import find_poster, poster_frame
from .probe import classify_ffmpeg_error, decoder_bytes, probe_video
from .run import run_video_ops

__all__ = [
    "ffmpeg_exe",
    "has_encoder",
    "probe_video",
    "decoder_bytes",
    "find_poster",
    "poster_frame",
    "run_video_ops",
    "classify_ffmpeg_error",
    "live_ffmpeg_pids",
    "memory_in_use",
    "ffmpeg_memory_cap",
    "FFMPEG_BASELINE_BYTES",
]
