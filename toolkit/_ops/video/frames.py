"""The ``frames`` op: frames by rate, every Nth, N spread evenly (seeking) or keyframes (one decode)."""

from __future__ import annotations

import os
import secrets


from ..._fs import TMP_SUFFIX, make_folder, path_text, place
from ..._media import MediaInfo, Problem
from .. import OpSpec
from .. import ffmpeg_diag as ffdiag
from ..ffmpeg import _src
from .command import _rm, _rm_pattern, _scale_filter, _showinfo
from .deadline import _Deadline
from .grab import _grab_files, _targets


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
        args: list[str | bytes] = [
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
        diag, times, fps = dl.said, si[min(si)] if si else [], info.fps
        # decoded seconds, counted at the probe's rate, unless the frames kept reach as far (VFR)
        got_s = diag.frames_decoded / fps if (diag.frames_decoded is not None and fps and not op.get("keyframes")) else None
        if got_s is not None and fps and times and info.duration:
            step = int(op.get("every")) if op.get("every") else fps / float(op.get("fps") or 1.0)
            if max(times) + step / fps >= 0.9 * info.duration:
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
