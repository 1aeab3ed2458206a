"""Runs on the workers: ``process_item(item, job) -> ItemResult``, one file start to finish.
Never raises for one bad file. A batch of them (journal, watchdog) is :mod:`toolkit._batch`.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._fs import Placed, path_b64, path_text, write_bytes_atomic
from ._errors import OutputWriteError
from ._facts import content_hash, file_hash, pixel_facts
from ._store import is_url
from ._media import ItemResult, MediaItem, Problem, Status
from ._sidecar import STAMP_FIELD, read_sidecars
from ._outfault import TYPE as OUTPUT_FAULT, file_message, is_dead
from ._unseen import on_this_worker
from ._ops import EXT, VIDEO_OPS, FileProblem, OpSpec

__all__ = ["JobSpec", "process_item", "EXT"]

#: test hook: files whose name contains "hang" hang their worker ("1") or take S seconds ("slow:S")
TEST_HANG_ENV = "DATAPREP_TEST_HANG"


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs besides the items (small, picklable)."""

    ops: tuple[OpSpec, ...]
    output: str
    format: str = "jpeg"
    quality: int = 85
    background: str = "#ffffff"
    max_pixels: int = 89_478_485
    allow_truncated: bool = False
    timeout: float = 300.0
    settings: str = ""
    run_id: str = ""
    #: the memory limit the cluster's workers have (``Plan.worker_limit``, read from the cluster once by
    #: ``_planning.prepare``); 0 when they have none. What the ffmpeg memory cap is worked out from: a
    #: worker without a limit is never restarted for its memory, so its ffmpeg is not capped either.
    memory_limit: int = 0

    @property
    def journal_dir(self) -> str:
        return os.path.join(self.output, ".dataprep", "journal")

    @property
    def alive_file(self) -> str:
        """Exists while the engine's run takes results (``run-<run_id>``). Once it is gone (the
        run ended, crashed, or gave up waiting after a stop) a batch writes nothing more."""
        return os.path.join(self.journal_dir, f"run-{self.run_id}") if self.run_id else ""

    @property
    def go_file(self) -> str:
        """Exists while batches may start new files (``run-<run_id>.go``); removed at a stop, so
        running batches end after the file they are on."""
        return self.alive_file + ".go" if self.run_id else ""

    def alive(self) -> bool:
        return not self.alive_file or os.path.exists(self.alive_file)

    def go(self) -> bool:  # the engine removes this marker before (or with) ``alive_file``
        return not self.go_file or os.path.exists(self.go_file)


