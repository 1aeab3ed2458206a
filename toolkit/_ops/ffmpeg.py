"""The ffmpeg runner: every call of the ffmpeg binary that ``imageio-ffmpeg`` ships goes through
:func:`_run`: argv lists only (never a shell; :func:`_src` makes input paths ``file:`` URLs of
absolute paths, so ``-x.mp4``, ``a$(b).mp4`` or ``100%.mp4`` are just names), a timeout on every
call, and on a Dask worker a memory cap: the worker and its ffmpeg together stay within the
worker's memory limit (Dask's nanny watches the worker process only, not its children). No
ffmpeg outlives its task:

- ffmpeg runs in its own process group, killed on timeout, on any exception and on
  ``KeyboardInterrupt``;
- on Linux the child asks the kernel for ``SIGKILL`` when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``), which covers a Dask worker that is killed or ``os._exit``-ed;
- live children are in a registry that an ``atexit`` hook (and a ``SIGTERM`` handler, when this
  module is imported on the main thread) kills.

>>> rc, out, err = _run([b"-i", _src("clip.mp4")], timeout=30, path="clip.mp4")   # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
from functools import lru_cache
from typing import Sequence

import psutil

from .._fs import path_text
from . import FileProblem

__all__ = [
    "ffmpeg_exe",
    "has_encoder",
    "live_ffmpeg_pids",
    "memory_in_use",
    "ffmpeg_memory_cap",
    "FFMPEG_BASELINE_BYTES",
    "MEMORY_POLL",
]

#: resident memory of an ffmpeg process before frame buffers (binary, codecs, demuxer, filter graph)
FFMPEG_BASELINE_BYTES = 64 * 1024 * 1024
#: how often the memory of a capped ffmpeg and its worker is looked at (seconds)
MEMORY_POLL = 0.1


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (``IMAGEIO_FFMPEG_EXE`` overrides, as in imageio-ffmpeg)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


_LIVE: dict[int, subprocess.Popen] = {}
_LIVE_LOCK = threading.Lock()


def live_ffmpeg_pids() -> list[int]:
    """Pids of the ffmpeg processes this process is running now (for tests and diagnostics)."""
    with _LIVE_LOCK:
        return list(_LIVE)


def _kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)  # own process group: pgid == pid
    except (ProcessLookupError, PermissionError, OSError):
        try:
            p.kill()
        except OSError:
            pass


def _kill_all() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE.values())
    for p in procs:
        _kill_group(p)


atexit.register(_kill_all)


def _install_sigterm() -> None:
    """Kill live ffmpeg children on SIGTERM, then do what the previous handler did."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return
    try:
        prev = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):
        return
    if prev is None:  # installed from C: leave it alone
        return

    def handler(signum, frame):  # noqa: ANN001
        _kill_all()
        if callable(prev):
            prev(signum, frame)
        elif prev == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        pass


_install_sigterm()

_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
    _PRCTL = _LIBC.prctl if _LIBC is not None else None
except (OSError, AttributeError):
    _PRCTL = None


def _child_setup(parent: int):
    def setup() -> None:  # runs in the child between fork and exec: keep it tiny
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(137)

    return setup


_PROCS: dict[int, psutil.Process] = {}  # pid -> its psutil handle, for memory readings


def _rss(pid: int) -> int:
    try:
        proc = _PROCS.get(pid)
        if proc is None:
            proc = _PROCS[pid] = psutil.Process(pid)
        return proc.memory_info().rss
    except (psutil.Error, OSError):  # ended meanwhile
        _PROCS.pop(pid, None)
        return 0


def _ffmpeg_rss() -> dict[int, int]:
    """Resident memory of each live ffmpeg process of this process, by pid."""
    return {pid: _rss(pid) for pid in live_ffmpeg_pids()}


def memory_in_use() -> int:
    """Resident memory of this process and its live ffmpeg processes together, in bytes."""
    return _rss(os.getpid()) + sum(_ffmpeg_rss().values())


class _MemoryWatch(threading.Thread):
    """Kills ffmpeg ``p``'s process group when this process and its ffmpeg processes together
    hold more than ``cap`` bytes (looked at every ``MEMORY_POLL`` s) and ``p`` is the largest of
    them (with several calls at once, the one that grew is stopped, not a bystander); ``over``
    then holds the figures (this process, this ffmpeg, the other ffmpeg processes). A thread, so
    the caller keeps one ``communicate()`` for the output."""

    def __init__(self, p: subprocess.Popen, cap: int):
        super().__init__(daemon=True, name="dataprep-ffmpeg-memory")
        self.p, self.cap = p, cap
        self.over: tuple[int, int, int] | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(MEMORY_POLL):
            own, ffmpeg = _rss(os.getpid()), _ffmpeg_rss()
            mine, all_ffmpeg = ffmpeg.get(self.p.pid, 0), sum(ffmpeg.values())
            largest = max(ffmpeg.items(), key=lambda kv: (kv[1], -kv[0]), default=(None, 0))[0]
            if own + all_ffmpeg > self.cap and largest == self.p.pid and self.p.poll() is None:
                self.over = (own, mine, all_ffmpeg - mine)
                _kill_group(self.p)
                return


