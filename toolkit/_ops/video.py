"""Video ops on the ffmpeg binary that ``imageio-ffmpeg`` ships (there is no ffprobe).

Every ffmpeg call goes through the runner of :mod:`toolkit._ops.ffmpeg` (argv only, a timeout, the
worker's memory cap, no ffmpeg outliving its task); its names are importable from here as
before. Outputs are written under temporary names in their target folder and renamed into place.

>>> info = probe_video("clip.mp4")                                   # doctest: +SKIP
>>> run_video_ops("clip.mp4", info, (OpSpec.make("frames", fps=1),), "out", "clip",
...               fmt="jpeg", quality=85, background="#fff", timeout=60)  # doctest: +SKIP
(['clip/000000.jpg', ...], [], {'frames': [{'index': 0, 't': 0.0, 'output': 'clip/000000.jpg'}, ...]})
"""

from __future__ import annotations

import math
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from PIL import Image, ImageDraw, ImageFont, ImageStat

from .._fs import TMP_SUFFIX, Placed, make_folder, path_text, place, tmp_path_for, write_bytes_atomic
from .._outfault import ffmpeg_output_fault
from .._media import MediaInfo, Problem
from . import EXT, FileProblem, OpSpec, check_file
from . import ffmpeg_diag as ffdiag
from .ffmpeg import (
    FFMPEG_BASELINE_BYTES,
    _run,
    _src,
    ffmpeg_exe,
    ffmpeg_memory_cap,  # noqa: F401
    has_encoder,
    live_ffmpeg_pids,
    memory_in_use,
)
from . import image as iops

__all__ = [
    "ffmpeg_exe",
    "has_encoder",
    "probe_video",
    "poster_frame",
    "run_video_ops",
    "classify_ffmpeg_error",
    "live_ffmpeg_pids",
    "ffmpeg_memory_cap",
    "FFMPEG_BASELINE_BYTES",
]

#: frames decoded at once per seek-based ffmpeg call (each input holds its own decoder); fewer
#: when a worker's memory cap leaves too little for that many decoders (``_Deadline.seek_chunk``)
SEEK_CHUNK = 8
#: poster candidates, as fractions of the duration
POSTER_AT = (0.10, 0.25, 0.50, 0.75, 0.05, 0.90)


def _h264_encoder() -> str:
    for enc in ("libx264", "libopenh264"):
        if has_encoder(enc):
            return enc
    raise FileProblem("unsupported", "the bundled ffmpeg has no H.264 encoder (libx264 or libopenh264)")