def process_item(item: MediaItem, job: JobSpec, batch_id: str = "") -> ItemResult:
    """One file, start to finish. Any failure becomes a ``failed`` result naming the file, except
    an output that takes no more (:func:`toolkit._outfault.is_dead`): that ``OutputWriteError`` is
    raised, after removing what this file had put in place, for the batch to end."""
    t0 = time.perf_counter()
    warnings: list[Problem] = []
    extra: dict[str, Any] = {}
    facts: dict[str, Any] = {}  # what ops of your own that return facts found, by op name
    known: dict[str, Any] = {}  # the file's own facts (``_facts``): content_hash, phash, sharpness
    width = item.info.width if item.info else None
    height = item.info.height if item.info else None
    status: Status = "ok"
    error: Problem | None = None
    placed = Placed(job.output)  # every output as it lands: a failure removes those still as this file left them
    try:
        hang = os.environ.get(TEST_HANG_ENV, "")
        if hang and "hang" in os.path.basename(item.path):  # tests only: a file that hangs its worker,
            time.sleep(float(hang[5:]) if hang.startswith("slow:") else 3600)  # or ("slow:S") is slow
        if item.kind == "image":
            warnings, width, height, facts = _image_item(item, job, placed, known)
        elif item.kind == "video":
            warnings, extra, facts = _video_item(item, job, placed, known)
        if facts:
            extra = {**extra, "facts": facts}
        if not placed.names and not facts:
            status = "skipped"
            warnings.append(
                Problem(
                    "no-op",
                    f"no op in {', '.join(o.name for o in job.ops)} applies to {item.kind} files like {path_text(item.path)}",
                )
            )
    except OutputWriteError as exc:  # the output's condition, never the input's (classify never sees it)
        if is_dead(exc, job.output):
            placed.remove()
            raise
        status, error = "failed", Problem(OUTPUT_FAULT, file_message(exc, item.path, job.output))
    except FileProblem as fp:
        status, error = "failed", Problem(fp.code, fp.message)
    except MemoryError:
        status, error = (
            "failed",
            Problem("limit-exceeded", f"ran out of memory on {path_text(item.path)}; give workers more memory (`memory_limit`)"),
        )
    except Exception as exc:  # noqa: BLE001 - per-file failure is data, not an exception
        from ._ops.image import classify

        found = classify(exc, item.path)
        status, error = "failed", Problem(found.code, found.message)
    error = on_this_worker(error, item)  # a worker that cannot see the input folder the client listed: named
    if status == "failed":
        placed.remove()  # not a file that a later build has put under the same name since (after a stop)
        known = {}  # a failed row has no facts
    # the caption and metadata sidecars, read where the row is made (not on the client, at scale)
    caption, meta, sidecar_warnings, stamp = read_sidecars(item) if status != "failed" else (None, None, [], None)
    warnings += sidecar_warnings
    extra = {**extra, STAMP_FIELD: stamp} if stamp else extra  # which sidecars they were: a rebuild reads them only if changed
    outputs, bytes_out = placed.names, placed.bytes  # as they landed (none after a failure)
    return ItemResult(
        source=path_text(item.rel),
        source_b64=path_b64(item.rel),
        input_root=path_text(item.root),
        status=status,
        error=error,
        warnings=tuple(warnings),
        outputs=tuple(outputs),
        width=width,
        height=height,
        bytes_in=item.size,
        bytes_out=bytes_out,
        seconds=time.perf_counter() - t0,
        batch=batch_id or None,
        mtime_ns=item.mtime_ns,
        settings=job.settings,
        extra=extra,
        content_hash=known.get("content_hash"),
        phash=known.get("phash"),
        sharpness=known.get("sharpness"),
        output_bytes=None if status == "failed" else tuple(placed.sizes),
        caption=caption,
        meta=meta,
    )


def _out_name(item: MediaItem, op: OpSpec, n_image_ops: int, fmt: str) -> str:
    suffix = f".{op.name}" if n_image_ops > 1 else ""
    return f"{item.out_rel}{suffix}.{EXT[fmt]}"


def _write(job: JobSpec, item: MediaItem, rel: str, data: bytes) -> None:
    if not job.alive():  # the run ended while this file was being made: its row would never be written
        raise FileProblem("stopped", f"the run ended before {path_text(item.path)} was written; the next run does it")
    final = Path(job.output, rel)
    if (
        final.exists() and not is_url(item.path) and os.path.samefile(final, item.path)
    ):  # belt and braces: never overwrite an input
        raise FileProblem("limit-exceeded", f"refusing to overwrite the input {path_text(item.path)} with an output")
    write_bytes_atomic(final, data, root=job.output)


def _image_outputs(im, item: MediaItem, job: JobSpec, ops: list[OpSpec], placed: Placed) -> dict[str, Any]:
    """Run every op that takes pixels on ``im``: write one output per op that makes an image (each
    added to ``placed`` as soon as it exists); -> the facts of the ops of your own that return facts."""
    from ._ops import image as iops

    facts: dict[str, Any] = {}
    writers = sum(o.writes_image for o in ops)
    for i, op in enumerate(ops):
        if op.custom is None:
            out = iops.render(im, op, background=job.background)
        else:  # a function of yours may change what it gets: a copy when later ops need the pixels
            out = op.custom.run(im, op.kwargs, item.path, shared=i < len(ops) - 1)
            if not op.writes_image:
                facts[op.name] = out
                continue
        try:
            rel = _out_name(item, op, writers, job.format)
            _write(job, item, rel, _encoded(out, op, item, job))
        finally:
            if out is not im:
                out.close()
        placed.add(rel)
    return facts


