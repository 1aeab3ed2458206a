"""The one orchestrator: scan -> probe -> plan -> run on the cluster -> manifest -> report.

``start(config)`` returns a :class:`Run` working in a background thread (the notebook panel uses
it; the kernel stays free). ``build(config)`` runs one to the end and shows progress.

The run loop keeps only ``in_flight_per_worker`` batches per worker submitted (backpressure),
so a pause takes effect at once. Each batch is a one-partition ``dask.bag`` mapped with
``process_batch`` and computed as one future. When system memory reaches
``max_memory_percent`` the loop stops submitting, waits for running batches, halves the batch
budget (count and bytes) and resumes; after a calm spell it grows back toward the plan.
A batch whose worker dies is split: the rows it finished are kept (from its journal), the file
that was running is retried alone and the rest go on; a file that kills its worker alone is
``failed`` with ``worker-killed`` (or ``timeout`` if the watchdog ended it).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ._fs import make_folder, nearest_existing, path_text, remove_stale_tmp, writing
from ._lock import OutputBusy, OutputLock, holder_text
from ._config import BuildConfig
from ._errors import ConfigError, InputError, OutputWriteError, Stopped
from ._events import Event, EventBus
from ._manifest import Manifest, remove_outputs, resume_split, stale_outputs
from ._media import Batch, MediaItem, RunReport, ok_warning_types, problem_row
from ._outfault import OutputFault, fix_for, is_dead
from ._plan import Plan, auto_batch_size, budget_for, next_batch, plan_batches, tail_count
from ._worker import JobSpec, journal_path, process_batch

__all__ = ["Run", "start", "build", "plan", "validate_paths"]

GROW_AFTER_CALM_SAMPLES = 8  # ~8 s under the threshold before growing back


# --------------------------------------------------------------------------- validation


def _lock_output(output: str) -> OutputLock:
    """The output folder's lock, held (made with the folder if need be), or a clear InputError."""
    lock = OutputLock(output)
    try:
        lock.acquire()
    except OutputBusy as busy:  # the holder named, or said to have just started: never left out
        raise InputError(
            f"output {path_text(output)} is in use by another build ({holder_text(busy.holder)}); wait for it to end, "
            "or choose another output folder (--output)"
        ) from None
    except OSError as exc:
        fix = fix_for(exc, output) if is_dead(exc, output) else "check the path and its permissions (--output)"
        raise InputError(f"output {path_text(output)} cannot be used: {exc.strerror or exc}; {fix}") from None
    return lock


def _require_paths(cfg: BuildConfig) -> None:
    if not cfg.inputs:
        raise ConfigError("inputs: give at least one input folder (--input DIR)")
    if not cfg.output:
        raise ConfigError("output: give an output folder (--output DIR)")


