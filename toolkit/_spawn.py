"""How the workers of our own local cluster start: a fork server that imports once, their environment, the nanny.

Dask starts a local worker with ``spawn``: a fresh interpreter importing dask, distributed, Pillow and
the toolkit again, on the cores the run needs. Here a fork server imports them once (overlapping
the scheduler's start) and every worker is forked from it, with the environment a Dask nanny would
give it, less what would slow our batches (see ``DASK_TRIM_THRESHOLD``). ``_cluster.connect`` uses it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["prestart", "start_method", "WORKER_MODULES"]

#: what a worker process needs; the fork server imports it once and every worker starts with it
WORKER_MODULES = [
    "toolkit._worker",
    "toolkit._ops.image",
    "toolkit._worker_setup",
    "PIL.JpegImagePlugin",
    "PIL.PngImagePlugin",
    "PIL.WebPImagePlugin",
]


def start_method() -> str:
    """How local workers start: ``forkserver`` where the platform has it.

    Dask's default, ``spawn``, starts a fresh interpreter per worker that imports dask, distributed,
    Pillow and the toolkit again (about 0.7 s of CPU each, on the cores the run needs). A fork server
    imports them once, in parallel with the scheduler's start, and forks each worker from there;
    it holds no threads, so forking it is safe. To choose, set the dask config key
    ``dataprep.worker-start`` (environment: ``DASK_DATAPREP__WORKER_START=spawn``).
    """
    import multiprocessing

    import dask

    method = str(dask.config.get("dataprep.worker-start", "forkserver"))
    if method not in multiprocessing.get_all_start_methods():
        return "spawn"
    return method


#: Dask's default ``MALLOC_TRIM_THRESHOLD_`` (distributed.yaml): with it glibc hands freed memory
#: back to the system at every large ``free`` (and stops adapting its mmap threshold), so the next
#: file's buffers fault their pages in again (~0.35 ms a thumbnail, 2-3% of a worker's CPU). Our
#: workers hand memory back once per batch instead (``worker.release_memory``), so on our own
#: cluster this value is left out, whether it comes from Dask's config or was left in the
#: environment by a Dask nanny of this process. Another value you set is kept.
DASK_TRIM_THRESHOLD = "65536"

#: ``malloc_trim`` shrinks only the main arena's top; a batch runs in a Dask thread, whose own
#: arena would keep its freed top. One arena (unless you set ``MALLOC_ARENA_MAX``) puts the
#: batch's memory where the per-batch trim reaches all of it.
ARENAS = "1"


def _pre_spawn_environ() -> dict:
    """The variables a local worker gets before it starts: Dask's ``distributed.nanny.pre-spawn-environ``
    (e.g. ``OMP_NUM_THREADS``, which libraries read only at process start), less Dask's default
    ``MALLOC_TRIM_THRESHOLD_`` (see ``DASK_TRIM_THRESHOLD``). Its defaults live in distributed's
    config file, loaded when distributed is imported; the fork server starts before that (so that
    its imports overlap ours), so they are loaded here from that file, as distributed itself would."""
    import dask

    if dask.config.get("distributed.version", None) is None:  # distributed's defaults not loaded yet
        import importlib.util

        import yaml

        spec = importlib.util.find_spec("distributed")
        if spec is not None and spec.origin:
            try:
                with open(os.path.join(os.path.dirname(spec.origin), "distributed.yaml"), encoding="utf-8") as fh:
                    dask.config.update_defaults(yaml.safe_load(fh))
            except (OSError, yaml.YAMLError):  # pragma: no cover - an unusual install: Dask's nanny still sets them later
                pass
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", None) or {})
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_", env.get("MALLOC_TRIM_THRESHOLD_"))
    if trim is None or str(trim) == DASK_TRIM_THRESHOLD:
        env["MALLOC_TRIM_THRESHOLD_"] = None  # None: the nanny does not set it either
        env["MALLOC_ARENA_MAX"] = os.environ.get("MALLOC_ARENA_MAX", env.get("MALLOC_ARENA_MAX", ARENAS))
    return env


def _left_out(env: dict) -> set[str]:
    """The variables ``env`` (from ``_pre_spawn_environ``) leaves out of a local worker's start."""
    return {k for k, v in env.items() if v is None}


def _worker_os_environ(env: dict) -> dict[str, str]:
    """This process's environment as a local worker should start with it."""
    drop = _left_out(env)
    return {k: v for k, v in os.environ.items() if k not in drop}


def _start_fork_server() -> None:
    """Start the fork server now, preloading what workers import (no-op if it runs already).

    Called before the scheduler starts, so the server's imports overlap the scheduler's. The
    variables Dask sets before it spawns a worker (``distributed.nanny.pre-spawn-environ``, e.g.
    ``OMP_NUM_THREADS``) must be in the server's environment, as they act at process start.
    """
    import multiprocessing
    from multiprocessing import forkserver

    env = _pre_spawn_environ()
    for key, value in env.items():
        if value is not None:
            os.environ.setdefault(key, str(value))  # the nanny does the same, existing values win
    if os.environ.get("PYTHONHASHSEED") in (None, "0"):
        os.environ["PYTHONHASHSEED"] = "6640"  # as the nanny sets it: every worker hashes alike
    # before distributed is imported here: the server imports it meanwhile (distributed's own
    # preload list, set later, comes too late to matter; the server runs with this one)
    multiprocessing.get_context("forkserver").set_forkserver_preload(["dask", "distributed", *WORKER_MODULES])
    left_out = {k: os.environ.pop(k) for k in _left_out(env) if k in os.environ}
    try:
        forkserver.ensure_running()  # the server starts with today's environment, less those
    finally:
        os.environ.update(left_out)


def prestart(target: Any = None) -> None:
    """Start what a local cluster needs before anything else (the fork server's imports then run
    on the other core while this process scans, probes and starts the scheduler). No-op for a
    cluster of yours or without ``forkserver``."""
    if target is None and start_method() == "forkserver":
        _start_fork_server()


class _StartMethod:
    """Our workers' start method, in Dask's config only while one of our nannies starts a worker.

    Dask reads ``distributed.worker.multiprocessing-method`` from its (process-wide) config as a
    worker starts, and a start spans awaits, so starts overlap: a restart of one worker while
    another starts. Each start holds a claim; the first claim sets our method, the last one gives
    back the value that was there before. (A ``dask.config.set`` per start would hand back too
    early: a worker still starting would get your method, and the last one out would restore ours.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims = 0
        self._restore: Any = None

    def claim(self, method: str) -> None:
        import dask

        with self._lock:
            if self._claims == 0:
                self._restore = dask.config.set({"distributed.worker.multiprocessing-method": method})
            self._claims += 1

    def release(self) -> None:
        with self._lock:
            self._claims -= 1
            if self._claims == 0:
                self._restore.__exit__(None, None, None)  # the value before the first claim, or none
                self._restore = None


_START_METHOD = _StartMethod()


def _nanny_class(method: str):
    """Dask's Nanny, starting its worker with ``method`` every time, restarts included (Dask reads
    the start method from its config at each start; ours is only in force while we build)."""
    from distributed import Nanny

    class DataprepNanny(Nanny):
        async def instantiate(self):
            _START_METHOD.claim(method)
            try:
                return await super().instantiate()
            finally:
                _START_METHOD.release()

    return DataprepNanny
