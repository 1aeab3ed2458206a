"""Event sinks: a progress bar (files, bytes, ETA) in a terminal or a notebook, and log lines.

Chosen by environment like ``tqdm.auto``: a widget bar in a kernel, text in a terminal, plain
periodic lines when the output is not a terminal (CI, cron, Makefiles).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from ._fs import printable
from ._events import Event

__all__ = ["TextProgress", "auto_sink", "log_sink"]

log = logging.getLogger("toolkit")


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


class TextProgress:
    """Renders engine events with tqdm; decisions (throttle, retries, warnings) as log lines."""

    def __init__(self, file: Any = None, notebook: bool | None = None):
        self.file = file or sys.stderr
        self.notebook = notebook
        self.bar = None

    def _tqdm(self) -> Callable:
        if self.notebook:
            from tqdm.auto import tqdm

            return tqdm
        from tqdm import tqdm

        return tqdm

    def write(self, msg: str) -> None:
        msg = printable(msg)  # one line: a file name it quotes may hold a newline or a bidi control
        if self.bar is not None and not self.notebook:
            self.bar.write(msg, file=self.file)
        else:
            print(msg, file=self.file, flush=True)

    def __call__(self, ev: Event) -> None:
        d = ev.data
        if ev.kind == "run-started":
            self.write(
                f"dataprep: {d['files']} files ({_mib(d['bytes'])}) in {d['batches']} batches of up to "
                f"{d['batch_size']} files / {_mib(d['budget_bytes'])}; {d['workers']} workers x {_mib(d['memory_limit'])}"
                + (f"; {d['carried']} already done" if d.get("carried") else "")
                + (f"; {d['left_out']} left out before processing (see the summary)" if d.get("left_out") else "")
            )
            if d.get("dashboard"):
                self.write(f"dataprep: dashboard {d['dashboard']}")
            tty = getattr(self.file, "isatty", lambda: False)()
            self.bar = self._tqdm()(
                total=d["files"],
                unit="file",
                file=self.file,
                dynamic_ncols=True,
                mininterval=0.2 if tty else 10.0,
                smoothing=0.1,
                desc="build",
            )
            self._bytes, self._total_bytes = 0, d["bytes"]
        elif ev.kind == "item" and self.bar is not None and not d.get("left_out"):
            self._bytes += ev.data["row"].get("bytes_in") or 0
            self.bar.update(1)
            self.bar.set_postfix_str(f"{_mib(self._bytes)}/{_mib(self._total_bytes)}", refresh=False)
        elif ev.kind in DECISIONS:
            self.write(f"dataprep: {describe(ev)}")
        elif ev.kind == "run-finished" and self.bar is not None:
            self.bar.close()
            self.bar = None


#: the events that record a decision of the run (shown as a line of text by :func:`describe`)
DECISIONS = ("throttle", "batch-retried", "warning", "settings-changed")


def describe(ev: Event) -> str:
    d = ev.data
    if ev.kind == "throttle":
        return (
            f"{d['action']}: {d['reason']} (memory {d['memory_percent']}% of max {d['max_memory_percent']:g}%; "
            f"batch size {d['batch_size']}, budget {_mib(d['budget_bytes'])})"
        )
    if ev.kind == "batch-retried":
        return f"batch {d['batch']} lost its worker ({d['reason']}); retrying in {d['parts']} part(s)"
    if ev.kind == "settings-changed":
        return f"settings changed: batch size {d['batch_size'] or 'auto'}, max memory {d['max_memory_percent']:g}%"
    if ev.kind == "warning":
        return d["message"]
    return f"{ev.kind} {d}"


def log_sink(ev: Event) -> None:
    """Every decision as a log line on the ``toolkit`` logger."""
    if ev.kind in DECISIONS:
        log.info(describe(ev))


def auto_sink() -> Callable[[Event], None]:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        in_kernel = shell is not None and "IPKernelApp" in getattr(shell, "config", {})
    except ImportError:
        in_kernel = False
    return TextProgress(file=sys.stdout if in_kernel else sys.stderr, notebook=in_kernel)
