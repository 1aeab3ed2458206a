"""A real Dask cluster for the tests: the ``dask scheduler`` and ``dask worker`` programs of this
environment, started on 127.0.0.1 with a scheduler file, each in its own process group and working
folder; :meth:`RealCluster.close` kills every group (on failure too), so no process outlives a module.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

DASK = str(Path(sys.executable).with_name("dask"))


def unshare_prefix() -> list[str] | None:
    """The command that runs a program in a mount namespace of its own here: ``unshare -m`` as root,
    ``unshare -rm`` (a user namespace too) where unprivileged ones are allowed; None if neither works."""
    exe = shutil.which("unshare")
    if exe is None:
        return None
    for prefix in ([exe, "-m"], [exe, "-rm"]):
        ok = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs none /mnt"], capture_output=True, timeout=30)
        if ok.returncode == 0:
            return prefix
    return None


class RealCluster:
    """``dask scheduler --scheduler-file`` and ``dask worker`` processes under ``base``."""

    def __init__(self, base: Path, env: dict[str, str] | None = None) -> None:
        self.base = base
        self.scheduler_file = base / "scheduler.json"
        self.env = {**os.environ, **(env or {})}
        self.procs: list[subprocess.Popen] = []

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen:
        log = open(self.base / f"{name}.log", "wb")  # noqa: SIM115 - the process keeps it
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.base, preexec_fn=_own_group)
        log.close()
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> None:
        self._spawn(
            [
                DASK,
                "scheduler",
                "--scheduler-file",
                str(self.scheduler_file),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
            ],
            "scheduler",
        )
        self._wait(lambda: self.scheduler_file.exists() and json.loads(self.scheduler_file.read_text() or "{}").get("address"))

    def start_worker(self, name: str, memory_limit: str = "512MiB", prefix: list[str] | None = None, hide: Path | None = None):
        """A ``dask worker`` (a nanny and its one worker process) named ``name`` with its own
        ``--local-directory``; with ``prefix`` (:func:`unshare_prefix`) and ``hide``, started in a
        mount namespace where an empty tmpfs covers ``hide``: that folder's files are not there for it."""
        folder = self.base / name
        folder.mkdir()
        argv = [DASK, "worker", "--scheduler-file", str(self.scheduler_file), "--nworkers", "1", "--nthreads", "1"]
        argv += ["--memory-limit", memory_limit, "--local-directory", str(folder), "--host", "127.0.0.1"]
        argv += ["--name", name, "--no-dashboard"]
        if prefix and hide is not None:
            script = 'mount -t tmpfs none "$0" && exec "$@"'
            argv = [*prefix, "sh", "-c", script, str(hide), *argv]
        self._spawn(argv, name)

    def wait_workers(self, client, n: int) -> None:
        client.wait_for_workers(n, timeout=120)

    def _wait(self, cond, limit: float = 120.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if cond():
                return
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a dask program ended early; logs in {self.base}")
            time.sleep(0.1)
        raise TimeoutError(f"the cluster did not start in {limit} s; logs in {self.base}")

    def close(self) -> None:
        """End every program's process group (the nanny and its worker with it): SIGTERM, then
        SIGKILL for any still there after 10 s; then reap them."""
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 30.0)):
            for proc in reversed(self.procs):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(_group_alive(p.pid) for p in self.procs):
                for p in self.procs:
                    p.poll()
                time.sleep(0.1)
        for proc in self.procs:
            proc.wait(30)


def _own_group() -> None:
    """In the child before it runs the program: a process group of its own (killed whole at teardown),
    and SIGKILL when the test process dies, so even a killed pytest leaves no scheduler or worker
    (a nanny's worker process ends when its nanny does)."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
