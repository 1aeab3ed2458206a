"""Header-only probing of items: dimensions, frames, rotation and the estimated peak memory.

Short lists are probed on the client, in chunks on 2 threads (enough to overlap disk latency;
more only fight over the GIL with the cluster starting meanwhile); long lists on the workers.
A file that fails its probe becomes a ``failed`` row right away and is never sent to a worker.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Sequence

from ._curate import Filters
from ._curate._rows import PROBE_FILTERED
from ._fs import path_b64, path_text
from ._errors import Stopped
from ._media import ItemResult, MediaItem, Problem, problem_row
from ._ops import FileProblem, OpSpec

__all__ = ["probe_items", "probe_one", "probe_filter", "still_filtered", "PROBE_ON_WORKERS"]

#: Above this many files, probing runs on the cluster.
PROBE_ON_WORKERS = 3000


def _video_available() -> bool:
    try:
        from ._ops import video  # noqa: F401
    except ImportError:
        return False
    return True


def probe_one(
    item: MediaItem, ops: tuple[OpSpec, ...], fmt: str, max_pixels: int, timeout: float = 60.0, memory_limit: int = 0
) -> MediaItem | ItemResult:
    """The item with ``info`` filled in, or a failed/skipped row. ``memory_limit``: the workers' limit
    (0: none), which caps a video's ffmpeg when this runs on a worker (``ffmpeg_memory_cap``)."""
    try:
        if item.kind == "image":
            from ._ops.image import probe_image

            if not any(o.applies_to("image") for o in ops):
                return _row(
                    item,
                    "skipped",
                    "no-op",
                    f"no op in {', '.join(o.name for o in ops)} applies to images like {path_text(item.path)}",
                )
            info = probe_image(item.path, ops=ops, fmt=fmt, max_pixels=max_pixels, sniffed=item.format)
        elif item.kind == "video":
            if not any(o.applies_to("video") for o in ops):  # ops of your own for images only: not opened
                return _row(
                    item,
                    "skipped",
                    "no-op",
                    f"no op in {', '.join(o.name for o in ops)} applies to videos like {path_text(item.path)}",
                )
            if not _video_available():
                return _row(item, "skipped", "no-op", f"{path_text(item.path)} is a video; video support is not installed")
            from ._ops.video import ffmpeg_memory_cap, probe_video

            info = probe_video(item.path, timeout=min(timeout, 60.0), memory_cap=ffmpeg_memory_cap(memory_limit))
        else:
            return _row(item, "skipped", "not-media", f"{path_text(item.path)} is not an image or video")
    except FileProblem as fp:
        return _row(item, "failed", fp.code, fp.message)
    except Exception as exc:  # noqa: BLE001
        from ._ops.image import classify

        problem = classify(exc, item.path)
        return _row(item, "failed", problem.code, problem.message)
    return replace(item, info=info)


def probe_filter(
    items: Sequence[MediaItem], filters: Filters, settings: str | None = None
) -> tuple[list[MediaItem], list[ItemResult]]:
    """Split probed items into those to decode and ``skipped`` rows for the ones the curation
    filters already rule out by their header's size (as displayed: after orientation), asked of
    :meth:`Filters.reasons` as curation asks it of a row: ``too-small``, ``aspect``. Such a file
    is never decoded and has no outputs; its row keeps its width and height, its caption and
    metadata (read here: few files, small), and ``probe_filtered``, so curation judges it again
    under other filters (:func:`toolkit._curate.apply_filters`). ``settings``: the build's resume
    key, put on the rows, so the next build with the same output settings carries such a row while
    the file is unchanged and its filters still rule it out (:func:`still_filtered`): it is neither
    probed nor are its sidecars read again (only stat'ed, as any carried row's). An item without a
    probed size (or a zero one: a video without a picture) is kept."""
    from ._sidecar import STAMP_FIELD, read_sidecars

    keep: list[MediaItem] = []
    rows: list[ItemResult] = []
    for item in items:
        w, h = (item.info.width, item.info.height) if item.info else (0, 0)
        why = filters.reasons({"source": path_text(item.rel), "width": w, "height": h}) if w > 0 and h > 0 else []
        if not why:
            keep.append(item)
            continue
        caption, meta, warnings, stamp = read_sidecars(item)
        row = _row(item, "skipped", *why[0])
        extra = {PROBE_FILTERED: True}
        rows.append(
            replace(
                row,
                warnings=row.warnings + tuple(Problem(t, m) for t, m in why[1:]) + tuple(warnings),
                width=w,
                height=h,
                caption=caption,
                meta=meta,
                settings=settings,
                extra={**extra, STAMP_FIELD: stamp} if stamp else extra,
            )
        )
    return keep, rows