def _encoded(out, op: OpSpec, item: MediaItem, job: JobSpec) -> bytes:
    """``out`` in the build's format. An image from an op of yours that cannot be written is that
    op's ``op-error``, never a fault of the input (as ``classify`` would take it)."""
    from ._ops import image as iops

    try:
        return iops.encode(out, job.format, job.quality, job.background)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the encoder raises on what the function made
        if op.custom is None:
            raise
        raise FileProblem(
            "op-error",
            f"op {op.name} returned an image for {path_text(item.path)} that cannot be written as {job.format} "
            f"({out.mode}, {out.width}x{out.height}): {type(exc).__name__}: {exc}",
        ) from None


def _image_item(
    item: MediaItem, job: JobSpec, placed: Placed, known: dict[str, Any]
) -> tuple[list[Problem], int | None, int | None, dict[str, Any]]:
    """``known`` gets the file's facts: the hash of the bytes read once, then decoded from memory."""
    from ._ops import image as iops

    ops = [o for o in job.ops if o.takes_image and o.applies_to("image")]
    if not ops:
        return [], None, None, {}
    data = iops.read_source(item.path)
    known["content_hash"] = content_hash(data)
    im, warnings = iops.load_image(
        item.path, max_pixels=job.max_pixels, allow_truncated=job.allow_truncated, draft_size=iops.combined_draft(ops), data=data
    )
    del data  # not held while the ops run (the memory estimate counts it only while decoding)
    try:
        known.update(pixel_facts(im))
        w = item.info.width if item.info else im.width
        h = item.info.height if item.info else im.height
        facts = _image_outputs(im, item, job, ops, placed)
        return list(warnings), w, h, facts
    finally:
        im.close()


def _video_item(
    item: MediaItem, job: JobSpec, placed: Placed, known: dict[str, Any]
) -> tuple[list[Problem], dict, dict[str, Any]]:
    """``known`` gets the file's hash (streamed: ffmpeg reads the video, not us) and, when a poster
    frame is decoded, its phash and sharpness."""
    from ._ops import video as vops

    # ffmpeg gets the time left of this file's limit (90%), so its own timeout fires before the watchdog
    deadline = time.monotonic() + 0.9 * job.timeout

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    if not os.path.isdir(job.output):  # gone: the video ops would make it anew (they make their folders)
        raise OutputWriteError(errno.ENOENT, os.strerror(errno.ENOENT), job.output)
    cap = vops.ffmpeg_memory_cap(job.memory_limit)  # the workers' limit, as this worker's nanny applies it
    info = item.info or vops.probe_video(item.path, timeout=min(left(), 60), memory_cap=cap)
    warnings: list[Problem] = []
    extra: dict = {}
    facts: dict[str, Any] = {}
    image_ops = [o for o in job.ops if o.takes_image and o.applies_to("video")]  # on a video they use its poster frame
    damage: dict[str, Problem] = {}  # what ffmpeg said of the file's data, one warning per type, from every call on it
    # the poster frame is searched for once, first when a poster op needs it (image ops and the facts use it too)
    poster = (
        vops.find_poster(item.path, info, timeout=left(), memory_cap=cap, damage=damage)
        if any(o.name == "poster" for o in job.ops)
        else None
    )
    try:
        known["content_hash"] = file_hash(item.path)
        if poster is not None:
            known.update(pixel_facts(poster[1]))
        if any(o.name in VIDEO_OPS for o in job.ops):
            # the same rule as _write: nothing is put in place once the run is over
            _outs, warns, extra = vops.run_video_ops(
                item.path,
                info,
                job.ops,
                job.output,
                item.out_rel,
                fmt=job.format,
                quality=job.quality,
                background=job.background,
                timeout=left(),
                poster=poster,
                may_write=job.alive,
                placed=placed,
                memory_cap=cap,
                damage=damage,
            )
            warnings += warns
        if image_ops:
            if poster is None:
                poster = vops.find_poster(item.path, info, timeout=left(), memory_cap=cap, damage=damage)
                known.update(pixel_facts(poster[1]))
            facts = _image_outputs(poster[1], item, job, image_ops, placed)
    finally:
        if poster is not None:
            poster[1].close()
    return warnings + list(damage.values()), extra, facts
