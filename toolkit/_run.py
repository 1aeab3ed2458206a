"""A build: :class:`Run`, its control surface, and the stage sequence.

preflight (:mod:`toolkit._preflight`) -> scan -> probe -> prepare (:mod:`toolkit._planning`) ->
drive (:mod:`toolkit._driver`, deciding with :mod:`toolkit._controller`) -> curate -> export
(:mod:`toolkit._stages`) -> manifest and report. The cluster starts (or is joined) in a thread
while the files are scanned and probed: the two overlap, and a short list is probed here meanwhile.

``start(config)`` returns a :class:`Run` working in a background thread (the notebook panel uses
it; the kernel stays free). ``build(config)`` runs one to the end and shows progress.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ._config import BuildConfig
from ._errors import ConfigError, OutputWriteError, Stopped
from ._driver import Controls
from ._events import Event, EventBus
from ._fs import remove_stale_tmp
from ._index import ResumeIndex
from ._journal import salvage_journals
from ._ledger import new_progress
from ._lock import OutputLock
from ._outfault import OutputFault
from ._preflight import lock_output, require_paths, validate_paths
from ._runreport import RunReport, stopped_report
from ._session import ClusterSession
from ._planning import prepare
from ._quick import load_index, try_unchanged
from ._curation import BuildCurator
from ._stages import Curator, Identity, MirrorSink, Sink, StageContext, curate_and_export, export_sinks, exports_into
from ._store import is_url
from ._store._stage import stage_output
from ._steps import Connecting, RunParts, drive, job_for, report_on, scan_and_probe
from ._waiting import run_to_end

__all__ = ["Run", "start", "build"]


class Run:
    """A build running in the background. ``result()`` waits for its :class:`RunReport`.

    ``client``: None (a LocalCluster of its own, or the settings' ``scheduler``), an address, a
    scheduler file, a Cluster or a Client; or ``session``, a :class:`ClusterSession` kept across
    builds (the notebook panel's), which the run uses and leaves open. ``curators`` and ``exports``
    are the curate and export stages (:mod:`toolkit._stages`); the mirror tree is always written.
    """

    def __init__(
        self,
        config: BuildConfig,
        *,
        client: Any = None,
        sinks: Sequence[Callable[[Event], None]] = (),
        session: ClusterSession | None = None,
        curators: Sequence[Curator] = (),
        exports: Sequence[Sink] = (),
    ):
        require_paths(config)  # "give an output folder (`output`)" before any other word on it
        config = config.checked()  # a BuildConfig(...) made by hand has not been validated yet
        self._store = stage_output(config.output, config.inputs) if is_url(config.output) else None
        if self._store is not None:  # an object store: built in a local folder, then published (toolkit/_store)
            config = replace(config, output=str(self._store.folder))
        validate_paths(config)
        self.config = config
        self.events = EventBus(list(sinks))
        self.client = None
        self.dashboard_link: str | None = None
        self.curators: list[Curator] = list(curators) or [Identity()]
        self.exports: list[Sink] = list(exports)
        self._target = client
        self._session = session if session is not None else ClusterSession(client, dashboard_on_visit=True)
        self._owns_session = session is None
        self._controls = Controls(max_memory=config.max_memory_percent)
        self._done = threading.Event()
        self._report: RunReport | None = None
        self._error: BaseException | None = None
        self._progress = new_progress()
        self._thread = threading.Thread(target=self._main, name="dataprep-run", daemon=True)
        self._output_lock = OutputLock(config.output)  # taken by start()
        self._made_output: str | None = None
        self._fault = OutputFault(os.path.abspath(config.output))  # the output's first write error, if any

    # ---- control (thread-safe; applies to the next batch)
    def start(self) -> Run:
        """Start in the background. Raises :class:`InputError` at once if another build (here or
        in another process) is writing the same output folder."""
        from ._cluster import refuse_while_a_worker_imports_the_script

        refuse_while_a_worker_imports_the_script()
        # the folder this build makes, absolute (a later chdir changes nothing): removed again if left empty
        self._made_output = None if os.path.lexists(self.config.output) else os.path.abspath(self.config.output)
        self._output_lock = lock_output(self.config.output)
        try:
            if self._store is not None:
                self._store.hold()  # one build per output URL, across machines too
            self._thread.start()
        except BaseException:
            self._output_lock.release()
            raise
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Cancel pending batches; running ones end after the file they are on. Those still running
        after ``grace`` seconds (a slow or hung file) are abandoned with the rows their journals
        hold; a file finishing after that gets no row and is redone by the next run."""
        self._controls.grace = grace
        self._controls.stop.set()
        self._controls.wake.set()

    def _output_failed(self, exc: OutputWriteError) -> None:
        """The output could not be written (disk full, read-only, ...): stop as :meth:`stop` does,
        saying why. Running batches have ended or end on their own next write."""
        if self._fault.note(exc):
            self.events.emit("warning", message=f"stopping: {self._fault.reason['message']}")  # type: ignore[index]
        self.stop(self._controls.grace)

    def set_batch_size(self, n: int | None) -> None:
        """Change the batch size from the next batch on (None: automatic). A ``settings-changed``
        event says the size used, as the next batch is formed."""
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ConfigError(f"`batch_size`: expected a whole number >= 1 or None, got {n!r}")
        with self._controls.lock:
            self._controls.batch_size = (n,)
        self._controls.wake.set()

    def set_max_memory(self, percent: float) -> None:
        if not 1 <= float(percent) <= 100:
            raise ConfigError(f"`max_memory_percent`: expected a percent from 1 to 100, got {percent!r}")
        with self._controls.lock:  # the batch size it tells is the one in use (see Driver._tell)
            self._controls.max_memory = float(percent)
            self.events.emit(
                "settings-changed", batch_size=self._progress.get("batch_size") or None, max_memory_percent=float(percent)
            )

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def progress(self) -> dict[str, Any]:
        return dict(self._progress)

    def result(self, timeout: float | None = None) -> RunReport:
        if not self._done.wait(timeout):
            raise TimeoutError("the build is still running")
        if self._error is not None:
            raise self._error
        assert self._report is not None
        return self._report

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # ---- the stages
    def _main(self) -> None:
        try:
            self._report = self._execute()
            if self._store is not None:
                self._report = self._store.publish(self._report, verify=self.config.verify)
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc
        finally:
            if self._store is not None:
                self._store.let_go()
            self._output_lock.release()
            with contextlib.suppress(OSError):
                os.rmdir(self._output_lock.path.parent)  # .dataprep, when nothing else is in it
            if self._made_output:  # e.g. the cluster could not be reached: no empty folder is left behind
                with contextlib.suppress(OSError):
                    os.rmdir(self._made_output)
            self._done.set()

    def _execute(self) -> RunReport:
        cfg = self.config
        t_start = time.perf_counter()
        out = Path(cfg.output).absolute()
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(out)
        # journals of a run that died (SIGKILL) hold rows never put in the manifest: they count for resuming
        salvaged = salvage_journals(job_for(cfg).journal_dir)
        index = load_index(out)  # what the last run left (made from its manifest if need be)
        connecting: Connecting | None = None
        try:
            # nothing to do (files and settings as a completed run's): no cluster; callers' own stages always run
            own = self.exports or any(not isinstance(c, Identity) for c in self.curators)
            quick = (cfg, out, index, salvaged, self.events.emit, self._controls.stop.is_set, t_start)
            unchanged, scanned = (None, None) if own else try_unchanged(*quick)
            if unchanged is not None:
                return unchanged
            # the cluster starts (or is joined) while we scan and probe; whatever happens, what we made is closed
            connecting = Connecting(self._session, cfg, self._target, self._controls.stop.is_set)
            files = scan_and_probe(cfg, out, salvaged, connecting, scanned, index)  # scan -> resume -> probe
            self.client = client = connecting.ready()
            self.dashboard_link = self._session.dashboard_link
            plan = prepare(files.todo, cfg, client=client)  # sized for the cluster's real workers
            job = replace(job_for(cfg), run_id=uuid.uuid4().hex[:12], memory_limit=plan.worker_limit or 0)
            parts = RunParts(
                cfg,
                self.events,
                self._controls,
                self._fault,
                self._output_failed,
                self._progress,
                self.dashboard_link,
            )
            driven = drive(parts, client, job, plan, files, connecting.seconds)
            exports: dict[str, dict[str, Any]] = {}
            curation: dict[str, Any] | None = None
            if not driven.stopped:  # every file has its row: the stages that see the whole dataset
                ctx = StageContext(out, cfg, files.manifest, client, self.events.emit, self._controls.stop.is_set)
                curator = BuildCurator(cfg.curation, files.latest.values())  # first: the others see curated rows
                first, last = export_sinks(cfg, lambda: curator.report, self.exports)
                with self._fault.caught(self._output_failed):  # the rows stand; the report says why it stopped
                    sinks = [MirrorSink(files.stale), *first, *self.exports, *last]
                    try:
                        curate_and_export(ctx, [curator, *self.curators], sinks, exports)
                    except Stopped:  # mid-export: every row stands, finished shards stay for the next run
                        driven = replace(driven, stopped=True)
                curation = curator.report
                with contextlib.suppress(OSError):  # if not, the next run reads them again, and the manifest wins
                    files.manifest.settle()
                if not driven.stopped and self._fault.error is None:  # the index of the manifest as it now is
                    with self._fault.caught():
                        ResumeIndex.from_rows(files.manifest.rows.values(), files.items).write(out, files.manifest.path)
            return report_on(parts, files, driven, exports, time.perf_counter() - t_start, connecting.seconds, curation)
        except (Stopped, OutputWriteError) as exc:  # before any batch: the previous manifest stands
            if isinstance(exc, OutputWriteError):
                self._fault.note(exc)
            seconds = connecting.seconds if connecting else 0.0
            report = stopped_report(out, time.perf_counter() - t_start, seconds, self._fault.reason)
            self.events.emit("run-finished", report=report)
            return report
        finally:
            if connecting:
                connecting.join()
            if self._owns_session:
                self._session.close()


# --------------------------------------------------------------------------- public functions


def start(
    config: BuildConfig | None = None,
    *,
    client: Any = None,
    sinks: Sequence[Callable[[Event], None]] = (),
    session: ClusterSession | None = None,
    curators: Sequence[Curator] = (),
    exports: Sequence[Sink | str] | str = (),
    **settings: Any,
) -> Run:
    """Start a build in the background and return its :class:`Run` at once (``session``: a
    :class:`ClusterSession` kept across builds, e.g. the notebook panel's; the run leaves it open;
    ``curators``, ``exports``: the curate and export stages, as for :class:`Run`)."""
    exports = exports_into(exports, settings)
    cfg = BuildConfig.create(config, **settings) if settings or config is None else config
    return Run(cfg, client=client, sinks=sinks, session=session, curators=curators, exports=exports).start()


def build(
    config: BuildConfig | None = None,
    *,
    client: Any = None,
    progress: bool | Callable = True,
    curators: Sequence[Curator] = (),
    exports: Sequence[Sink | str] | str = (),
    **settings: Any,
) -> RunReport:
    """Run a build to the end and return its :class:`RunReport` (``curators``, ``exports``: as for
    :class:`Run`; an export's name, ``"webdataset"``, is the ``exports`` setting).

    >>> # report = toolkit.build(inputs=["photos"], output="thumbs", op="thumbnail", size=128)
    """
    exports = exports_into(exports, settings)
    cfg = BuildConfig.create(config, **settings) if settings or config is None else config
    sinks = []
    if progress:
        from ._progress import auto_sink

        sinks.append(progress if callable(progress) else auto_sink())
    run = Run(cfg, client=client, sinks=sinks, curators=curators, exports=exports).start()
    return run_to_end(run)[0]  # Ctrl-C as in the CLI: once stops, twice abandons the running batches
