"""Where the work runs: a local cluster of process workers with memory limits, or yours.

``connect(None)`` starts ``LocalCluster(processes=True, threads_per_worker=1, memory_limit=...)``
with its dashboard on 127.0.0.1; ``connect("tcp://host:8786")`` or ``connect("scheduler.json")``
joins an existing scheduler; a ``Client`` or ``Cluster`` passed in is used as it is.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

import psutil

from ._errors import ClusterError

__all__ = ["connect", "prestart", "default_memory_limit", "worker_memory_limits", "start_method"]

#: what a worker process needs; the fork server imports it once and every worker starts with it
WORKER_MODULES = [
    "toolkit._worker",
    "toolkit._ops.image",
    "toolkit._worker_setup",
    "PIL.JpegImagePlugin",
    "PIL.PngImagePlugin",
    "PIL.WebPImagePlugin",
]


def default_memory_limit(jobs: int, max_memory_percent: float = 80.0) -> int:
    """Per-worker limit: the workers together stay within ``max_memory_percent`` of the machine."""
    total = psutil.virtual_memory().total
    return int(total * max_memory_percent / 100 / max(1, jobs))


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: Dask's periodic housekeeping, slowed on our own cluster where you kept Dask's default (key:
#: (Dask's default, ours)). Every tick costs CPU on the cores the run needs: the worker profiler
#: sampling the running task every 10 ms, each server's event-loop tick every 20 ms, the system
#: monitors every 0.5 s. Measured on 1,000 thumbnails with 2 workers: workers' CPU outside the
#: files' own 1.5 -> 0.8 s, the client's 2.9 -> 2.2 s. The dashboard keeps its Profile and System
#: pages, sampled less often.
HOUSEKEEPING = {
    "distributed.worker.profile.interval": ("10ms", "100ms"),
    "distributed.admin.tick.interval": ("20ms", "100ms"),
    "distributed.admin.system-monitor.interval": ("500ms", "1s"),
}


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


#: Dask's scheduler route that proxies a worker's own dashboard (``/proxy/<port>/<host>/...``).
#: Our workers run no dashboard (``worker_dashboard_address=None``), so on our cluster it has
#: nothing to reach; importing it imports jupyter-server-proxy and aiohttp when they are
#: installed (the notebook extras install them): ~0.1 s of CPU in the scheduler's start, on the
#: path to the first batch.
WORKER_PROXY_ROUTE = "distributed.http.proxy"


def _scheduler_routes() -> list[str]:
    """The scheduler's HTTP route modules for our own cluster: Dask's (or yours), less the worker proxy."""
    import dask

    return [m for m in dask.config.get("distributed.scheduler.http.routes", None) or () if m != WORKER_PROXY_ROUTE]


def _dashboard_on_visit(scheduler) -> None:
    """Add Dask's bokeh dashboard pages to a scheduler started without them, the first time
    anyone opens the dashboard.

    Importing bokeh and building the pages costs ~0.35 s of CPU in this process, on the cores the
    workers need. Until the first visit a catch-all page stands in, which builds the pages on its
    first request (importing off the event loop) and redirects to the same address, now served
    by them. The link is valid from the start: the scheduler's HTTP server (Dask's plain routes)
    runs from the scheduler's start.
    """
    import asyncio

    from tornado import web

    app = scheduler.http_application
    attaching: list = []  # the one attach, shared by every request that waits for it

    async def attach() -> None:
        try:
            loop = asyncio.get_running_loop()
            pages = await loop.run_in_executor(None, _import_pages)  # the slow part, off the loop
            if pages is not None and scheduler.status.name == "running":
                pages.connect(app, scheduler.http_server, scheduler, prefix="/")
        except Exception:  # noqa: BLE001 - no dashboard pages is not worth failing a build
            logging.getLogger(__name__).warning("could not start the dashboard's pages", exc_info=True)
        finally:
            if stand_in in app.applications:
                app.applications.remove(stand_in)  # from now on Dask's router finds the pages (or a 404)

    async def attach_once() -> None:
        if not attaching:
            attaching.append(asyncio.ensure_future(attach()))
        await asyncio.shield(attaching[0])

    class FirstVisit(web.RequestHandler):
        async def get(self, *_args: str) -> None:
            await attach_once()
            self.redirect(_same_page(self.request.path, self.request.query))

    stand_in = web.Application([(r"/.*", FirstVisit)])
    app.add_application(stand_in)  # asked only after Dask's own routes (RoutingApplication)


def _same_page(path: str, query: str = "") -> str:
    """A relative address of the page at ``path``: a proxy's prefix (``.../proxy/8787/status``) is
    kept, and it never leads to another host (a path such as ``//example.org/x`` stays here).

    >>> _same_page("/status", "x=1"), _same_page("/"), _same_page("//example.org/x")
    ('./status?x=1', './', './x')
    """
    return "./" + path.rsplit("/", 1)[-1] + (f"?{query}" if query else "")


def _import_pages():
    try:
        import distributed.dashboard.scheduler as pages
    except ImportError:  # pragma: no cover - bokeh missing: Dask's own pages only
        return None
    return pages


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
        async def instantiate(self):  # type: ignore[override]
            _START_METHOD.claim(method)
            try:
                return await super().instantiate()
            finally:
                _START_METHOD.release()

    return DataprepNanny


def connect(
    target: Any = None,
    *,
    jobs: int | None = None,
    memory_limit: int | str | None = None,
    dashboard_address: str = "127.0.0.1:8787",
    max_memory_percent: float = 80.0,
    allowed_failures: int = 0,
    dashboard_on_visit: bool = False,
):
    """A ``distributed.Client`` for ``target``.

    ``target``: None (a new LocalCluster), a scheduler address, a scheduler file path, a
    ``distributed`` Cluster or Client. For a local cluster, ``jobs`` worker processes each get
    ``memory_limit`` bytes (default: their share of ``max_memory_percent`` of the machine), and
    ``allowed_failures`` deaths per task before ``KilledWorker`` (0: the engine isolates at once).
    ``connect`` returns with the dashboard's pages up (Dask builds them as the scheduler starts);
    with ``dashboard_on_visit=True`` they are built the first time the link is opened instead
    (a build does that: ~0.35 s of CPU that its workers keep unless someone looks).
    """
    refuse_while_a_worker_imports_the_script()
    method = start_method()
    prestart(target)  # first: the fork server's imports overlap the scheduler's start
    import dask
    from distributed import Client, LocalCluster
    from distributed.deploy import Cluster

    if isinstance(target, Client):
        return target
    if isinstance(target, Cluster):
        return Client(target)
    if target is None:
        n = jobs or default_jobs()
        limit = memory_limit or default_memory_limit(n, max_memory_percent)
        settings = {
            "distributed.scheduler.allowed-failures": allowed_failures,
            "distributed.admin.tick.limit": "10s",
            "distributed.worker.daemon": True,
            "distributed.worker.multiprocessing-method": method,
        }
        # the nanny sets these in a worker too: spawned workers (and a restarted one) then agree
        on_visit = bool(dashboard_address) and dashboard_on_visit
        spawn_env = settings["distributed.nanny.pre-spawn-environ"] = _pre_spawn_environ()
        for key, (dask_default, ours) in HOUSEKEEPING.items():
            if str(dask.config.get(key, dask_default)) == dask_default:  # a value you set is kept
                settings[key] = ours
        settings["distributed.scheduler.http.routes"] = _scheduler_routes()
        try:
            with dask.config.set(settings):
                # a forked worker has the fork server's environment: hand it today's explicitly
                # with dashboard_on_visit, bokeh's pages come at the first visit (_dashboard_on_visit)
                cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    memory_limit=limit,
                    dashboard_address=dashboard_address,
                    host="127.0.0.1",
                    silence_logs=logging.ERROR,
                    worker_dashboard_address=None,
                    preload=["toolkit._worker_setup"],
                    env=_worker_os_environ(spawn_env),
                    worker_class=_nanny_class(method),
                    scheduler_kwargs={"dashboard": False} if on_visit else None,
                )
        except Exception as exc:  # noqa: BLE001
            raise ClusterError(
                f"could not start a local cluster of {n} worker{'s' * (n != 1)}: {str(exc).rstrip('.')}{_script_hint(method)}"
            ) from exc
        client = Client(cluster, set_as_default=False)
        if on_visit:
            _dashboard_on_visit(cluster.scheduler)
        return client
    target = os.fspath(target)
    try:
        if os.path.isfile(target) or target.endswith(".json"):
            if not os.path.isfile(target):
                raise ClusterError(f"scheduler file {target} does not exist; start the scheduler with --scheduler-file {target}")
            client = Client(scheduler_file=target, timeout="15s", set_as_default=False)
        else:
            client = Client(target, timeout="15s", set_as_default=False)
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ClusterError(
            f"cannot reach the Dask scheduler at {target}: {exc}; check the address and that it is running"
        ) from exc
    _check_workers(client, target)
    return client


def refuse_while_a_worker_imports_the_script() -> None:
    """Raise :class:`ClusterError` if this process is a new worker (or the fork server) importing
    the main script: a script that builds or connects at its top level would otherwise start a
    build or a cluster of its own in every worker, each failing with a confusing error (the
    output folder already in use, say) before the real reason. ``multiprocessing`` marks that
    import as ``_inheriting``, as its own check of the same mistake does."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):  # (the script's name is not known yet)
        raise ClusterError(
            "a worker process is importing the main script, which starts a build or a cluster as "
            'it is imported; put that code under `if __name__ == "__main__":`'
        )


def _script_hint(method: str) -> str:
    """The likeliest cause when a script's local cluster fails to start, as a hint for its error.

    Workers started by ``spawn`` or ``forkserver`` import the main script again, as
    ``__mp_main__``: a script that builds or connects at its top level then tries to start
    processes while it is being imported, and every worker fails at once. Dask and
    ``multiprocessing`` ask for the same ``if __name__ == "__main__":`` guard; this names it.
    No hint for notebooks and ``python -c`` (no script) or under a console script (``dataprep``, ``pytest``).
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if (
        method == "fork"
        or not path
        or not str(path).endswith(".py")
        or (spec is not None and spec.name.split(".")[0] == "toolkit")
    ):
        return ""  # a console script (dataprep, pytest, jupyter) has no .py name: not the user's script
    return (
        f"; if you ran the script {path}, put the code that builds or connects under "
        '`if __name__ == "__main__":` (every worker process imports the script again)'
    )


def _has_toolkit() -> bool:
    import importlib.util

    return importlib.util.find_spec("toolkit") is not None


def _check_workers(client, target: str) -> None:
    try:
        answers = client.run(_has_toolkit)
    except Exception:  # noqa: BLE001 - no workers yet: nothing to check
        return
    missing = [w for w, ok in answers.items() if not ok]
    if missing:
        raise ClusterError(
            f"workers of {target} cannot import the toolkit ({', '.join(missing[:3])}); "
            "install dataprep-toolkit in the workers' environment"
        )


def worker_memory_limits(client) -> dict[str, int]:
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    return {addr: int(w.get("memory_limit") or 0) for addr, w in info.get("workers", {}).items()}


def _takes_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def scheduler_workers(client) -> dict[str, dict]:
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    return info.get("workers", {})