def _run(
    args: Sequence[str | bytes],
    *,
    timeout: float,
    path: str,
    cwd: str | None = None,
    capture: bool = False,
    memory_cap: int | None = None,
) -> tuple[int, bytes, str]:
    """Run ffmpeg with ``args``; -> (returncode, stdout bytes, stderr text).

    Raises ``FileProblem("timeout")`` (after killing ffmpeg's process group) when it runs past
    ``timeout`` seconds, and ``FileProblem("limit-exceeded")`` when this process and its ffmpeg
    processes together hold more than ``memory_cap`` bytes (None: no cap; a worker passes
    :func:`ffmpeg_memory_cap` of its limit); kills it as well on any exception, ``KeyboardInterrupt`` included.
    """
    if timeout <= 0:
        raise FileProblem("timeout", f"{path_text(path)}: no time left for ffmpeg (per-file time limit reached)")
    argv = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", *args]
    p = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=cwd,
        close_fds=True,
        start_new_session=True,
        preexec_fn=_child_setup(os.getpid()),
    )
    with _LIVE_LOCK:
        _LIVE[p.pid] = p
    watch = None
    try:
        if memory_cap is not None:
            watch = _MemoryWatch(p, memory_cap)
            watch.start()
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(p)
            p.communicate()
            raise FileProblem(
                "timeout",
                f"{path_text(path)}: ffmpeg took longer than {timeout:.0f} s and was stopped; "
                "raise the time limit (`timeout`) for long videos",
            ) from None
        finally:
            if watch is not None:
                watch.done.set()
                watch.join()
        if watch is not None and watch.over is not None and p.returncode == -signal.SIGKILL:  # ours, not a finish
            own, mine, others = watch.over
            also = f", other ffmpeg {others / 2**20:,.0f} MiB" if others else ""
            raise FileProblem(
                "limit-exceeded",
                f"{path_text(path)}: ffmpeg was stopped at {mine / 2**20:,.0f} MiB "
                f"(its worker {own / 2**20:,.0f} MiB{also}): together they passed "
                f"{watch.cap / 2**20:,.0f} MiB, where the worker's nanny would restart "
                "it (95% of its memory limit by default); give workers more memory "
                "(`memory_limit`, or your cluster's worker memory limit) or run fewer "
                "per machine (`jobs`)",
            )
    except BaseException:
        _kill_group(p)
        try:
            p.wait(5)
        except Exception:  # noqa: BLE001
            pass
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.pop(p.pid, None)
        _PROCS.pop(p.pid, None)
    return p.returncode, out or b"", (err or b"").decode("utf-8", "replace")


def ffmpeg_memory_cap(limit: int | None) -> int | None:
    """Bytes a Dask worker and the ffmpeg processes it runs may hold together: ``limit``, the
    workers' memory limit as the build read it from the cluster (``JobSpec.memory_limit``: received,
    never read again here), at Dask's ``terminate`` fraction, where the worker's nanny restarts it.
    None when the workers have no limit (0 or None: nothing restarts them) or this is not a task on
    a worker with a nanny (a worker sharing its process, ``processes=False``, has nobody to restart
    it, and its process's memory is not its own).

    The nanny measures the worker process alone, not its children: without this an ffmpeg could
    take any amount of memory past a worker's limit.
    """
    if not limit:
        return None
    distributed = sys.modules.get("distributed")  # not imported: not a Dask worker (and no import for that)
    try:
        worker = distributed.get_worker() if distributed is not None else None
    except (AttributeError, ValueError):  # not in a task on a Dask worker
        return None
    if worker is None or not getattr(worker, "nanny", None):
        return None
    import dask

    fraction = dask.config.get("distributed.worker.memory.terminate", 0.95) or 1.0
    return int(limit * float(fraction))


def _src(path: str) -> bytes:
    """An input path ffmpeg cannot mistake for an option or a protocol."""
    return b"file:" + os.fsencode(os.path.abspath(path))


@lru_cache(maxsize=None)
def has_encoder(name: str) -> bool:
    """Whether the bundled ffmpeg has the encoder ``name`` (e.g. ``libx264``)."""
    try:
        _rc, out, err = _run(["-encoders"], timeout=30, path="ffmpeg", capture=True)
    except FileProblem:
        return False
    return re.search(rf"^\s*[VAS][A-Z.]{{5}}\s+{re.escape(name)}\s", out.decode("utf-8", "replace"), re.M) is not None