class _Deadline:
    """One file's time limit; the memory this process and its ffmpeg calls may hold together
    (``memory_cap``, None: :func:`ffmpeg_memory_cap`); whether its outputs may still be put in place (``may_write``:
    false once its run is over, so a late file never replaces what a later build wrote); and the
    outputs it has put in place (``placed``), which a failure removes."""

    def __init__(
        self,
        timeout: float,
        may_write: Callable[[], bool] | None = None,
        placed: Placed | None = None,
        memory_cap: int | None = None,
        per_input: int = 0,
    ):
        self.end = time.monotonic() + timeout
        self.may_write = may_write
        self.placed = placed if placed is not None else Placed()  # every output as it lands, by name under its root
        self.memory_cap = memory_cap if memory_cap is not None else ffmpeg_memory_cap()  # seek_chunk needs it now
        self.per_input = per_input  # estimated bytes of one input's decoder (seeking opens one per time)
        self.diag: ffdiag.Diag | None = None  # what the last ffmpeg run said (ffmpeg_diag)
        self.damage: dict[str, Problem] = {}  # the file's damage warnings, one per type (ffmpeg_diag.merge)

    def room(self) -> int | None:
        """Bytes an ffmpeg may still take beyond its baseline under the memory cap (None: no cap)."""
        return None if self.memory_cap is None else self.memory_cap - memory_in_use() - FFMPEG_BASELINE_BYTES

    def seek_chunk(self) -> int:
        """Times to seek to in one ffmpeg call: ``SEEK_CHUNK``, fewer when the decoders of that
        many inputs would not fit in what the memory cap leaves now (at least 1)."""
        if self.memory_cap is None or self.per_input <= 0:
            return SEEK_CHUNK
        return max(1, min(SEEK_CHUNK, self.room() // self.per_input))

    def left(self) -> float:
        return self.end - time.monotonic()

    def run(
        self, args: Sequence[str | bytes], *, path: str, cwd: str | None = None, capture: bool = False
    ) -> tuple[int, bytes, str]:
        """:func:`_run` within this file's time left and memory cap. ffmpeg's messages are read
        (``self.diag``; what the demuxer and decoder reported goes to ``self.damage``) and the
        stderr handed back is the text at info level, as without :data:`ffmpeg_diag.LOG_ARGS`.
        A failed run raises: ``limit-exceeded`` for want of memory or for frames too large, an
        ``OutputWriteError`` when ffmpeg could not write its output in ``cwd``, else the input's
        problem (:func:`classify_ffmpeg_error`)."""
        rc, out, err = _run(
            [*ffdiag.LOG_ARGS, *args], timeout=self.left(), path=path, cwd=cwd, capture=capture, memory_cap=self.memory_cap
        )
        self.diag = ffdiag.parse(err)
        if rc != 0:
            raise (
                ffdiag.failed_run(path, self.diag)
                or (ffmpeg_output_fault(self.diag.text, cwd, path) if cwd is not None else None)
                or classify_ffmpeg_error(self.diag.text, path)
            )
        ffdiag.merge(self.damage, ffdiag.seek_damage(path, self.diag))
        return rc, out, self.diag.text

    def before_write(self, path: str) -> None:
        """Raise ``stopped`` if the run is over: checked just before each output is put in place."""
        if self.may_write is not None and not self.may_write():
            raise FileProblem("stopped", f"the run ended before {path_text(path)} was done; the next run does it")

    def put(self, path: str, rel: str, data: bytes) -> None:
        """Write output ``rel`` (under ``placed.root``) of video ``path`` atomically, if the run goes on."""
        self.before_write(path)
        write_bytes_atomic(Path(self.placed.root, rel), data, root=self.placed.root)
        self.placed.add(rel)


# --------------------------------------------------------------------------------------------
# probe
# --------------------------------------------------------------------------------------------

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
    ``memory_cap``: bytes this process and ffmpeg may hold together (None: :func:`ffmpeg_memory_cap`).

    Raises :class:`FileProblem` (``not-found``, ``permission-denied``, ``empty-file``, ``truncated``,
    ``corrupt``, ``no-video-stream``, ``timeout``, ``limit-exceeded``: also frames larger than
    ffmpeg decodes).
    """
    name = path_text(path)
    check_file(path, regular=False)
    _rc, _out, err = _run([b"-i", _src(path)], timeout=timeout, path=path, memory_cap=memory_cap)
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


# --------------------------------------------------------------------------------------------
# filters, encoders, showinfo
# --------------------------------------------------------------------------------------------

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


def _rm(paths: Iterable[str]) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# seek-based grabbing: a few frames from anywhere, fast
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# poster
# --------------------------------------------------------------------------------------------


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
        got = _grab_images(path, [t], [], dl)
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
            got = _grab_images(path, [0.0], [], dl)
            if got:
                return got[0]
        raise ffdiag.nothing_decoded(path, dl.diag)
    return best[1], best[2]


def find_poster(path: str, info: MediaInfo, *, timeout: float, memory_cap: int | None = None) -> tuple[float, Image.Image]:
    """(time, frame): a representative, not black or blank, frame as an RGB image, upright
    (rotation applied), and where it is.

    Tries 10 %, 25 %, 50 %, 75 % ... of the duration and keeps the first frame with enough
    brightness and contrast; if none has, the one with the most contrast.
    """
    dl = _Deadline(timeout, memory_cap=memory_cap)  # one seek a call: per_input not needed
    ffdiag.fits(path, info, dl.room())
    return _poster(path, info, dl)


def poster_frame(path: str, info: MediaInfo, *, timeout: float, memory_cap: int | None = None) -> Image.Image:
    """The frame of :func:`find_poster`."""
    return find_poster(path, info, timeout=timeout, memory_cap=memory_cap)[1]


# --------------------------------------------------------------------------------------------
# the ops
# --------------------------------------------------------------------------------------------


def _fmt_t(t: float) -> str:
    m, s = divmod(max(0.0, t), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def _op_frames(
    path: str, info: MediaInfo, op: OpSpec, out_dir: str, out_rel: str, ext: str, codec: list[str], background: str, dl: _Deadline
) -> tuple[list[str], list[Problem], list[dict]]:
    folder = os.path.join(out_dir, out_rel)
    make_folder(folder, root=out_dir)
    chain = _scale_filter(op.get("size"), op.get("mode") or "fit", background)
    token = secrets.token_hex(4)
    warnings: list[Problem] = []
    if op.get("count"):
        n = int(op.get("count"))
        if info.frames and n > info.frames:
            warnings.append(Problem("fewer-frames", f"{path_text(path)} has about {info.frames} frames; asked for {n}"))
        times = _targets(info, n)
        tmps = [f".{i:06d}.{ext}.{token}{TMP_SUFFIX}" for i in range(n)]
        try:
            got = _grab_files(path, times, tmps, folder, chain, codec, dl)
        except BaseException:
            _rm(os.path.join(folder, t) for t in tmps)
            raise
        seen: set[float] = set()
        pairs = []
        for tmp, t in zip(tmps, got):  # nothing decoded, or the same frame twice (more targets than frames)
            if t is None or round(t, 6) in seen:
                _rm([os.path.join(folder, tmp)])
            else:
                seen.add(round(t, 6))
                pairs.append((tmp, t))
        if not pairs:
            raise ffdiag.nothing_decoded(path, dl.diag)
        if len(pairs) < n and not warnings:
            warnings.append(ffdiag.fewer_frames(path, info, times, got))
    else:
        pre: list[str] = []
        if op.get("keyframes"):
            pre = ["-skip_frame", "nokey"]
            sel: list[str] = []
        elif op.get("every"):
            sel = [f"select='not(mod(n\\,{int(op.get('every'))}))'"]
        else:
            r = float(op.get("fps") or 1.0)
            # the first decoded frame of each 1/r-second span: decoded timestamps, right for VFR
            sel = [f"select='eq(n\\,0)+gt(floor(t*{r!r})\\,floor(prev_t*{r!r}))'"]
        vf = ",".join([*sel, "showinfo", *chain])
        pattern = f".%06d.{ext}.{token}{TMP_SUFFIX}"
        args = [
            *pre,
            "-i",
            _src(path),
            "-map",
            "0:v:0",
            "-vf",
            vf,
            "-fps_mode",
            "passthrough",
            *codec,
            "-f",
            "image2",
            "-start_number",
            "0",
            pattern,
        ]
        try:
            _rc, _o, err = dl.run(args, path=path, cwd=folder)
        except BaseException:
            _rm_pattern(folder, token)
            raise
        si = _showinfo(err)
        diag, times = dl.diag, si[min(si)] if si else []
        # decoded seconds, counted at the probe's rate, unless the frames kept reach as far (VFR)
        got_s = (
            diag.frames_decoded / info.fps
            if (diag and diag.frames_decoded is not None and info.fps and not op.get("keyframes"))
            else None
        )
        if got_s is not None and times and info.duration:
            step = int(op.get("every")) if op.get("every") else (info.fps or 25.0) / float(op.get("fps") or 1.0)
            if max(times) + step / info.fps >= 0.9 * info.duration:
                got_s = None
        ffdiag.merge(dl.damage, ffdiag.whole_decode(path, diag, got=got_s, of=info.duration, rate=info.fps), strong=True)
        files = sorted(f for f in os.listdir(folder) if f.endswith(f".{token}{TMP_SUFFIX}"))
        if len(files) != len(times):
            warnings.append(
                Problem(
                    "frame-times",
                    f"{path_text(path)}: {len(files)} frames written but {len(times)} timestamps reported; some are estimated",
                )
            )
        pairs = []
        for i, f in enumerate(files):
            t = times[i] if i < len(times) else (pairs[-1][1] if pairs else 0.0)
            pairs.append((f, t))
        if not pairs:
            raise ffdiag.nothing_decoded(path, diag)
    outs, rows = [], []
    try:
        dl.before_write(path)
        for idx, (tmp, t) in enumerate(pairs):
            rel = f"{out_rel}/{idx:06d}.{ext}"
            place(os.path.join(folder, tmp), os.path.join(out_dir, rel))
            dl.placed.add(rel)
            outs.append(rel)
            rows.append({"index": idx, "t": round(float(t), 6), "output": rel})
    except BaseException:  # a rename failed midway: the frames not yet in place go (those in place: run_video_ops)
        _rm(os.path.join(folder, tmp) for tmp, _t in pairs[len(outs) :])
        raise
    return outs, warnings, rows


def _rm_pattern(folder: str, token: str) -> None:
    try:
        names = os.listdir(folder)
    except OSError:
        return
    _rm(os.path.join(folder, f) for f in names if f.endswith(f".{token}{TMP_SUFFIX}"))


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


def _op_contact(
    path: str, info: MediaInfo, op: OpSpec, out_rel: str, fmt: str, quality: int, background: str, dl: _Deadline
) -> tuple[str, list[float], list[Problem]]:
    n = int(op.get("frames") or 16)
    cols = int(op.get("columns") or math.ceil(math.sqrt(n)))
    tw, th = op.get("size") or (320, 320)
    times = _targets(info, n)
    grabbed = _grab_images(path, times, _scale_filter((tw, th), "fit", background), dl)
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
    diag = dl.diag
    got = diag.out_time if diag else None  # seconds of video written: right for variable frame rates too
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
        diag = dl.diag
        got = diag.out_time if diag else None
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
    ffmpeg may hold together (None: :func:`ffmpeg_memory_cap`, the worker's limit on a Dask
    worker); seeking opens fewer inputs a call to stay under it, and past it the file fails as
    ``limit-exceeded``.
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
