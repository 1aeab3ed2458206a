"""The steps a :class:`~toolkit._run.Run` puts in sequence, each a function of what the one before made.

- :class:`Connecting`: the cluster starts (or is joined) in a thread while the files are scanned
  and probed; the two overlap (measured: the cluster's start is most of a small build's time).
- :func:`scan_and_probe`: scan, split off what earlier runs finished (resume), probe the rest.
- :func:`drive`: start the manifest, run the planned batches (:class:`~toolkit._driver.Driver`,
  deciding with :class:`~toolkit._controller.BatchController`), finish the manifest.
- :func:`report_on`: the :class:`RunReport` and ``summary.json``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ._config import BuildConfig
from ._controller import BatchController
from ._driver import Driver
from ._errors import Stopped
from ._journal import arm, clear
from ._ledger import Ledger
from ._manifest import Manifest, latest, resume_split
from ._stale import stale_outputs
from ._media import ItemResult, MediaItem
from ._runreport import RunReport
from ._planning import Plan
from ._worker import JobSpec

if TYPE_CHECKING:
    from ._index import ResumeIndex
    from ._scan import ScanResult
    from ._driver import Controls
    from ._events import EventBus
    from ._outfault import OutputFault
    from ._session import ClusterSession

__all__ = ["Connecting", "Files", "RunParts", "Driven", "scan_and_probe", "drive", "report_on", "job_for"]


@dataclass
class RunParts:
    """What :func:`drive` uses of the Run that calls it."""

    config: BuildConfig
    events: EventBus
    controls: Controls
    fault: OutputFault
    on_fault: Callable[[Any], None]  # an output that takes no more: stop, saying why
    progress: dict[str, Any]  # the Run's progress, moved on by the ledger
    dashboard_link: str | None


def job_for(cfg: BuildConfig) -> JobSpec:
    return JobSpec(
        ops=cfg.ops,
        output=os.path.abspath(cfg.output),
        format=cfg.format,
        quality=cfg.quality,
        background=cfg.background,
        max_pixels=cfg.max_pixels,
        allow_truncated=cfg.allow_truncated,
        timeout=cfg.timeout,
        settings=cfg.settings_key,
    )


class Connecting:
    """The session's client, asked for in a thread as soon as the run begins."""

    def __init__(self, session: ClusterSession, cfg: BuildConfig, target: Any, stopped: Callable[[], bool]):
        from ._cluster import prestart

        self.stopped = stopped
        self._client: Any = None
        self._error: BaseException | None = None
        self.seconds = 0.0
        t0 = time.perf_counter()
        try:
            prestart(
                target if target is not None else (cfg.scheduler or cfg.scheduler_file)
            )  # first: the fork server imports on the other core
        except Exception:  # noqa: BLE001 - connecting tries again and reports it
            pass

        def go() -> None:
            try:
                self._client = session.client(cfg, stopped)  # a Stop ends a wait for workers
            except BaseException as exc:  # noqa: BLE001 - raised by ready()
                self._error = exc
            self.seconds = time.perf_counter() - t0

        self._thread = threading.Thread(target=go, name="dataprep-connect", daemon=True)
        self._thread.start()

    def ready(self) -> Any:
        """The client, once connected; ``Stopped`` if the run is stopped while waiting."""
        while self._thread.is_alive():
            if self.stopped():
                raise Stopped("stopped while the cluster was starting")
            self._thread.join(0.1)
        if self._error is not None:
            raise self._error
        return self._client

    def join(self) -> None:
        self._thread.join()


@dataclass
class Files:
    """What scanning and probing found, and what earlier runs left."""

    todo: list[MediaItem]  # probed, to process
    left_out: list[ItemResult]  # decided before any batch: the scan's and the probe's rows
    carried: list[ItemResult]  # finished by earlier runs with the same settings
    manifest: Manifest
    earlier: list[dict]  # the rows of earlier runs (and salvaged journals), oldest first
    latest: Mapping[tuple[str, str], dict]  # the last of them for each input (keyed once: resume, then Manifest.start)
    stale: dict[tuple[str, str], set[str]]  # earlier outputs of today's files
    items: list[MediaItem]  # every file the scan found to be media (the next resume index's kinds)


def scan_and_probe(
    cfg: BuildConfig,
    out: Path,
    salvaged: list[dict],
    connecting: Connecting,
    scanned: ScanResult | None = None,
    index: ResumeIndex | None = None,
) -> Files:
    """``scanned``: the scan made already (a resume that found work); ``index``: the last run's
    resume index, so files it knows unchanged are not sniffed again."""
    from ._probe import PROBE_ON_WORKERS, probe_filter, probe_items, still_filtered
    from ._names import assign_outputs
    from ._scan import scan
    from ._sidecar import refresh_carried

    from ._curate._labels import check_labels

    stopped = connecting.stopped
    if scanned is None:
        known = index.lines if index is not None else None
        scanned = scan(cfg.inputs, exclude=[out], cancel=stopped, captions=cfg.captions, known=known)
    check_labels(cfg.labels, [*(i.rel for i in scanned.items), *(r.source for r in scanned.rows)])  # before any work
    items = assign_outputs(scanned.items, multi_root=len(cfg.inputs) > 1, output=out)
    manifest = Manifest(out)
    earlier = manifest.previous() + salvaged
    last = latest(earlier)
    todo, carried = resume_split(items, last, settings=cfg.settings_key, output=str(out), force=cfg.force)
    todo, carried = still_filtered(items, todo, carried, cfg.curation.filters)  # left out by size: while still so
    carried = refresh_carried(carried, items)  # an edited caption does not redo its image, but is read again
    # a short list is probed here while the cluster starts; a long one on the workers
    client = connecting.ready() if len(todo) > PROBE_ON_WORKERS else None
    probed, probe_rows = probe_items(
        todo, ops=cfg.ops, fmt=cfg.format, max_pixels=cfg.max_pixels, timeout=cfg.timeout, client=client, cancel=stopped
    )
    probed, filtered = probe_filter(probed, cfg.curation.filters, cfg.settings_key)  # ruled out by size: never decoded
    left_out = [*scanned.rows, *probe_rows, *filtered]
    return Files(probed, left_out, carried, manifest, earlier, last, stale_outputs(items, earlier), items)


