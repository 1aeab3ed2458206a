"""Runs on the workers: ``process_batch(items, job) -> rows``. Never raises for one bad file.

Each item's outcome becomes a manifest row (a dict). As it goes, the batch appends to a small
*journal* (``OUTPUT/.dataprep/journal/<batch>.jsonl``): which item started, each finished row.
If the worker process dies (memory limit, segfault, kill), the engine reads the journal to keep
the finished rows and to know which file was running. A watchdog thread enforces the per-file
time limit: it records ``timeout`` for the hung file in the journal, then ends the worker process
(the nanny starts a fresh one), because a hung C call cannot be interrupted from Python.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

from ._fs import Placed, make_folder, path_b64, path_text, write_bytes_atomic, writing
from ._errors import OutputWriteError
from ._media import ItemResult, MediaItem, Problem, Status
from ._outfault import TYPE as OUTPUT_FAULT, file_message, is_dead
from ._ops import EXT, VIDEO_OPS, FileProblem, OpSpec

__all__ = ["JobSpec", "BatchRows", "process_batch", "EXT", "journal_path"]

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
    #: the per-worker memory limit the batches were planned for (``_planning.prepare``, read from the
    #: cluster once); 0 when unknown. What the ffmpeg memory cap is worked out from.
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


def journal_path(job: JobSpec, batch_id: str) -> str:
    return os.path.join(job.journal_dir, f"{batch_id}.jsonl")


class _Watchdog(threading.Thread):
    """Ends this worker process when one file runs past the time limit (after journalling it)."""

    def __init__(self, timeout: float, on_timeout: Callable[[int, float], None]):
        super().__init__(daemon=True, name="dataprep-watchdog")
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.current: tuple[int, float] | None = None
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(min(1.0, self.timeout / 4)):
            cur = self.current
            if cur is not None and time.monotonic() - cur[1] > self.timeout:
                self.on_timeout(cur[0], time.monotonic() - cur[1])
                os._exit(86)  # the nanny restarts the worker; the engine reads the journal

    def stop(self) -> None:
        self._done.set()


class BatchRows(list):
    """The rows of one batch, in order; ``fault`` is the :class:`OutputWriteError` that ended it
    early (the output takes no more, or its journal cannot be kept), else None."""

    fault: OutputWriteError | None = None


def process_batch(items: Sequence[MediaItem], job: JobSpec, batch_id: str = "") -> BatchRows:
    """Process every item of a batch; return one manifest row (dict) per item, in order.

    Once the run is stopped (``job.go_file`` gone) the batch ends after the file it is on and
    returns the rows it has: fewer than its items. Once the run is over (``job.alive_file`` gone)
    not even the current file's outputs are put in place. Once the output takes no more (disk
    full, read-only, ...: see :mod:`toolkit._outfault`) the batch ends at once, without decoding
    another file; the file being written gets no row, and ``rows.fault`` says what happened.
    """
    items = list(items)
    jpath = journal_path(job, batch_id) if batch_id else None
    journal = None

    def log(rec: dict) -> None:
        if journal:
            with writing(jpath):  # type: ignore[arg-type]
                journal.write(json.dumps(rec) + "\n")
                journal.flush()

    def log_quietly(rec: dict) -> None:  # from the watchdog, which must end the process whatever happens
        try:
            log(rec)
        except OSError:
            pass

    dog = _Watchdog(job.timeout, lambda i, s: log_quietly({"timeout": i, "seconds": round(s, 3)}))
    dog.start()
    rows = BatchRows()
    try:
        if jpath:
            with writing(jpath):
                make_folder(os.path.dirname(jpath), job.output)
                journal = open(jpath, "w", encoding="utf-8")  # noqa: SIM115 - one attempt per journal; closed in finally
        for i, item in enumerate(items):
            if not job.go():  # stopped, or the run is over: hand back what is done
                break
            log({"start": i})
            dog.current = (i, time.monotonic())
            try:
                row = process_item(item, job, batch_id).to_row()
            finally:
                dog.current = None
            if (row.get("error") or {}).get("type") == "stopped":
                break  # made after its run was over: no output was put in place, and no row either
            rows.append(row)  # before its journal line: a row whose journal line cannot be written still counts
            log({"done": i, "row": row})
    except OutputWriteError as exc:  # the output takes no more: no file more is decoded in vain
        rows.fault = exc
    finally:
        dog.stop()
        if journal:
            try:
                journal.close()
            except OSError:
                pass
        release_memory()
    return rows


def release_memory() -> None:
    """Hand the memory this process freed back to the system (glibc's ``malloc_trim``); called after
    every batch. Within a batch, freed buffers are reused by the next file without page faults
    (Dask's per-``free`` trimming is left out on our cluster for that); between batches, what the
    batch used is returned, so a worker's memory between batches is what it holds. Our workers
    run with one malloc arena (``cluster.ARENAS``): the trim shrinks only the main arena's top, and
    a batch runs in a Dask thread. Nothing happens where there is no glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl and others: nothing to call
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def process_item(item: MediaItem, job: JobSpec, batch_id: str = "") -> ItemResult:
    """One file, start to finish. Any failure becomes a ``failed`` result naming the file, except
    an output that takes no more (:func:`toolkit._outfault.is_dead`): that ``OutputWriteError`` is
    raised, after removing what this file had put in place, for the batch to end."""
    t0 = time.perf_counter()
    warnings: list[Problem] = []
    extra: dict[str, Any] = {}
    facts: dict[str, Any] = {}  # what ops of your own that return facts found, by op name
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
            warnings, width, height, facts = _image_item(item, job, placed)
        elif item.kind == "video":
            warnings, extra, facts = _video_item(item, job, placed)
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
    if status == "failed":
        placed.remove()  # not a file that a later build has put under the same name since (after a stop)
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
    )


def _out_name(item: MediaItem, op: OpSpec, n_image_ops: int, fmt: str) -> str:
    suffix = f".{op.name}" if n_image_ops > 1 else ""
    return f"{item.out_rel}{suffix}.{EXT[fmt]}"


def _write(job: JobSpec, item: MediaItem, rel: str, data: bytes) -> None:
    if not job.alive():  # the run ended while this file was being made: its row would never be written
        raise FileProblem("stopped", f"the run ended before {path_text(item.path)} was written; the next run does it")
    final = Path(job.output, rel)
    if final.exists() and os.path.samefile(final, item.path):  # belt and braces: never overwrite an input
        raise FileProblem("limit-exceeded", f"refusing to overwrite the input {path_text(item.path)} with an output")
    write_bytes_atomic(final, data, root=job.output)


def _image_outputs(im, item: MediaItem, job: JobSpec, ops: list[OpSpec], placed: Placed) -> dict[str, Any]:
    """Run every op that takes pixels on ``im``: write one output per op that makes an image (each
    added to ``placed`` as soon as it exists); -> the facts of the ops of your own that return facts."""
    from ._ops import image as iops

    facts: dict[str, Any] = {}
    writers = sum(o.writes_image for o in ops)
    for op in ops:
        if op.custom is None:
            out = iops.render(im, op, background=job.background)
        else:
            out = op.custom.run(im, op.kwargs, item.path)
            if not op.writes_image:
                facts[op.name] = out
                continue
        try:
            rel = _out_name(item, op, writers, job.format)
            _write(job, item, rel, iops.encode(out, job.format, job.quality, job.background))
        finally:
            if out is not im:
                out.close()
        placed.add(rel)
    return facts


def _image_item(item: MediaItem, job: JobSpec, placed: Placed) -> tuple[list[Problem], int | None, int | None, dict[str, Any]]:
    from ._ops import image as iops

    ops = [o for o in job.ops if o.takes_image and o.applies_to("image")]
    if not ops:
        return [], None, None, {}
    im, warnings = iops.load_image(
        item.path, max_pixels=job.max_pixels, allow_truncated=job.allow_truncated, draft_size=iops.combined_draft(ops)
    )
    try:
        w = item.info.width if item.info else im.width
        h = item.info.height if item.info else im.height
        facts = _image_outputs(im, item, job, ops, placed)
        return list(warnings), w, h, facts
    finally:
        im.close()


def _video_item(item: MediaItem, job: JobSpec, placed: Placed) -> tuple[list[Problem], dict, dict[str, Any]]:
    from ._ops import video as vops

    # ffmpeg gets the time left of this file's limit (90%), so its own timeout fires before the watchdog
    deadline = time.monotonic() + 0.9 * job.timeout

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    if not os.path.isdir(job.output):  # gone: the video ops would make it anew (they make their folders)
        raise OutputWriteError(errno.ENOENT, os.strerror(errno.ENOENT), job.output)
    cap = vops.ffmpeg_memory_cap(job.memory_limit)  # the limit the build planned with, as this worker's nanny applies it
    info = item.info or vops.probe_video(item.path, timeout=min(left(), 60), memory_cap=cap)
    warnings: list[Problem] = []
    extra: dict = {}
    facts: dict[str, Any] = {}
    image_ops = [o for o in job.ops if o.takes_image and o.applies_to("video")]  # on a video they use its poster frame
    # the poster frame is searched for once, when a poster op and image ops both need it
    poster = (
        vops.find_poster(item.path, info, timeout=left(), memory_cap=cap)
        if image_ops and any(o.name == "poster" for o in job.ops)
        else None
    )
    try:
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
            )
            warnings += warns
        if image_ops:
            if poster is None:
                poster = vops.find_poster(item.path, info, timeout=left(), memory_cap=cap)
            facts = _image_outputs(poster[1], item, job, image_ops, placed)
    finally:
        if poster is not None:
            poster[1].close()
    return warnings, extra, facts
