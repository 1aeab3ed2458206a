"""What ffmpeg's own messages say about a decode: a file cut short, decode errors and where, frames
too large to decode; and the verdict a video's row gets from them.

The ops run ffmpeg with :data:`LOG_ARGS` (``-loglevel level+verbose``): every line then carries its
level, and at its end ffmpeg prints its own counts per stream (``N frames decoded; K decode
errors``, ``N frames encoded``). :func:`parse` reads those and hands back the text at ``info``
level and above with the tags taken off, which is exactly what the ops' other readers (showinfo
timestamps, ``classify_ffmpeg_error``) read before. So checking a video costs no second decode:
the ops' own runs say what was missing or damaged, and the probe's container duration says how
much there should have been.

>>> d = parse("[in#0/mov @ 0x1] [error] stream 0, offset 0xb581: partial file\\n")
>>> d.cut, d.text
(True, '[in#0/mov @ 0x1] stream 0, offset 0xb581: partial file\\n')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from .._fs import path_text
from .._media import MediaInfo, Problem
from . import FileProblem

__all__ = [
    "LOG_ARGS",
    "Diag",
    "parse",
    "too_large",
    "fits",
    "failed_run",
    "whole_decode",
    "seek_damage",
    "fewer_frames",
    "nothing_decoded",
    "merge",
]

#: ffmpeg arguments that make :func:`parse` possible (a global option: its place in argv does not matter)
LOG_ARGS = ("-loglevel", "level+verbose")

_LEVELS = "trace|debug|verbose|info|warning|error|fatal|panic"
_RE_LINE = re.compile(rf"^((?:\[[^\]\n]*\] )*)\[({_LEVELS})\] ?(.*)$")
_RE_IN_STREAM = re.compile(
    r"Input stream #(\d+):\d+ \((\w+)\): \d+ packets read \(\d+ bytes\); "
    r"(\d+) frames decoded; (\d+) decode errors"
)
_RE_OUT_STREAM = re.compile(r"Output stream #\d+:\d+ \((\w+)\): (\d+) frames encoded")
_RE_OUT_TIME = re.compile(r"^frame=\s*\d+ .*?time=(\d+):(\d+):(\d+(?:\.\d+)?) ", re.M)
_RE_SHOWINFO_T = re.compile(r"\[Parsed_showinfo_\d+ @ [^\]]*\] n:\s*\d+ pts:\s*\S+\s+pts_time:(\S+)")
#: ffmpeg's decoder loop (fftools) says one of these for each error it counts, and for each
#: frame the decoder marks as damaged (concealed)
_RE_DECODE_ERROR = re.compile(r"\[dec:[^\]]*\] (?:Error submitting|Decoding error|corrupt decoded frame)")
#: a demuxer reading past the end of the data: the file was cut short
_RE_CUT = re.compile(r"partial file|ended prematurely|truncated", re.I)
#: (the message itself, after its contexts: a file's name is in other lines too)
_RE_BAD_SIZE = re.compile(r"^(?:\[[^\]\n]*\] )+Picture size (\d+)x(\d+) is invalid", re.M)
_RE_NOMEM = re.compile(r"^(?:\[[^\]\n]*\] )*.*(?:Cannot allocate memory|Out of memory)", re.M | re.I)

#: the largest frame ffmpeg decodes: (w + 128) * (h + 128) must stay under INT_MAX / 8
#: (libavutil's av_image_check_size)
MAX_FRAME_AREA = (2**31 - 1) // 8


@dataclass(frozen=True)
class Diag:
    """One ffmpeg run as its messages tell it."""

    text: str  # info level and above, tags removed: what the ops parsed before
    frames_decoded: int | None  # by the video decoder of each input, the largest (None: not reported)
    frames_encoded: int | None  # video frames written to the outputs (None: not reported)
    out_time: float | None  # seconds of output written, from ffmpeg's last progress line (None: not reported)
    decode_errors: int  # ffmpeg's own count (the largest of its inputs: each input decodes the same file)
    error_span: tuple[float | None, float | None] | None  # decoded times around the first and last error
    cut: bool  # the demuxer ran out of data the index promised
    bad_size: tuple[int, int] | None  # frames larger than ffmpeg decodes
    no_memory: bool  # ffmpeg could not allocate memory

    @property
    def damaged(self) -> bool:
        """Whether the decoder reported errors of its own (a cut file's last packet fails to decode:
        that is the cut, not damage)."""
        return self.decode_errors > (2 if self.cut else 0)


def parse(stderr: str) -> Diag:
    """Read an ffmpeg run's stderr made with :data:`LOG_ARGS` (without them: the text as it is,
    no counts)."""
    kept: list[str] = []
    decoded: dict[int, int] = {}
    errors: dict[int, int] = {}
    encoded: int | None = None
    last_t: float | None = None  # the last decoded time showinfo printed
    span: list[float | None] | None = None  # [time before the first error, time after the last]
    pending = False  # an error seen since the last decoded time
    seen_errors = 0
    cut = no_memory = False
    for line in stderr.splitlines(keepends=True):
        m = _RE_LINE.match(line.rstrip("\n"))
        if m is None:  # a continuation (a message printed in parts, or lines of two threads crossed)
            kept.append(line)
            continue
        prefix, level, msg = m.groups()
        if level in ("trace", "debug", "verbose"):
            s = _RE_IN_STREAM.search(msg)
            if s:
                k = int(s.group(1))
                errors[k] = errors.get(k, 0) + int(s.group(4))
                if s.group(2) == "video":
                    decoded[k] = decoded.get(k, 0) + int(s.group(3))
            o = _RE_OUT_STREAM.search(msg)
            if o and o.group(1) == "video":
                encoded = (encoded or 0) + int(o.group(2))
            continue
        plain = f"{prefix}{msg}\n" if line.endswith("\n") else f"{prefix}{msg}"
        kept.append(plain)
        if level in ("warning", "error", "fatal", "panic"):  # never a line that only names the file
            cut = cut or bool(_RE_CUT.search(msg))
            no_memory = no_memory or bool(_RE_NOMEM.search(msg))
        t = _RE_SHOWINFO_T.match(plain)
        if t:
            try:
                last_t = float(t.group(1))
            except ValueError:
                continue
            if pending and span is not None:
                span[1], pending = last_t, False
        elif _RE_DECODE_ERROR.search(plain):
            seen_errors += 1
            if span is None:
                span = [last_t, None]
            pending, span[1] = True, None
    text = "".join(kept)
    size = _RE_BAD_SIZE.search(text)
    times = _RE_OUT_TIME.findall(text)
    return Diag(
        text=text,
        frames_decoded=max(decoded.values()) if decoded else None,
        frames_encoded=encoded,
        out_time=int(times[-1][0]) * 3600 + int(times[-1][1]) * 60 + float(times[-1][2]) if times else None,
        decode_errors=max([*errors.values(), 0]) if errors else seen_errors,
        error_span=(span[0], span[1]) if span is not None else None,
        cut=cut,
        bad_size=(int(size.group(1)), int(size.group(2))) if size else None,
        no_memory=no_memory,
    )


# --------------------------------------------------------------------------------------------
# too large for the worker, or for ffmpeg
# --------------------------------------------------------------------------------------------


def too_large(path: str, width: int, height: int) -> FileProblem:
    return FileProblem(
        "limit-exceeded",
        f"{path_text(path)} has frames of {width}x{height}, larger than ffmpeg "
        "decodes (about 268 megapixels at most); it cannot be processed",
    )


def min_decode_bytes(width: int, height: int) -> int:
    """The least an ffmpeg decoding one ``width`` x ``height`` video needs besides its baseline:
    two decoded frames (4:2:0) and one RGB frame out of the scaler."""
    return int(width * height * (2 * 1.5 + 3))


def fits(path: str, info: MediaInfo, room: int | None) -> None:
    """Raise ``limit-exceeded`` before any decoding when ``info``'s frames cannot be decoded at
    all (ffmpeg's own size limit) or not within ``room`` bytes (what the worker's memory line
    leaves for an ffmpeg and its baseline; None: no line)."""
    w, h = info.width or 0, info.height or 0
    if (w + 128) * (h + 128) >= MAX_FRAME_AREA:
        raise too_large(path, w, h)
    need = min_decode_bytes(w, h)
    if room is not None and need > room:
        raise FileProblem(
            "limit-exceeded",
            f"{path_text(path)} has frames of {w}x{h}: decoding them needs at "
            f"least {need / 2**20:,.0f} MiB, and its worker has "
            f"{max(0, room) / 2**20:,.0f} MiB left under its memory limit; give "
            "workers more memory (`memory_limit`) or run fewer per machine (`jobs`)",
        )


def failed_run(path: str, diag: Diag) -> FileProblem | None:
    """A run that failed for want of memory or for frames too large: ``limit-exceeded``, not
    ``corrupt`` (None: some other failure, for ``classify_ffmpeg_error``)."""
    if diag.bad_size:
        return too_large(path, *diag.bad_size)
    if diag.no_memory:
        return FileProblem(
            "limit-exceeded",
            f"ffmpeg ran out of memory decoding {path_text(path)}; give workers "
            "more memory (`memory_limit`) or run fewer per machine (`jobs`)",
        )
    return None


# --------------------------------------------------------------------------------------------
# the verdict: what a damaged video's row says
# --------------------------------------------------------------------------------------------


def _span(diag: Diag) -> str:
    if diag.error_span is None:
        return ""
    a, b = diag.error_span
    if a is None and b is None:
        return ""
    if b is None:
        return f" after t={a:.1f} s"
    return f" between t={a or 0.0:.1f} s and t={b:.1f} s"


def _errors(path: str, diag: Diag, where: str, decoded: str = "") -> Problem:
    n = diag.decode_errors
    return Problem(
        "decode-errors",
        f"ffmpeg reported {n} decode error{'s' if n != 1 else ''} in {path_text(path)}"
        f"{where}: frames there are missing or damaged{decoded} (a damaged copy?)",
    )


def _cut(path: str, got: float | None, of: float | None, where: str = "") -> Problem:
    what = f"decoded {got:.1f} s of {of:.1f} s" if got is not None and of else "its data ends before its index says"
    return Problem(
        "truncated", f"{path_text(path)} is cut short{where}: {what}; the rest is missing (an interrupted copy or recording?)"
    )


def whole_decode(
    path: str, diag: Diag, *, got: float | None, of: float | None, rate: float | None, where: str = ""
) -> list[Problem]:
    """Warnings for a run that decoded the video from its start (frames by rate, transcode) or a
    part of it (a clip, ``where``: which part, for the message): ``truncated`` when its data ran out
    (the demuxer said so, or it decoded ``got`` seconds where the container holds ``of``, short
    by more than a tenth and two frames at ``rate``) and ``decode-errors`` when the decoder
    reported errors (with the decoded times around them, when the run printed them; frames that
    failed to decode also make a run short, which is then not a cut). For a part, only its being
    short counts: ffmpeg's demuxer reads on past the part's end and meets a cut beyond it too."""
    out: list[Problem] = []
    short = got is not None and of is not None and of - got > max(0.1 * of, 2 / (rate or 25.0))
    cut = diag.cut and not where
    damaged = diag.damaged
    if cut or (short and not damaged):
        out.append(_cut(path, got, of, where))
    if damaged:
        decoded = f" (decoded {got:.1f} s of {of:.1f} s)" if short and not cut else ""
        out.append(_errors(path, diag, where or _span(diag), decoded))
    return out


def seek_damage(path: str, diag: Diag) -> list[Problem]:
    """Warnings for a run that seeked to a few times (frames by count, poster, contact sheet):
    what the demuxer and decoder said on the way (which frames it gave is the op's to say)."""
    out = [_cut(path, None, None)] if diag.cut else []
    if diag.damaged:
        out.append(_errors(path, diag, ""))  # the times it printed are of the frames it kept, not the errors
    return out


def fewer_frames(path: str, info: MediaInfo, times: Sequence[float], got: Iterable[float | None]) -> Problem:
    """``fewer-frames`` for seeking to ``times`` that gave the frames decoded at ``got`` (None:
    no frame), repeats dropped. When the times up to the last real frame each gave one and none
    after it gave any, the video has nothing decodable after that frame, and the message says so."""
    name = path_text(path)
    real = sorted({round(t, 6) for t in got if t is not None})
    later = [want for want in times if real and want > real[-1]]
    if real and later and len(real) + len(later) == len(times) and info.duration:
        return Problem(
            "fewer-frames",
            f"{name}: {len(real)} of {len(times)} frames; nothing could be decoded after "
            f"t={real[-1]:.1f} s of {info.duration:.1f} s",
        )
    return Problem(
        "fewer-frames",
        f"{name}: {len(real)} distinct frames of {len(times)} asked for (the video has "
        "fewer frames, or parts that do not decode)",
    )


def nothing_decoded(path: str, diag: Diag | None) -> FileProblem:
    """The failure when no frame at all came out: ``truncated`` if the data ran out, else ``corrupt``."""
    if diag is not None and diag.cut:
        return FileProblem(
            "truncated", f"{path_text(path)} is cut short: no frame of it could be decoded (an interrupted copy or recording?)"
        )
    errs = f" (ffmpeg reported {diag.decode_errors} decode errors)" if diag is not None and diag.decode_errors else ""
    return FileProblem("corrupt", f"no frame could be decoded from {path_text(path)}{errs}")


def merge(have: dict[str, Problem], new: list[Problem], *, strong: bool = False) -> None:
    """Keep one damage warning per type for a file: the first, or a ``strong`` one (from a run
    that decoded from the start, so it can say how much) over a weaker one."""
    for p in new:
        if strong or p.type not in have:
            have[p.type] = p