@dataclass
class Driven:
    """What the batches did."""

    ledger: Ledger
    batches: int
    restarts: int  # worker restarts seen by the monitor
    peaks: dict[str, Any]
    stopped: bool  # stopped before every file had its row (by its user, or an output fault)


def drive(run: RunParts, client: Any, job: JobSpec, plan: Plan, files: Files, cluster_seconds: float) -> Driven:
    """Start the manifest, run the planned batches on ``client``, finish the manifest."""
    from ._monitor import Monitor

    cfg, emit, fault = run.config, run.events.emit, run.fault
    ledger = Ledger(files.manifest, fault, run.on_fault, emit, progress=run.progress)
    left_out = [r.to_row() for r in files.left_out]
    known = [r.to_row() for r in files.carried] + left_out
    with fault.caught(run.on_fault):  # then no batch starts; the previous manifest stands
        files.manifest.start(known, earlier=files.latest)
        clear(job)  # what the journals held is in the manifest now
        arm(job)
    total_bytes = sum(i.size for i in files.todo)
    ledger.begin(len(files.todo), total_bytes, plan.batch_size)
    ledger.tally(known)
    emit(
        "run-started",
        files=len(files.todo),
        bytes=total_bytes,
        batches=len(plan.batches),
        batch_size=plan.batch_size,
        budget_bytes=plan.budget_bytes,
        memory_limit=plan.memory_limit,
        workers=plan.workers,
        dashboard=run.dashboard_link,
        output=job.output,
        cluster_seconds=cluster_seconds,
        carried=len(files.carried),
        left_out=len(left_out),
    )
    for r in left_out:  # shown at once, not counted as progress
        emit("item", row=r, left_out=True)
    if plan.capped:
        emit("warning", message=plan.capped)
    controller = BatchController(
        files.todo,
        count=plan.batch_size,
        budget=plan.budget_bytes,
        fixed=plan.fixed,
        workers=plan.workers,
        memory_limit=plan.memory_limit,
        max_memory_percent=run.controls.max_memory,
        batch_mode=cfg.batch_mode,
        timeout=cfg.timeout,
        settings=cfg.settings_key,
        journal_dir=job.journal_dir,
    )
    in_flight = plan.workers * cfg.in_flight_per_worker
    driver = Driver(client, job, controller, ledger, run.controls, emit, fault, run.on_fault, in_flight)
    monitor = Monitor(client, cfg.monitor_interval, emit)
    monitor.start()
    try:
        driver.run(monitor)
    finally:
        monitor.stop()
        monitor.sample_now()
        with fault.caught():  # if not, the appended manifest stays, every line whole
            files.manifest.finish()
    stopped = (run.controls.stop.is_set() and ledger.done_files < len(files.todo)) or fault.error is not None
    # every batch is accounted for (a crash above, or an output that failed, leaves the journals
    # for the next run to salvage: they may hold rows the manifest could not take)
    if fault.error is None:
        clear(job)
    peaks = {**monitor.peaks, "worker_memory_limit": plan.memory_limit}
    return Driven(ledger, driver.batches, monitor.restarts, peaks, stopped)


def report_on(
    run: RunParts,
    files: Files,
    driven: Driven,
    exports: dict[str, dict[str, Any]],
    seconds: float,
    cluster_seconds: float,
    curation: dict[str, Any] | None = None,
) -> RunReport:
    """The run's report, and ``summary.json`` next to the manifest. ``curation``: the curator's
    report if it ran (the counts are then the curated rows': ``skipped`` grows by what curation
    left out, or shrinks back when an earlier curation is undone)."""
    fault = run.fault
    stopped = driven.stopped or fault.error is not None  # (after the batches: a curator or sink that could not write)
    report = driven.ledger.report(seconds, cluster_seconds, driven.batches, driven.restarts, driven.peaks, stopped, fault.reason)
    if curation is not None:
        counts = Counter(r["status"] for r in files.manifest.rows.values())
        report = replace(report, counts=counts, curation=curation or None)
    summary = report.summary()
    summary["resumed"] = len(files.carried)
    # source files the workers decoded in this run: one per row this run's batches returned
    # (ok, failed or skipped by a worker); carried and left-out rows decoded nothing
    summary["decoded"] = driven.ledger.done_files
    summary["stale_outputs_removed"] = exports.get("mirror", {}).get("stale_outputs_removed", 0)
    if set(exports) - {"mirror"}:
        summary["exports"] = {k: v for k, v in exports.items() if k != "mirror"}
    summary["throttle"] = [e.data for e in run.events.history if e.kind == "throttle"]
    summary["settings"] = run.config.to_dict()
    with fault.caught():  # if not, the rerun writes it; until then the report says why
        files.manifest.write_summary(summary)
    if fault.error is not None and not report.stop_reason:
        report = replace(report, stopped=True, stop_reason=fault.reason)
    run.events.emit("run-finished", report=report)
    return report