def still_filtered(
    items: Sequence[MediaItem], todo: list[MediaItem], carried: list[ItemResult], filters: Filters
) -> tuple[list[MediaItem], list[ItemResult]]:
    """(todo, carried) again: a carried row the probe left out for its size (the file unchanged since)
    stays carried while today's ``filters`` rule it out by the size it records; when they no longer
    do, its file goes back to ``todo`` (in ``items``' order), to be probed and built."""
    back = {(r.input_root, r.source_b64) for r in carried if r.extra.get(PROBE_FILTERED) and not filters.reasons(r.to_row())}
    if not back:
        return todo, carried
    redo = {id(i) for i in todo}
    todo = [i for i in items if id(i) in redo or (path_text(i.root), path_b64(i.rel)) in back]
    return todo, [r for r in carried if (r.input_root, r.source_b64) not in back]


def _row(item: MediaItem, status: str, code: str, message: str) -> ItemResult:
    return problem_row(item.root, item.rel, status, code, message, size=item.size, mtime_ns=item.mtime_ns)  # type: ignore[arg-type]


def _probe_chunk(items: Sequence[MediaItem], ops, fmt, max_pixels, timeout, memory_limit: int = 0) -> list:
    from ._unseen import on_this_worker  # runs on a worker: one that cannot see the inputs is named

    rows = [probe_one(i, ops, fmt, max_pixels, timeout, memory_limit) for i in items]
    return [replace(r, error=on_this_worker(r.error, i)) if isinstance(r, ItemResult) else r for r, i in zip(rows, items)]


def probe_items(
    items: Sequence[MediaItem],
    *,
    ops: tuple[OpSpec, ...],
    fmt: str = "jpeg",
    max_pixels: int = 89_478_485,
    timeout: float = 60.0,
    client: Any = None,
    threads: int = 2,
    cancel: Callable[[], bool] | None = None,
) -> tuple[list[MediaItem], list[ItemResult]]:
    """Probe every item; -> (probed items in input order, rows for the ones that failed).

    ``cancel``: asked as the probes go; when it returns true this raises :class:`Stopped`.
    """
    stopped = cancel or (lambda: False)
    if client is not None and len(items) > PROBE_ON_WORKERS:
        from ._planning import cluster_sizing
        from ._unseen import settle  # a not-on-worker row for a file not here either: not-found

        chunk = 250
        limit = cluster_sizing(client)[1] or 0  # a worker's ffmpeg stays under its nanny's line, as in a batch
        futs = [
            client.submit(
                _probe_chunk,
                list(items[i : i + chunk]),
                ops,
                fmt,
                max_pixels,
                timeout,
                limit,
                key=f"dataprep-probe-{i // chunk}-{id(items):x}",
                pure=False,
            )
            for i in range(0, len(items), chunk)
        ]
        try:
            results = [r for f in futs for r in _result(f, stopped)]
            results = [
                replace(r, error=settle(r.error, i.path)) if isinstance(r, ItemResult) else r for r, i in zip(results, items)
            ]
        except Stopped:
            client.cancel(futs)
            raise
        except Exception:  # noqa: BLE001 - a worker died or the cluster is unwell: probe here instead
            client.cancel(futs)
            results = _probe_here(items, ops, fmt, max_pixels, timeout, threads, stopped)
    else:
        results = _probe_here(items, ops, fmt, max_pixels, timeout, threads, stopped)
    ok = [r for r in results if isinstance(r, MediaItem)]
    bad = [r for r in results if isinstance(r, ItemResult)]
    return ok, bad


def _result(future: Any, stopped: Callable[[], bool]) -> list:
    while True:
        if stopped():
            raise Stopped("stopped while probing")
        try:
            return future.result(timeout=0.25)
        except (TimeoutError, asyncio.TimeoutError):  # one class from Python 3.11 on, two before
            continue


def _probe_here(items, ops, fmt, max_pixels, timeout, threads, stopped: Callable[[], bool]) -> list:
    """Probe in this process, in chunks (a task per file would cost more than the probe itself)."""

    def chunk(part: Sequence[MediaItem]) -> list:
        return [None if stopped() else probe_one(it, ops, fmt, max_pixels, timeout) for it in part]

    size = max(16, -(-len(items) // (4 * max(1, threads))))
    parts = [items[i : i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(parts)))) as pool:
        results = [r for part in pool.map(chunk, parts) for r in part]
    if stopped():
        raise Stopped("stopped while probing")
    return results
