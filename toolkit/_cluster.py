"""Where the work runs: a local cluster of process workers with memory limits, or yours.

``connect(None)`` starts ``LocalCluster(processes=True, threads_per_worker=1, memory_limit=...)``
with its dashboard on 127.0.0.1; ``connect("tcp://host:8786")`` or ``connect("scheduler.json")``
joins an existing scheduler; a ``Client`` or ``Cluster`` passed in is used as it is.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Callable

import psutil

from ._dashboard import _dashboard_on_visit, _scheduler_routes
from ._errors import ClusterError, Stopped
from ._spawn import _nanny_class, _pre_spawn_environ, _worker_os_environ, prestart, start_method

__all__ = ["connect", "prestart", "default_memory_limit", "worker_memory_limits", "start_method"]


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


def connect(
    target: Any = None,
    *,
    jobs: int | None = None,
    memory_limit: int | str | None = None,
    dashboard_address: str = "127.0.0.1:8787",
    max_memory_percent: float = 80.0,
    allowed_failures: int = 0,
    dashboard_on_visit: bool = False,
    stopped: Callable[[], bool] | None = None,
):
    """A ``distributed.Client`` for ``target``.

    ``target``: None (a new LocalCluster), a scheduler address, a scheduler file path, a
    ``distributed`` Cluster or Client. For a local cluster, ``jobs`` worker processes each get
    ``memory_limit`` bytes (default: their share of ``max_memory_percent`` of the machine), and
    ``allowed_failures`` deaths per task before ``KilledWorker`` (0: the engine isolates at once).
    ``connect`` returns with the dashboard's pages up (Dask builds them as the scheduler starts);
    with ``dashboard_on_visit=True`` they are built the first time the link is opened instead
    (a build does that: ~0.35 s of CPU that its workers keep unless someone looks).
    ``stopped``: asked while a scheduler of yours has no workers yet; true ends the wait (``Stopped``).
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
    client = _join(os.fspath(target), as_file=isinstance(target, os.PathLike))
    _check_workers(client, os.fspath(target), stopped or (lambda: False))
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


def _join(target: str, *, as_file: bool, timeout: float = 15.0):
    """A client of the running scheduler ``target`` names (its address, or its scheduler file), or a
    :class:`ClusterError` saying what is wrong and the command that fixes it. A scheduler that is
    not running is said at once (the connection is refused), not after the client's timeout."""
    from distributed import Client

    if as_file or os.path.isfile(target) or target.endswith(".json"):
        address = scheduler_address(target)
        where = f"the Dask scheduler at {address} (from the scheduler file {target})"
        fix = (
            f"it is not running (the file may be left from an earlier one): start it with "
            f"'dask scheduler --scheduler-file {target}', and its workers with 'dask worker --scheduler-file {target}'"
        )
    else:
        address, where = target, f"the Dask scheduler at {target}"
        fix = "check the address, and that the scheduler is running ('dask scheduler') and reachable from here"
    refused = _refused(address, timeout)
    if refused:
        raise ClusterError(f"cannot reach {where}: {refused}; {fix}")
    try:
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except Exception as exc:  # noqa: BLE001
        raise ClusterError(f"cannot reach {where}: {str(exc).rstrip('.')}; {fix}") from exc


def scheduler_address(path: str) -> str:
    """The address a scheduler file holds, or a :class:`ClusterError` naming the file and the fix."""
    import json

    start = f"start the scheduler with 'dask scheduler --scheduler-file {path}'"
    try:
        with open(path, encoding="utf-8") as fh:
            address = json.load(fh).get("address")
    except FileNotFoundError:
        raise ClusterError(f"scheduler file {path} does not exist; {start}, or give the path it wrote") from None
    except (OSError, ValueError, AttributeError) as exc:
        raise ClusterError(f"scheduler file {path} cannot be read as one ({exc}); {start} to write it anew") from None
    if not isinstance(address, str) or not address:
        raise ClusterError(f"scheduler file {path} names no scheduler address; {start} to write it anew")
    return address


def _refused(address: str, timeout: float) -> str:
    """Why nothing listens at a ``tcp://host:port`` address ("" when something does, or for other protocols)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "") or not parts.hostname or not parts.port:
        return ""
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=min(timeout, 5.0)).close()
    except ConnectionRefusedError:
        return "connection refused"
    except OSError:
        return ""  # unreachable or slow: the client says how, after its timeout
    return ""


def _has_toolkit() -> bool:
    import importlib.util

    return importlib.util.find_spec("toolkit") is not None


#: seconds a scheduler of yours may have no worker before ``connect`` says so (workers starting with it get that long)
WORKER_WAIT = 30.0


def _any_workers(client) -> bool:
    try:
        return bool(scheduler_workers(client))
    except Exception:  # noqa: BLE001 - the scheduler went away meanwhile: none, as far as a build goes
        return False


def _check_workers(client, target: str, stopped: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WORKER_WAIT
    while not _any_workers(client):  # asked in short steps: a Stop (or Ctrl-C) ends the wait at once
        if stopped():
            client.close()
            raise Stopped("stopped while waiting for the cluster's workers")
        if time.monotonic() >= deadline:  # still none: a build would wait for ever
            client.close()
            raise ClusterError(
                f"the Dask scheduler of {target} has no workers (none joined in {WORKER_WAIT:.0f} s); start them with "
                f"'dask worker {'--scheduler-file ' * os.path.isfile(target)}{target}'"
            )
        time.sleep(0.1)
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
    return {addr: int(w.get("memory_limit") or 0) for addr, w in scheduler_workers(client).items()}


def _takes_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def scheduler_workers(client) -> dict[str, dict]:
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    return info.get("workers", {})
