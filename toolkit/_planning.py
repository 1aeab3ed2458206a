"""Planning: items with estimated peak memory -> batches bounded by count and by bytes.

Its :func:`prepare` is the one place the batch size and byte budget are worked out, from the real
worker count and per-worker memory limit of the cluster when there is one (read once), else from
the settings and this machine: ``toolkit.plan()`` and a build both use it, so they agree.

A batch's estimate is the sum of its items' estimates (conservative: a worker frees each image
before the next, but allocator fragmentation and outputs in flight make the sum the safe bound).
The byte budget is half a worker's memory limit less its baseline, well under Dask's 0.6
``target`` fraction, so a batch never asks a worker for more than it has. An item larger than
the budget runs alone and is flagged ``oversized``.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ._fs import path_text, printable
from ._media import Batch, ItemResult, MediaItem, left_out_lines

if TYPE_CHECKING:
    from ._config import BuildConfig

__all__ = [
    "Plan",
    "prepare",
    "cluster_sizing",
    "plan_batches",
    "next_batch",
    "batch_estimate",
    "budget_for",
    "auto_batch_size",
    "tail_count",
    "batch_id",
    "WORKER_BASELINE",
]

#: Memory a worker process uses before any image (Python, dask, distributed, Pillow).
WORKER_BASELINE = 160 * 2**20
#: Fraction of the worker limit a batch may use: well under distributed's 0.6 ``target``.
BUDGET_FRACTION = 0.5
#: Automatic batches hold at most this many files of a MiB or more (~1 s of work a batch for photos).
MAX_AUTO_BATCH = 64
#: Smaller files make batches of up to about this many input bytes (at most MAX_SMALL_FILE_BATCH
#: files): a task costs the client ~10 ms of CPU however short it is, and 64 files of 1 KB take a
#: worker ~30 ms. Measured on 50,000 files of 1 KB, 2 workers: the client's CPU 16.3 -> 10.3 s
#: with 256 files a batch instead of 64.
AUTO_BATCH_BYTES = 64 * 2**20
#: The part of each file's estimate that is gone before the batch's next file starts (codec state,
#: interpreter-side buffers, the encoded output's slack: the image estimator's 2 MiB overhead). A
#: batch counts it once: counted per file, 1M files of 1 KB were planned as 5,748 batches of 174
#: against a 350 MiB budget (each estimated at ~2 MiB), though a batch of them peaks at a few MiB.
FILE_SLACK = 2 * 2**20
MAX_SMALL_FILE_BATCH = 1024


def budget_for(memory_limit: int) -> int:
    """Byte budget of one batch for a worker with ``memory_limit`` bytes.

    >>> budget_for(2 * 2**30) // 2**20
    864
    """
    return max(16 * 2**20, int(memory_limit * BUDGET_FRACTION) - WORKER_BASELINE)


def auto_batch_size(n_items: int, n_workers: int, *, per_worker: int = 16, total_bytes: int | None = None) -> int:
    """Automatic batch count (seed 001's inputs: CPUs, memory, file sizes and count; the byte
    budget bounds each batch's memory separately).

    Aim for about ``per_worker`` batches per worker so the work balances, the tail is short and
    progress moves; at least 1 file a batch, and at most 64 files of a MiB or more, or for smaller
    files (``total_bytes`` over ``n_items``) as many as make ~64 MiB, up to 1,024 files, so a
    task's fixed cost stays small next to its files' work.

    >>> auto_batch_size(1000, 2), auto_batch_size(10**6, 2), auto_batch_size(10**6, 2, total_bytes=10**9)
    (32, 64, 1024)
    """
    if n_items <= 0:
        return 1
    cap = MAX_AUTO_BATCH
    if total_bytes is not None:
        mean = max(1, total_bytes // n_items)
        cap = max(MAX_AUTO_BATCH, min(MAX_SMALL_FILE_BATCH, AUTO_BATCH_BYTES // mean))
    return max(1, min(cap, math.ceil(n_items / (max(1, n_workers) * per_worker))))


def tail_count(count: int, remaining: int, n_workers: int) -> int:
    """Automatic batches shrink near the end so the workers finish together (guided scheduling):
    a batch takes at most an equal share of what is left among the 2 batches in flight per worker.
    Without it the last full-size batch runs alone while the other workers sit idle.

    >>> [tail_count(32, left, 2) for left in (1000, 128, 40, 3)]
    [32, 32, 10, 1]
    """
    return max(1, min(count, math.ceil(remaining / (2 * max(1, n_workers)))))


def batch_id(items: Iterable[MediaItem]) -> str:
    """Deterministic ASCII id from the items' roots and paths (stable across runs: resumable)."""
    h = hashlib.sha1()
    for it in items:
        h.update(os.fsencode(it.root) + b"\0" + os.fsencode(it.rel) + b"\n")
    return "b" + h.hexdigest()[:15]


def batch_estimate(items: Iterable[MediaItem]) -> int:
    """A batch's estimated memory: its files' estimates, with the per-file slack counted once.

    >>> from toolkit._media import MediaInfo, MediaItem
    >>> tiny = MediaItem("/a.jpg", "a.jpg", "/", "image", "JPEG", 1000, 0, info=MediaInfo(32, 32, est_bytes=FILE_SLACK + 8192))
    >>> batch_estimate([tiny] * 1000) // 2**20  # 1,000 tiny files: ~10 MiB, not ~2 GiB
    9
    """
    total, slack = 0, 0
    for i in items:
        own = min(FILE_SLACK, i.est_bytes)
        total += i.est_bytes - own
        slack = max(slack, own)
    return total + slack


def _make(items: list[MediaItem], budget: int) -> Batch:
    est = batch_estimate(items)
    return Batch(id=batch_id(items), items=tuple(items), est_bytes=est, oversized=len(items) == 1 and est > budget)


def next_batch(queue: deque, *, budget: int, count: int) -> Batch | None:
    """Pop the next batch from the front of ``queue``: up to ``count`` items and ``budget`` bytes
    (:func:`batch_estimate`: the per-file slack counted once)."""
    if not queue:
        return None
    taken: list[MediaItem] = [queue.popleft()]
    slack = min(FILE_SLACK, taken[0].est_bytes)
    body = taken[0].est_bytes - slack
    while queue and len(taken) < count:
        own = min(FILE_SLACK, queue[0].est_bytes)
        if body + queue[0].est_bytes - own + max(slack, own) > budget:
            break
        body, slack = body + queue[0].est_bytes - own, max(slack, own)
        taken.append(queue.popleft())
    return _make(taken, budget)


def plan_batches(items: Sequence[MediaItem], *, budget: int, count: int) -> list[Batch]:
    """Greedy, order-preserving packing. Every item lands in exactly one batch."""
    q = deque(items)
    out = []
    while q:
        out.append(next_batch(q, budget=budget, count=count))
    return out  # type: ignore[return-value]


def _fmt(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n / 2**10:,.0f} KiB"


@dataclass
class Plan:
    """The batches of a build, their memory estimates, and the limits they were sized for."""

    batches: list[Batch]
    budget_bytes: int
    batch_size: int
    memory_limit: int
    workers: int
    warnings: list[str] = field(default_factory=list)
    #: Files that are in no batch, each with its status and reason: what the scan left out (junk,
    #: not media, special files) and what failed its probe (corrupt, too large, unreadable...).
    left_out: list[ItemResult] = field(default_factory=list)
    #: the size was chosen (``batch_size``, or one file a batch without ``batch_mode``): kept to
    #: the end, where automatic batches shrink so the workers finish together
    fixed: bool = False
    #: the memory limit the cluster's workers have (their smallest), as read from it; None when they
    #: have none (nothing restarts them, so no ffmpeg is capped: ``JobSpec.memory_limit``) or when
    #: planned without a cluster. ``memory_limit`` falls back to the settings for the batch budget.
    worker_limit: int | None = None
    #: the warning that the memory budget made some batches smaller than the ``batch_size`` asked
    #: for (also in ``warnings``; the run emits it as the batches start), else None
    capped: str | None = None

    @property
    def items(self) -> list[MediaItem]:
        return [i for b in self.batches for i in b.items]

    @property
    def oversized(self) -> list[Batch]:
        return [b for b in self.batches if b.oversized]

    def to_bag(self):
        """A ``dask.bag.Bag`` whose partitions are exactly these batches (lists of MediaItem).

        >>> # plan.to_bag().map(lambda item: item.size).sum().compute()
        """
        import dask.bag as db
        from dask.base import tokenize

        name = "dataprep-plan-" + tokenize([b.id for b in self.batches])
        dsk = {(name, i): list(b.items) for i, b in enumerate(self.batches)}
        return db.Bag(dsk, name, len(self.batches))

    def __len__(self) -> int:
        return len(self.batches)

    def __str__(self) -> str:
        return self.text()

    def text(self, words: Callable[[str], str] | None = None) -> str:
        """The plan as ``dataprep plan`` prints it; ``words`` rewords the messages of the files left
        out (the CLI shows the settings they name as flags), never a file name."""
        n = sum(len(b) for b in self.batches)
        lines = [
            f"{n} files in {len(self.batches)} batches (batch size {self.batch_size}, {self.workers} workers)",
            f"worker memory limit {_fmt(self.memory_limit)}; batch budget {_fmt(self.budget_bytes)}",
            f"{'batch':<18}{'files':>6}{'est. memory':>14}{'of budget':>11}",
        ]
        for b in self.batches[:200]:
            flag = "  OVERSIZED: runs alone" if b.oversized else ""
            lines.append(f"{b.id:<18}{len(b):>6}{_fmt(b.est_bytes):>14}{100 * b.est_bytes / self.budget_bytes:>10.0f}%{flag}")
        if len(self.batches) > 200:
            lines.append(f"... {len(self.batches) - 200} more batches")
        lines += [f"warning: {printable(w)}" for w in self.warnings]
        return "\n".join(lines + left_out_lines(self.left_out, words=words))

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(str(self)) + "</pre>"


def cluster_sizing(client: Any) -> tuple[int, int | None]:
    """(workers, their smallest memory limit or None if none has one): read once from the scheduler."""
    from ._cluster import worker_memory_limits

    limits = worker_memory_limits(client)
    return max(1, len(limits)), min((v for v in limits.values() if v), default=None)


def prepare(
    items: Sequence[MediaItem],
    cfg: BuildConfig,
    *,
    client: Any = None,
    jobs: int | None = None,
    memory_limit: int | None = None,
    batch_size: int | None = None,
    batch_mode: bool = True,
    left_out: Sequence[ItemResult] = (),
) -> Plan:
    """Plan probed ``items`` into batches: the one place the count and byte budget are decided.
    The workers and their memory limit are ``jobs``/``memory_limit`` given as arguments (a what-if),
    else the cluster's (``client``), else the settings, else this machine's defaults."""
    from ._cluster import default_jobs, default_memory_limit

    workers, worker_limit = cluster_sizing(client) if client is not None else (0, None)
    n = jobs or workers or cfg.jobs or default_jobs()
    limit = memory_limit or worker_limit or cfg.memory_limit or default_memory_limit(n, cfg.max_memory_percent)
    budget = budget_for(limit)
    bs = batch_size or cfg.batch_size
    chosen = not (batch_mode and cfg.batch_mode)
    count = 1 if chosen else (bs or auto_batch_size(len(items), n, total_bytes=sum(i.size for i in items)))
    batches = plan_batches(items, budget=budget, count=count)
    capped = capped_warning(bs, budget) if bs and any(len(b) < bs for b in batches[:-1]) else None
    warnings = [capped] if capped else []
    warnings += [
        f"{path_text(b.items[0].path)} needs about {b.est_bytes / 2**20:.0f} MiB, more than the batch budget; "
        "it runs alone and may exceed the worker limit"
        for b in batches
        if b.oversized
    ]
    return Plan(
        batches,
        budget,
        count,
        limit,
        n,
        warnings,
        list(left_out),
        fixed=chosen or bool(bs),
        worker_limit=worker_limit,
        capped=capped,
    )


def capped_warning(batch_size: int, budget: int) -> str:
    return f"batch size {batch_size} is capped by the memory budget ({budget / 2**20:.0f} MiB per batch) for some batches"