def validate_paths(cfg: BuildConfig) -> None:
    """Misuse is reported before any work starts."""
    _require_paths(cfg)

    def ident(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def chain(path: str) -> list[tuple[int, int]]:  # the folder and every folder above it, by identity
        ids, p = [], os.path.abspath(path)
        while True:
            i = ident(p)
            if i is not None:
                ids.append(i)
            parent = os.path.dirname(p)
            if parent == p:
                return ids
            p = parent

    out_id = ident(cfg.output)  # None while it does not exist yet
    seen: dict[tuple[int, int], tuple[str, set[tuple[int, int]]]] = {}  # id -> (input, its chain)
    for inp in cfg.inputs:
        if not os.path.exists(inp):
            raise InputError(f"input {path_text(inp)} does not exist; check the path (--input)")
        in_id, in_chain = ident(inp), set(chain(inp))
        if in_id == out_id:  # by identity: also through a link, a bind mount or another spelling of the name
            raise InputError(
                f"output {path_text(cfg.output)} is the same folder as input {path_text(inp)}; "
                "choose a separate output folder so inputs are never overwritten"
            )
        if out_id is not None and out_id in in_chain:
            raise InputError(
                f"input {path_text(inp)} lies inside the output folder {path_text(cfg.output)}; "
                "choose an output folder outside the inputs"
            )
        for other_id, (other, other_chain) in seen.items():
            if other_id in in_chain or in_id in other_chain:
                raise InputError(
                    f"inputs {path_text(other)} and {path_text(inp)} overlap (one is, or is inside, the other); "
                    "give each folder once"
                )
        seen[in_id] = (inp, in_chain)
    if os.path.exists(cfg.output) and not os.path.isdir(cfg.output):
        raise InputError(f"output {path_text(cfg.output)} exists and is not a folder")
    _check_output_is_ours(cfg.output)
    parent = nearest_existing(cfg.output)
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        raise InputError(
            f"output {path_text(cfg.output)} is on a read-only file system; "
            f"{fix_for(OSError(errno.EROFS, os.strerror(errno.EROFS), parent), cfg.output)}"
        )
    if not os.access(parent, os.W_OK):
        raise InputError(f"output {path_text(cfg.output)} is not writable; check its permissions")


_FOLDER_FURNITURE = frozenset({"lost+found", ".ipynb_checkpoints", ".Trashes", ".Spotlight-V100", ".fseventsd"})


def _check_output_is_ours(output: str) -> None:
    """An existing output folder must be empty or one dataprep wrote (it holds our manifest or our
    ``.dataprep`` folder): outputs are written over same-named files, so a folder of other files
    (the user's originals, another tool's dataset) is refused rather than overwritten."""
    from ._exclude import is_output_folder
    from ._scan import is_junk

    try:
        names = os.listdir(output)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(
            f"output {path_text(output)} cannot be read: {exc.strerror or exc}; check the path and its permissions (--output)"
        ) from None
    if is_output_folder(output, names, empty_manifest=True):  # a build killed as it began leaves an empty one
        return
    # what a disk or a desktop puts in any folder: not anybody's data, and never an output's name
    foreign = sorted(n for n in names if not (is_junk(n) or n in _FOLDER_FURNITURE or n.startswith(".Trash-")))
    if foreign:
        shown = ", ".join(path_text(n) for n in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise InputError(
            f"output {path_text(output)} already holds files that dataprep did not write ({shown}); "
            "outputs would overwrite same-named files there. Choose a new or empty folder (--output), "
            "or move those files away"
        )


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


# --------------------------------------------------------------------------- the run


@dataclass
class _Flight:
    batch: Batch
    future: Any
    started: float
    alone_retry: bool = False
    bystander: int = 0  # times resubmitted because it was queued on a worker that died


class Run:
    """A build running in the background. ``result()`` waits for its :class:`RunReport`."""

    def __init__(self, config: BuildConfig, *, client: Any = None, sinks: Sequence[Callable[[Event], None]] = ()):
        _require_paths(config)  # "give an output folder (--output DIR)" before any other word on it
        config = config.checked()  # a BuildConfig(...) made by hand has not been validated yet
        validate_paths(config)
        self.config = config
        self.events = EventBus(list(sinks))
        self.client = None
        self._target = client  # None, an address, a scheduler file, a Cluster or a Client
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._stop_grace = 5.0
        self._done = threading.Event()
        self._report: RunReport | None = None
        self._error: BaseException | None = None
        self._lock = threading.RLock()  # a sink may call set_batch_size from inside an event
        self._count_override: int | None = None
        self._count_override_set = False
        self._max_memory = config.max_memory_percent
        self._progress = {
            "files_done": 0,
            "files_total": 0,
            "bytes_done": 0,
            "bytes_total": 0,
            "batch_size": 0,
            "eta_seconds": None,
            "failed": 0,
        }
        self._thread = threading.Thread(target=self._main, name="dataprep-run", daemon=True)
        self._output_lock = OutputLock(config.output)  # taken by start()
        self._made_output: str | None = None
        self._fault = OutputFault(os.path.abspath(config.output))  # the output's first write error, if any
        self.dashboard_link: str | None = None

    # ---- control (thread-safe; applies to the next batch)
    def start(self) -> "Run":
        """Start in the background. Raises :class:`InputError` at once if another build (here or
        in another process) is writing the same output folder."""
        from ._cluster import refuse_while_a_worker_imports_the_script

        refuse_while_a_worker_imports_the_script()
        # the folder this build makes, absolute (a later chdir changes nothing): removed again if left empty
        self._made_output = None if os.path.lexists(self.config.output) else os.path.abspath(self.config.output)
        self._output_lock = _lock_output(self.config.output)
        try:
            self._thread.start()
        except BaseException:
            self._output_lock.release()
            raise
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Cancel pending batches; running ones end after the file they are on. Those still running
        after ``grace`` seconds (a slow or hung file) are abandoned with the rows their journals
        hold; a file finishing after that gets no row and is redone by the next run."""
        self._stop_grace = grace
        self._stop.set()
        self._wake.set()

    def _output_failed(self, exc: OutputWriteError) -> None:
        """The output could not be written (disk full, read-only, ...): stop as :meth:`stop` does,
        saying why. Running batches have ended or end on their own next write."""
        if self._fault.note(exc):
            self.events.emit("warning", message=f"stopping: {self._fault.reason['message']}")  # type: ignore[index]
        self.stop(self._stop_grace)

    def set_batch_size(self, n: int | None) -> None:
        """Change the batch size for the next batches (None: automatic)."""
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ConfigError(f"batch_size: expected a whole number >= 1 or None, got {n!r}")
        with self._lock:
            self._count_override = n
            self._count_override_set = True
            self.events.emit("settings-changed", batch_size=n, max_memory_percent=self._max_memory)
        self._wake.set()

    def set_max_memory(self, percent: float) -> None:
        if not 1 <= float(percent) <= 100:
            raise ConfigError(f"max_memory_percent: expected a percent from 1 to 100, got {percent!r}")
        self._max_memory = float(percent)
        self.events.emit("settings-changed", batch_size=self._count_override, max_memory_percent=self._max_memory)

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

    # ---- the work
    def _main(self) -> None:
        try:
            self._report = self._execute()
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc
        finally:
            self._output_lock.release()
            with contextlib.suppress(OSError):
                os.rmdir(self._output_lock.path.parent)  # .dataprep, when nothing else is in it
            if self._made_output:  # e.g. the cluster could not be reached: no empty folder is left behind
                with contextlib.suppress(OSError):
                    os.rmdir(self._made_output)
            self._done.set()

    def _connect_async(self) -> tuple[threading.Thread, dict]:
        from ._cluster import prestart

        box: dict[str, Any] = {}
        cfg = self.config
        target = self._target if self._target is not None else (cfg.scheduler or cfg.scheduler_file)
        t0 = time.perf_counter()
        try:
            prestart(target)  # before anything else here: the fork server imports on the other core
        except Exception:  # noqa: BLE001 - connect() tries again and reports it
            pass

        def go() -> None:
            try:
                from ._cluster import connect

                box["client"] = connect(
                    target,
                    jobs=cfg.jobs,
                    memory_limit=cfg.memory_limit,
                    dashboard_address=cfg.dashboard_address,
                    max_memory_percent=cfg.max_memory_percent,
                    dashboard_on_visit=True,
                )
                box["owns_client"] = box["client"] is not target  # we made this Client: we close it
                box["owns_cluster"] = target is None  # we made the LocalCluster too
            except BaseException as exc:  # noqa: BLE001
                box["error"] = exc
            box["seconds"] = time.perf_counter() - t0

        t = threading.Thread(target=go, name="dataprep-connect", daemon=True)
        t.start()
        return t, box

    def _execute(self) -> RunReport:
        cfg = self.config
        t_start = time.perf_counter()
        out = Path(cfg.output).absolute()
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(out)
        # journals left by a run that died (SIGKILL, power cut) hold rows it finished but never
        # put in the manifest: they count for resuming; they are removed once the manifest has them
        salvaged = salvage_journals(job_for(self.config).journal_dir)
        # the cluster starts (or is joined) while we scan and probe; whatever happens, what we made is closed
        connect_thread, box = self._connect_async()
        try:
            return self._prepare_and_run(out, t_start, connect_thread, box, salvaged)
        except (Stopped, OutputWriteError) as exc:  # before any batch: the previous manifest stands
            if isinstance(exc, OutputWriteError):
                self._fault.note(exc)
            report = RunReport(
                output=str(out),
                manifest=str(out / "manifest.jsonl"),
                counts={},
                errors={},
                bytes_in=0,
                bytes_out=0,
                seconds=time.perf_counter() - t_start,
                cluster_seconds=box.get("seconds", 0.0),
                batches=0,
                worker_restarts=0,
                files_per_second=0.0,
                failures=(),
                stopped=True,
                peaks={},
                stop_reason=self._fault.reason,
            )
            self.events.emit("run-finished", report=report)
            return report
        finally:
            connect_thread.join()
            client = box.get("client")
            if client is not None and box.get("owns_client"):
                cluster = getattr(client, "cluster", None) if box.get("owns_cluster") else None
                try:
                    client.close()
                    if cluster is not None:
                        cluster.close()
                except Exception:  # noqa: BLE001
                    pass

    def _prepare_and_run(
        self, out: Path, t_start: float, connect_thread: threading.Thread, box: dict, salvaged: list[dict]
    ) -> RunReport:
        from . import _probe as probe_mod
        from ._probe import probe_items
        from ._scan import assign_outputs, scan

        cfg = self.config
        stopped = self._stop.is_set
        scanned = scan(cfg.inputs, exclude=[out], cancel=stopped)
        items = assign_outputs(scanned.items, multi_root=len(cfg.inputs) > 1, output=out)
        manifest = Manifest(out)
        earlier = manifest.previous() + salvaged
        todo, carried = resume_split(items, earlier, settings=cfg.settings_key, output=str(out), force=cfg.force)
        stale = stale_outputs(items, earlier)  # earlier outputs of today's files

        def cluster_ready():
            while connect_thread.is_alive():
                if stopped():
                    raise Stopped("stopped while the cluster was starting")
                connect_thread.join(0.1)
            if "error" in box:
                raise box["error"]
            self.client = box["client"]
            return self.client

        # a short list is probed here while the cluster starts; a long one on the workers
        on_workers = len(todo) > probe_mod.PROBE_ON_WORKERS
        probed, probe_rows = probe_items(
            todo,
            ops=cfg.ops,
            fmt=cfg.format,
            max_pixels=cfg.max_pixels,
            timeout=cfg.timeout,
            client=cluster_ready() if on_workers else None,
            cancel=stopped,
        )
        client = cluster_ready()
        try:
            self.dashboard_link = client.dashboard_link
        except Exception:  # noqa: BLE001
            self.dashboard_link = None
        return self._run_batches(
            client, out, scanned.rows, carried, probe_rows, probed, t_start, box.get("seconds", 0.0), manifest, earlier, stale
        )

    def _run_batches(
        self,
        client,
        out: Path,
        scan_rows,
        carried,
        probe_rows,
        probed: list[MediaItem],
        t_start: float,
        cluster_seconds: float,
        manifest: Manifest,
        earlier: list[dict],
        stale: dict[tuple[str, str], set[str]],
    ) -> RunReport:
        from ._cluster import worker_memory_limits
        from ._monitor import Monitor

        cfg = self.config
        job = replace(job_for(cfg), run_id=uuid.uuid4().hex[:12])
        limits = [v for v in worker_memory_limits(client).values() if v] or [cfg.memory_limit or 2**31]
        n_workers = max(1, len(limits))
        memory_limit = min(limits)
        planned_budget = budget_for(memory_limit)
        total_bytes = sum(i.size for i in probed)
        if not cfg.batch_mode:
            planned_count = 1
        elif cfg.batch_size:
            planned_count = cfg.batch_size
        else:
            planned_count = auto_batch_size(len(probed), n_workers, total_bytes=total_bytes)
        budget, count = planned_budget, planned_count
        fixed = bool(cfg.batch_size) or not cfg.batch_mode  # a size the user chose is kept to the end

        left_out = [r.to_row() for r in [*scan_rows, *probe_rows]]  # decided before any batch
        known = [r.to_row() for r in carried] + left_out
        with self._fault.caught(self._output_failed):  # then no batch starts; the previous manifest stands
            manifest.start(known, earlier=earlier)
            shutil.rmtree(job.journal_dir, ignore_errors=True)  # what they held is in the manifest now
            _arm(job)
        queue: deque[MediaItem] = deque(probed)
        ready: deque[tuple[Batch, bool, int]] = deque()  # retried batches first: (batch, alone, bystander count)
        self._progress.update(files_total=len(probed), bytes_total=total_bytes, batch_size=count)
        counts: Counter = Counter()
        errors: Counter = Counter()
        warned: Counter = Counter()  # warning types on files that finished ok (kept, but not quite whole)
        failures: list[tuple[str, str, str]] = []
        bytes_in = bytes_out = 0
        batches_run = 0
        done_files = done_bytes = 0
        t_work = time.perf_counter()

        def tally(r: dict) -> None:
            nonlocal bytes_in, bytes_out
            counts[r["status"]] += 1
            bytes_in += r.get("bytes_in") or 0
            bytes_out += r.get("bytes_out") or 0
            warned.update(ok_warning_types(r))
            if r["status"] == "failed":
                errors[r["error"]["type"]] += 1
                if len(failures) < 50:
                    failures.append((r["source"], r["error"]["type"], r["error"]["message"]))

        def account(rows: list[dict]) -> None:
            nonlocal done_files, done_bytes
            with self._fault.caught(self._output_failed):  # if not, the rows stay in their journals for the next run
                manifest.append(rows)
            for r in rows:
                tally(r)
                self.events.emit("item", row=r)
            done_files += len(rows)
            done_bytes += sum(r.get("bytes_in") or 0 for r in rows)
            rate = done_bytes / max(1e-6, time.perf_counter() - t_work)
            eta = (total_bytes - done_bytes) / rate if rate > 0 else None
            self._progress.update(
                files_done=done_files, bytes_done=done_bytes, eta_seconds=eta, failed=counts["failed"], batch_size=count
            )

        for r in known:
            tally(r)

        first_plan = plan_batches(list(queue), budget=budget, count=count)
        self.events.emit(
            "run-started",
            files=len(probed),
            bytes=total_bytes,
            batches=len(first_plan),
            batch_size=count,
            budget_bytes=budget,
            memory_limit=memory_limit,
            workers=n_workers,
            dashboard=self.dashboard_link,
            output=str(out),
            cluster_seconds=cluster_seconds,
            carried=len(carried),
            left_out=len(scan_rows) + len(probe_rows),
        )
        for r in left_out:  # shown at once, not counted as progress
            self.events.emit("item", row=r, left_out=True)
        if cfg.batch_size and any(len(b) < cfg.batch_size for b in first_plan[:-1]):
            self.events.emit(
                "warning",
                message=f"batch size {cfg.batch_size} is capped by the memory budget "
                f"({budget / 2**20:.0f} MiB per batch) for some batches",
            )

        monitor = Monitor(client, cfg.monitor_interval, self.events.emit)
        monitor.start()
        in_flight: dict[Any, _Flight] = {}
        max_flight = max(1, n_workers * cfg.in_flight_per_worker)
        paused = False
        calm = 0
        stopping_since: float | None = None

        try:
            while queue or ready or in_flight:
                # ---- stop
                if self._stop.is_set():
                    if stopping_since is None:
                        stopping_since = time.monotonic()
                        queue.clear()
                        ready.clear()
                        _disarm(job.go_file)  # running batches end after their current file
                        self.events.emit(
                            "warning", message="stopping: pending batches cancelled; running ones end after their current file"
                        )
                    if time.monotonic() - stopping_since > self._stop_grace:
                        _disarm(job.alive_file)  # from now on, what they make is not taken
                        client.cancel([f.future for f in in_flight.values()], force=True)
                        for fl in in_flight.values():  # keep what the running batches finished
                            done_rows = _read_journal(journal_path(job, fl.batch.id))[0]
                            if done_rows:
                                account(done_rows)
                        in_flight.clear()
                        break
                # ---- throttling
                mem = (monitor.latest.get("system") or {}).get("memory_percent")
                if mem is not None and stopping_since is None:
                    if not paused and mem >= self._max_memory and (queue or ready):
                        paused = True
                        calm = 0
                        self._throttle("pause", mem, count, budget, f"system memory {mem:.0f}% >= max {self._max_memory:.0f}%")
                    elif paused and not in_flight:
                        count = max(1, count // 2)
                        budget = max(16 * 2**20, budget // 2)
                        self._progress["batch_size"] = count
                        self._throttle("shrink", mem, count, budget, "running batches finished; smaller batches from now on")
                        paused = False
                        self._throttle("resume", mem, count, budget, "submitting again")
                    elif not paused and mem < self._max_memory - 10 and (count < planned_count or budget < planned_budget):
                        calm += 1
                        if calm >= GROW_AFTER_CALM_SAMPLES:
                            calm = 0
                            count = min(planned_count, count * 2)
                            budget = min(planned_budget, budget * 2)
                            self._progress["batch_size"] = count
                            self._throttle("grow", mem, count, budget, f"memory calm below {self._max_memory - 10:.0f}%")
                    else:
                        calm = 0
                # ---- submit
                while not paused and stopping_since is None and len(in_flight) < max_flight and (ready or queue):
                    # a live change applies to the very next batch formed; under the lock its
                    # settings-changed event and this batch-started come in the order they happened
                    with self._lock:
                        if self._count_override_set:
                            self._count_override_set = False
                            planned_count = self._count_override or (
                                auto_batch_size(len(queue), n_workers, total_bytes=sum(i.size for i in queue))
                                if cfg.batch_mode
                                else 1
                            )
                            count = planned_count  # the byte budget stays as throttling left it
                            fixed = self._count_override is not None or not cfg.batch_mode
                            self._progress["batch_size"] = count
                        if ready:
                            batch, alone, bystander = ready.popleft()
                        else:
                            size = count if fixed else tail_count(count, len(queue), n_workers)
                            batch, alone, bystander = next_batch(queue, budget=budget, count=size), False, 0
                        fut = self._submit(client, batch, job)
                        fut.add_done_callback(lambda _f: self._wake.set())
                        in_flight[fut.key] = _Flight(batch, fut, time.monotonic(), alone, bystander)
                        batches_run += 1
                        self.events.emit(
                            "batch-started",
                            batch=batch.id,
                            files=len(batch),
                            est_bytes=batch.est_bytes,
                            oversized=batch.oversized,
                        )
                if not in_flight:
                    if paused:
                        self._wake.wait(0.1)
                        self._wake.clear()
                    continue
                # ---- collect
                finished = [k for k, f in in_flight.items() if f.future.status in ("finished", "error", "cancelled")]
                if not finished:
                    self._wake.wait(0.25)  # set by a finishing future, stop() or a live change
                    self._wake.clear()
                    continue
                for k in finished:
                    fl = in_flight.pop(k)
                    if not self._finish(fl, job, account, ready, memory_limit):
                        in_flight[k] = fl  # its state moved on (a lost result being recomputed)
        except BaseException:
            client.cancel([f.future for f in in_flight.values()], force=True)
            raise
        finally:
            _disarm(job.go_file, job.alive_file)  # whatever ended the run, batches still running end too
            monitor.stop()
            monitor.sample_now()
            with self._fault.caught():  # if not, the appended manifest stays, every line whole
                manifest.finish()
        stopped = (self._stop.is_set() and done_files < len(probed)) or self._fault.error is not None
        # every batch is accounted for (a crash above, or an output that failed, leaves the journals
        # for the next run to salvage: they may hold rows the manifest could not take)
        if self._fault.error is None:
            shutil.rmtree(job.journal_dir, ignore_errors=True)
        removed = 0
        if not stopped:
            # only for files whose final row is ok (a failed redo keeps what it had); names
            # compared case-folded, as a case-insensitive disk would see them
            listed = {o.casefold() for r in manifest.rows.values() for o in r.get("outputs") or ()}
            removed = remove_outputs(
                out,
                [
                    o
                    for key, outs in stale.items()
                    if (manifest.rows.get(key) or {}).get("status") == "ok"
                    for o in outs
                    if o.casefold() not in listed
                ],
            )
            with contextlib.suppress(OSError):  # if not, the next run reads them again, and the manifest wins
                manifest.settle()
        seconds = time.perf_counter() - t_start
        processed = done_files
        peaks = {
            "system_memory_percent": monitor.peaks["system_memory_percent"],
            "worker_rss": monitor.peaks["worker_rss"],
            "worker_memory_limit": memory_limit,
        }
        report = RunReport(
            output=str(out),
            manifest=str(manifest.path),
            counts=dict(counts),
            errors=dict(errors),
            warnings=dict(warned),
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            seconds=seconds,
            cluster_seconds=cluster_seconds,
            batches=batches_run,
            worker_restarts=monitor.restarts,
            files_per_second=processed / max(1e-6, seconds),
            failures=tuple(failures),
            stopped=stopped,
            peaks=peaks,
            stop_reason=self._fault.reason,
        )
        summary = report.summary()
        summary["resumed"] = len(carried)
        summary["stale_outputs_removed"] = removed
        summary["throttle"] = [e.data for e in self.events.history if e.kind == "throttle"]
        summary["settings"] = cfg.to_dict()
        with self._fault.caught():  # if not, the rerun writes it; until then the report says why
            manifest.write_summary(summary)
        if self._fault.error is not None and not report.stop_reason:
            report = replace(report, stopped=True, stop_reason=self._fault.reason)
        self.events.emit("run-finished", report=report)
        return report

    def _throttle(self, action: str, mem: float, count: int, budget: int, reason: str) -> None:
        from ._progress import log

        log.info(
            "throttle %s: %s (memory %.1f%%, max %g%%, batch size %d, budget %d MiB)",
            action,
            reason,
            mem,
            self._max_memory,
            count,
            budget // 2**20,
        )
        self.events.emit(
            "throttle",
            action=action,
            memory_percent=round(mem, 1),
            max_memory_percent=self._max_memory,
            batch_size=count,
            budget_bytes=budget,
            reason=reason,
        )

    @staticmethod
    def _submit(client, batch: Batch, job: JobSpec):
        import dask.bag as db

        try:
            os.unlink(journal_path(job, batch.id))
        except FileNotFoundError:
            pass
        name = f"dataprep-{batch.id}-{time.monotonic_ns():x}"
        # the partition *is* the process_batch task (one task per batch). A bag of the items mapped
        # with map_partitions makes two tasks, and then Dask tells the client a batch finished only
        # when the worker's next batch finishes too: the engine refilled late and workers sat idle.
        part = db.Bag({(name, 0): (process_batch, list(batch.items), job, batch.id)}, name, 1)
        return client.compute(part.to_delayed()[0])

    def _finish(self, fl: _Flight, job: JobSpec, account, ready: deque, memory_limit: int) -> bool:
        """Account a batch that ended; False if its future is not in a final state after all."""
        fut, batch = fl.future, fl.batch
        if fut.status == "finished":
            rows = fut.result()
            account(rows)
            if getattr(rows, "fault", None) is not None:  # the output takes no more: the rest waits for the next run
                self._output_failed(rows.fault)
            rest = list(batch.items)[len(rows) :]
            if rest and not self._stop.is_set():
                # it ended early without a stop: this run's marker went missing (another build
                # started on the same OUTPUT?). Put it back and run the rest, a few times at most.
                with self._fault.caught(self._output_failed):
                    _arm(job)
                # (markers that cannot be made stopped the run: the output takes no more, the rest waits)
                if not self._stop.is_set() and fl.bystander < 5:
                    ready.appendleft((_rebatch(rest, batch), fl.alone_retry, fl.bystander + 1))
                elif not self._stop.is_set():
                    account(
                        [
                            _fail_row(
                                it,
                                batch.id,
                                job,
                                "worker-killed",
                                f"{path_text(it.path)} was not processed: the run's marker in "
                                f"{path_text(job.journal_dir)} kept disappearing; is another build writing to this output?",
                            )
                            for it in rest
                        ]
                    )
            ok = sum(r["status"] == "ok" for r in rows)
            self.events.emit(
                "batch-finished",
                batch=batch.id,
                files=len(rows),
                ok=ok,
                failed=sum(r["status"] == "failed" for r in rows),
                seconds=time.monotonic() - fl.started,
            )
            return True
        if fut.status == "cancelled":
            if not self._stop.is_set():  # lost without our asking (scheduler restart): run it again
                ready.appendleft((batch, fl.alone_retry, fl.bystander))
            return True
        if fut.status != "error":  # the result was lost and is being recomputed: look again later
            return False
        exc = fut.exception()
        fut.release()
        done_rows, started, timed_out, began = _read_journal(journal_path(job, batch.id))
        if done_rows:
            account(done_rows)
        items = list(batch.items)[len(done_rows) :]
        kind = type(exc).__name__
        if timed_out is not None:
            it = batch.items[timed_out]
            account(
                [
                    _fail_row(
                        it,
                        batch.id,
                        job,
                        "timeout",
                        f"{path_text(it.path)} took longer than the {job.timeout:g} s limit per file; "
                        "its worker was restarted (raise --timeout if it is genuinely slow)",
                    )
                ]
            )
            rest = list(batch.items[timed_out + 1 :])
            if rest:
                ready.appendleft((_rebatch(rest, batch), False, 0))
            self.events.emit("batch-retried", batch=batch.id, reason="timeout", parts=1 if rest else 0)
            return True
        if not items:
            return True
        if not began and fl.bystander < 5:
            # queued on a worker that died, never started: not its fault; run it again as it was
            ready.appendleft((_rebatch(items, batch), fl.alone_retry, fl.bystander + 1))
            self.events.emit("batch-retried", batch=batch.id, reason=f"{kind} (queued on a lost worker)", parts=1)
            return True
        died = kind in ("KilledWorker", "CommClosedError", "StreamClosedError", "FutureCancelledError") or "Killed" in kind
        if len(items) == 1:
            it = items[0]
            if died and not fl.alone_retry:  # once more alone: a worker can die for reasons of its own
                ready.appendleft((_rebatch(items, batch), True, 0))
                self.events.emit("batch-retried", batch=batch.id, reason=kind, parts=1)
                return True
            if died:
                account(
                    [
                        _fail_row(
                            it,
                            batch.id,
                            job,
                            "worker-killed",
                            f"{path_text(it.path)} killed its worker (memory limit {memory_limit / 2**20:.0f} MiB per "
                            "worker); it needs more memory than a worker has: raise --memory-limit or use fewer --jobs",
                        )
                    ]
                )
            else:
                account([_fail_row(it, batch.id, job, "internal-error", f"{path_text(it.path)}: {kind}: {exc}")])
            return True
        parts: list[tuple[Batch, bool, int]] = []
        if started is not None:  # the journal names the file that was running: it goes alone, the rest go on
            parts.append((_rebatch([batch.items[started]], batch), True, 0))
            rest = list(batch.items[started + 1 :])
            if rest:
                parts.append((_rebatch(rest, batch), False, 0))
        else:  # no journal to go by: split in halves
            mid = len(items) // 2
            parts = [(_rebatch(items[:mid], batch), False, 0), (_rebatch(items[mid:], batch), False, 0)]
        for p in reversed(parts):
            ready.appendleft(p)
        self.events.emit("batch-retried", batch=batch.id, reason=kind, parts=len(parts))
        return True


def _arm(job: JobSpec) -> None:
    """Make the run's markers: batches write while ``alive_file`` exists, start files while ``go_file``
    does. A marker that cannot be made is an ``OutputWriteError`` (without it no batch would write)."""
    make_folder(job.journal_dir, job.output)
    for marker in (job.alive_file, job.go_file):
        with writing(marker):
            Path(marker).touch()


def _disarm(*markers: str) -> None:
    for marker in markers:
        with contextlib.suppress(OSError):
            os.unlink(marker)


def _rebatch(items: list[MediaItem], parent: Batch) -> Batch:
    from ._plan import batch_id

    est = sum(i.est_bytes for i in items)
    return Batch(id=batch_id(items), items=tuple(items), est_bytes=est, oversized=parent.oversized and len(items) == 1)


def _fail_row(it: MediaItem, batch: str, job: JobSpec, code: str, message: str) -> dict:
    return problem_row(
        it.root,
        it.rel,
        "failed",
        code,
        message,
        size=it.size,
        mtime_ns=it.mtime_ns,
        batch=batch,
        settings=job.settings,
        width=it.info.width if it.info else None,
        height=it.info.height if it.info else None,
    ).to_row()


def salvage_journals(folder: str | os.PathLike) -> list[dict]:
    """The rows that the batches of an earlier run finished, from the journals it left behind."""
    rows: list[dict] = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        rows += _read_journal(str(path))[0]
    return rows


def _read_journal(path: str) -> tuple[list[dict], int | None, int | None, bool]:
    """-> (finished rows, index running at death, index that timed out, whether any file started)."""
    rows, started, timed_out, began = [], None, None, False
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # torn last line
                if "row" in rec:
                    rows.append(rec["row"])
                    started = None
                elif "start" in rec:
                    if rec["start"] == 0:  # a new attempt of the same task: only the last one counts
                        rows, timed_out = [], None
                    started, began = rec["start"], True
                elif "timeout" in rec:
                    timed_out = rec["timeout"]
    except FileNotFoundError:
        pass
    if timed_out is not None and timed_out < len(rows):  # it finished just as the watchdog fired
        timed_out = None
    return rows, started, timed_out, began


# --------------------------------------------------------------------------- public functions


def start(
    config: BuildConfig | None = None, *, client: Any = None, sinks: Sequence[Callable[[Event], None]] = (), **settings: Any
) -> Run:
    """Start a build in the background and return its :class:`Run` at once."""
    cfg = BuildConfig.create(config, **settings) if settings or config is None else config
    return Run(cfg, client=client, sinks=sinks).start()


def build(
    config: BuildConfig | None = None, *, client: Any = None, progress: bool | Callable = True, **settings: Any
) -> RunReport:
    """Run a build to the end and return its :class:`RunReport`.

    >>> # report = toolkit.build(inputs=["photos"], output="thumbs", op="thumbnail", size=128)
    """
    cfg = BuildConfig.create(config, **settings) if settings or config is None else config
    sinks = []
    if progress:
        from ._progress import auto_sink

        sinks.append(progress if callable(progress) else auto_sink())
    run = Run(cfg, client=client, sinks=sinks).start()
    try:
        while not run.wait(0.2):
            pass
    except KeyboardInterrupt:
        run.stop()
        run.wait()
    return run.result()


def plan(
    items: Any,
    *,
    memory_limit: int | str | None = None,
    jobs: int | None = None,
    batch_size: int | None = None,
    batch_mode: bool = True,
    config: BuildConfig | None = None,
    client: Any = None,
    **settings: Any,
) -> Plan:
    """Probe (headers only) and plan ``items`` (a ScanResult, MediaItems, or folder paths) into batches.

    ``plan.to_bag()`` gives a ``dask.bag.Bag`` whose partitions are exactly the planned batches.
    """
    from ._cluster import default_jobs, default_memory_limit
    from ._config import parse_bytes
    from ._probe import probe_items
    from ._scan import ScanResult, assign_outputs, scan

    cfg = BuildConfig.create(config, **settings) if settings or config is None else config
    if isinstance(items, (str, os.PathLike)) or (
        isinstance(items, (list, tuple)) and items and isinstance(items[0], (str, os.PathLike))
    ):
        items = scan(items)
    left_out = []
    if isinstance(items, ScanResult):
        left_out = list(items.rows)
        items = assign_outputs(items.items, multi_root=len(items.roots) > 1, output=cfg.output or None)
    items = list(items)
    need = [i for i in items if i.info is None]
    if need:
        probed, bad = probe_items(
            need, ops=cfg.ops, fmt=cfg.format, max_pixels=cfg.max_pixels, client=client if hasattr(client, "submit") else None
        )  # a Client, else here
        left_out += bad
        have = {(i.root, i.rel): i for i in probed}
        items = [have.get((i.root, i.rel), i) if i.info is None else i for i in items]
        items = [i for i in items if i.info is not None]
    n = jobs or cfg.jobs or default_jobs()
    limit = (
        parse_bytes("memory_limit", memory_limit)
        if memory_limit is not None
        else (cfg.memory_limit or default_memory_limit(n, cfg.max_memory_percent))
    )
    budget = budget_for(limit)
    bs = batch_size or cfg.batch_size
    count = (
        1
        if not (batch_mode and cfg.batch_mode)
        else (bs or auto_batch_size(len(items), n, total_bytes=sum(i.size for i in items)))
    )
    batches = plan_batches(items, budget=budget, count=count)
    warnings = []
    if bs and any(len(b) < bs for b in batches[:-1]):
        warnings.append(f"batch size {bs} is capped by the memory budget ({budget / 2**20:.0f} MiB) for some batches")
    for b in batches:
        if b.oversized:
            warnings.append(
                f"{path_text(b.items[0].path)} needs about {b.est_bytes / 2**20:.0f} MiB, more than the "
                f"batch budget; it runs alone and may exceed the worker limit"
            )
    return Plan(
        batches=batches,
        budget_bytes=budget,
        batch_size=count,
        memory_limit=limit,
        workers=n,
        warnings=warnings,
        left_out=left_out,
    )
