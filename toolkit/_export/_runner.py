"""Shards written by tasks on the cluster, each atomically, skipping those already on disk.

The client plans (:mod:`._shards`), then for each split reads ``{split}.index.json``: a shard whose
file is there with the size and digest the index recorded is kept as it is; every other one is a
task (``client.submit``) that writes that one shard under a temporary name and renames it into place
(or, when they hold at most :data:`INLINE_BYTES` together, the same call made here, one after another).
Each finished shard is recorded in the index at once (atomically), so a run that stops midway (a
full disk, a stop) keeps its finished shards and the same command does only the rest. An index
entry is written only after its shard is in place: it may be stale (the next run then rewrites
that shard), never ahead of the file. At the end the index lists exactly the split's shards; shard
files of the split past them (the dataset shrank) and the files of splits no longer made are removed.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .._errors import OutputWriteError, Stopped
from .._fs import atomic_write, make_folder, writing
from ._shards import ShardPlan

if TYPE_CHECKING:
    from .._stages import StageContext

__all__ = ["run_shards", "read_index", "INLINE_BYTES"]

#: an export whose shards to write hold at most this many bytes is written by the client itself, one
#: shard after another, through the same code: below it the tasks cost more than the writing (each is a
#: round trip, and a worker's first export task loads the export's modules), while the client reads and
#: writes a few hundred MB a second. Measured on 400 samples (8 MB), webdataset + parquet: 0.42 s here
#: against 0.66 s as tasks on warm workers (benchmarks/README.md, dataset.py)
INLINE_BYTES = 128 * 1024 * 1024


def index_name(split: str, fmt: str = "webdataset") -> str:
    """``{split}.index.json``; for Parquet ``.{split}.index.json``: ``datasets`` (``data_dir=``), pyarrow,
    DuckDB, Spark and Dask pass over hidden files when they read the folder as one dataset."""
    return f"{split}.index.json" if fmt == "webdataset" else f".{split}.index.json"


def read_index(folder: Path, split: str, fmt: str) -> dict[str, Any]:
    """The split's index as written (``{}`` if none or unreadable)."""
    try:
        doc = json.loads((folder / index_name(split, fmt)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _write_index(
    folder: Path, root: Path, fmt: str, split: str, entries: list[dict[str, Any]], complete: bool, info: dict[str, Any]
) -> None:
    doc = {
        **info,
        "format": f"dataprep-{fmt}",
        "split": split,
        "complete": complete,
        "samples": sum(e["samples"] for e in entries),
        "shards": entries,
    }
    with atomic_write(folder / index_name(split, fmt), root=root) as fh:
        fh.write(json.dumps(doc, indent=1, sort_keys=True).encode())


def _kept(folder: Path, plan: ShardPlan, old: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    entry = old.get(plan.name)
    if not entry or entry.get("digest") != plan.digest:
        return None
    try:
        size = os.path.getsize(folder / plan.name)
    except OSError:
        return None
    return entry if size == entry.get("bytes") else None


def _remove_leftovers(folder: Path, fmt: str, suffix: str, plans: dict[str, list[ShardPlan]]) -> int:
    """Shards and indexes of ours that the plan no longer has (names of our pattern only)."""
    ours = re.compile(rf"^.+-\d+\.{re.escape(suffix)}$|^\.?.+\.index\.json$")
    wanted = {p.name for ps in plans.values() for p in ps} | {index_name(s, fmt) for s in plans}
    removed = 0
    for name in sorted(os.listdir(folder)):
        if ours.match(name) and name not in wanted:
            with writing(folder / name):
                os.unlink(folder / name)
            removed += 1
    return removed


class _Done:
    """What :class:`_Inline` returns: a call already made, as a future that is done."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]):
        self._error: BaseException | None = None
        self.status = "finished"
        try:
            self._value = fn(*args)
        except Exception as exc:  # noqa: BLE001 - given back by result(), as a future would
            self._error, self.status = exc, "error"

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


class _Inline:
    """No cluster (``toolkit.curate`` re-exporting a finished build): each shard is written here,
    one after another, through the same code the cluster's tasks run."""

    def submit(self, fn: Callable[..., Any], *args: Any, **_: Any) -> _Done:
        return _Done(fn, args)

    def cancel(self, futures: Any) -> None:
        pass


class _InOrder:
    """Futures as they finish without a cluster (each is done when made): in the order given."""

    def __init__(self, futures: list[Any]):
        self._queue = list(futures)

    def add(self, fut: Any) -> None:
        self._queue.append(fut)

    def __iter__(self) -> Any:
        while self._queue:
            yield self._queue.pop(0)


def _completed(client: Any, futures: list[Any]) -> Any:
    """The futures as they finish; more may be ``add``-ed while iterating."""
    if isinstance(client, _Inline):
        return _InOrder(futures)
    from distributed import as_completed

    return as_completed(futures, loop=client.loop)


def _in_flight(client: Any) -> int:
    """How many shard tasks to keep submitted: two a worker thread (each holds one shard's bytes)."""
    try:
        return max(2, 2 * sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001 - no cluster (inline), or one that cannot say: a few at a time
        return 2


def _dead(error: BaseException, root: Path) -> bool:
    """Whether no more shards are started after ``error``: a bug, or an output that takes no more
    writes (a full or read-only disk); one shard that cannot be written leaves the others to write."""
    if not isinstance(error, OutputWriteError):
        return True
    from .._outfault import is_dead

    return is_dead(error, root)


def run_shards(
    ctx: StageContext,
    folder: Path,
    fmt: str,
    suffix: str,
    plans: dict[str, list[ShardPlan]],
    task: Callable[..., dict[str, Any]],
    options: Any,
    info: dict[str, Any],
) -> dict[str, Any]:
    """Write the planned shards into ``folder`` with ``task(dest, samples, output_root, options)`` on
    the cluster, and each split's index (holding ``info`` too: the class names); -> figures (per split: shards, samples; shards written and kept; files removed;
    samples whose output went missing while they were written). Raises the
    :class:`OutputWriteError` that stopped the writing (a full or read-only disk), else the first, once
    every task has ended (the shards that were written are kept and indexed).
    Shards are submitted a few at a time (two a worker thread), so a stop (``ctx.stopped()``, where
    the context has it) submits no more: those submitted end and are indexed (a resumed export keeps
    them), then :class:`~toolkit._errors.Stopped` is raised."""
    root = Path(ctx.output)
    make_folder(folder, root)
    entries: dict[str, dict[str, dict[str, Any]]] = {}
    olds = {split: {e["name"]: e for e in read_index(folder, split, fmt).get("shards") or () if "name" in e} for split in plans}
    futures: dict[Any, ShardPlan] = {}
    todo: list[ShardPlan] = []
    run = uuid.uuid4().hex[:8]  # a key of its own: a shard that failed in an earlier call is not the scheduler's answer again
    for split, ps in plans.items():
        entries[split] = {}
        for p in ps:
            if (entry := _kept(folder, p, olds[split])) is not None:
                entries[split][p.name] = entry
            else:
                todo.append(p)

    client = ctx.client if ctx.client is not None and sum(p.bytes for p in todo) > INLINE_BYTES else _Inline()

    def submit(p: ShardPlan) -> Any:
        fut = client.submit(
            task, str(folder / p.name), p.samples, str(root), options, key=f"export-{fmt}-{p.name}-{run}", pure=False
        )
        futures[fut] = p
        return fut

    kept = sum(len(e) for e in entries.values())
    limit = _in_flight(client)
    waiting = iter(todo[limit:])
    first_error: BaseException | None = None
    dead = False  # after any shard's error, not only the first: a shard too large, then a full disk
    gone: list[str] = []
    stopped = getattr(ctx, "stopped", None) or (lambda: False)
    halted = False
    completed = _completed(client, [submit(p) for p in todo[:limit]]) if todo else ()
    for fut in completed:
        p = futures[fut]
        halted = halted or stopped()
        if not halted and not dead and (nxt := next(waiting, None)) is not None:
            completed.add(submit(nxt))  # type: ignore[union-attr]
        try:
            done = fut.result()
        except Exception as exc:  # noqa: BLE001 - an output fault, or a bug: raised once the others have ended
            fatal = _dead(exc, root)
            if first_error is None or (fatal and not dead):  # what stopped the writing, else the first
                first_error = exc
            dead = dead or fatal
            continue
        gone += done.get("missing", [])
        digest = p.digest if not done.get("missing") else None  # short of a sample: rewritten by the next run
        entries[p.split][p.name] = {"name": p.name, "samples": done["samples"], "bytes": done["bytes"], "digest": digest}
        ordered = [entries[p.split].get(q.name) or olds[p.split].get(q.name) for q in plans[p.split]]
        _write_index(folder, root, fmt, p.split, [e for e in ordered if e], complete=False, info=info)
    if first_error is not None:
        raise first_error
    if halted:
        raise Stopped(f"{fmt}: stopped after {len(futures)} of {len(todo)} shards; the same command writes the rest")
    for split, ps in plans.items():
        _write_index(folder, root, fmt, split, [entries[split][q.name] for q in ps], complete=True, info=info)
    removed = _remove_leftovers(folder, fmt, suffix, plans)
    return {
        "splits": {s: {"shards": len(ps), "samples": sum(entries[s][q.name]["samples"] for q in ps)} for s, ps in plans.items()},
        "shards_written": len(futures),
        "shards_kept": kept,
        "files_removed": removed,
        "missing_while_writing": sorted(gone),
    }
