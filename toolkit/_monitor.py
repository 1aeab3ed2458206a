"""Resource samples: the machine (psutil) and every worker (its process, or what the scheduler knows).

A :class:`Monitor` thread samples every ``interval`` seconds, emits ``resources`` events, keeps
the peaks for ``summary.json`` and counts worker restarts (a worker address that disappears).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Callable

import psutil

__all__ = ["Monitor", "system_sample"]

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def system_sample(prev_io: Any = None, dt: float = 1.0) -> tuple[dict[str, float], Any]:
    vm = psutil.virtual_memory()
    io = psutil.disk_io_counters()
    rd = wr = 0.0
    if io is not None and prev_io is not None and dt > 0:
        rd = max(0.0, (io.read_bytes - prev_io.read_bytes) / dt)
        wr = max(0.0, (io.write_bytes - prev_io.write_bytes) / dt)
    return (
        {
            "cpu_percent": psutil.cpu_percent(None),
            "memory_percent": vm.percent,
            "memory_used": vm.total - vm.available,
            "memory_total": vm.total,
            "disk_read_bps": rd,
            "disk_write_bps": wr,
        },
        io,
    )


class Monitor(threading.Thread):
    def __init__(self, client, interval: float, emit: Callable[..., Any]):
        super().__init__(daemon=True, name="dataprep-monitor")
        self.client = client
        self.interval = interval
        self.emit = emit
        self.latest: dict[str, Any] = {}
        self.peaks: dict[str, Any] = {"system_memory_percent": 0.0, "worker_rss": {}}
        self.restarts = 0
        self._known: set[str] = set()
        self._procs: dict[str, psutil.Process] = {}  # worker address -> its process, when on this host
        self._halt = threading.Event()
        self._local = {socket.gethostname(), *_LOCAL_HOSTS}
        psutil.cpu_percent(None)

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        prev_io, t_prev = None, time.monotonic()
        while True:
            now = time.monotonic()
            try:
                sysd, prev_io = system_sample(prev_io, now - t_prev)
                workers = self._workers()
                self.latest = {"system": sysd, "workers": workers}
                self.peaks["system_memory_percent"] = max(self.peaks["system_memory_percent"], sysd["memory_percent"])
                self._record_peaks(workers)
                self.emit("resources", system=sysd, workers=workers)
            except Exception:  # noqa: BLE001 - a monitoring hiccup (scheduler closing) is not fatal
                pass
            t_prev = now
            if self._halt.wait(self.interval):
                return

    def sample_now(self) -> None:
        """One synchronous sample (used at the end so short runs still get peaks)."""
        try:
            self._record_peaks(self._workers())
        except Exception:  # noqa: BLE001
            pass

    def _record_peaks(self, workers: dict[str, dict[str, Any]]) -> None:
        for name, w in workers.items():
            self.peaks["worker_rss"][name] = max(self.peaks["worker_rss"].get(name, 0), w["rss"])

    def _process(self, addr: str) -> psutil.Process | None:
        if addr not in self._procs:
            try:
                pid = self.client.run(os.getpid, workers=[addr])[addr]
                self._procs[addr] = psutil.Process(pid)
            except Exception:  # noqa: BLE001 - gone already, or not reachable
                return None
        return self._procs.get(addr)

    def _workers(self) -> dict[str, dict[str, Any]]:
        from ._cluster import scheduler_workers

        infos = scheduler_workers(self.client)
        addrs = set(infos)
        self.restarts += len(self._known - addrs)  # a restarted worker comes back on a new address
        self._known = addrs
        for addr in list(self._procs):
            if addr not in addrs:
                del self._procs[addr]
        out = {}
        for addr, w in infos.items():
            name = str(w.get("name", addr))
            rss = int((w.get("metrics") or {}).get("memory") or 0)
            cpu = float((w.get("metrics") or {}).get("cpu") or 0.0)
            pid = None
            if str(w.get("host", "")) in self._local:
                proc = self._process(addr)
                if proc is not None:
                    try:
                        rss, cpu, pid = proc.memory_info().rss, proc.cpu_percent(None), proc.pid
                    except (psutil.Error, OSError):
                        self._procs.pop(addr, None)
            out[name] = {"address": addr, "rss": rss, "limit": int(w.get("memory_limit") or 0), "cpu_percent": cpu, "pid": pid}
        return out
