"""The text view: a progress bar (files, bytes, ETA) in a terminal or a notebook, and log lines.

It folds events into a :class:`~toolkit._state.ProgressState` and draws that: the numbers are the
ones the notebook panel shows. Chosen by environment like ``tqdm.auto``: a widget bar in a kernel,
text in a terminal, plain periodic lines when the output is not a terminal (CI, cron, Makefiles).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from ._events import Event
from ._fs import printable
from ._state import ProgressState
from ._units import format_bytes

__all__ = ["TextProgress", "auto_sink", "log_sink", "stage_text"]

log = logging.getLogger("toolkit")


class TextProgress:
    """Renders engine events with tqdm; decisions (throttle, retries, warnings) as log lines."""

    def __init__(self, file: Any = None, notebook: bool | None = None, words: Callable[[str], str] | None = None):
        self.file = file or sys.stderr
        self.notebook = notebook
        self.words = words or (lambda text: text)  # how this front end names settings (the CLI: as flags)
        self.bar: Any = None
        self.state = ProgressState()

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
        if ev.kind == "run-started":  # a new build (one view may serve several): its own counts from 0
            self.state = ProgressState()
        st = self.state.apply(ev)
        if ev.kind == "run-started" and not ev.payload.workers and not ev.payload.files:  # nothing to do (toolkit._quick)
            self.write(
                f"dataprep: nothing changed since the last build; {ev.payload.carried} files already done, no cluster started"
            )
        elif ev.kind == "run-started":
            d = ev.payload
            self.write(
                f"dataprep: {d.files} files ({format_bytes(d.bytes)}) in {d.batches} batches of up to "
                f"{d.batch_size} files / {format_bytes(d.budget_bytes)}; {d.workers} workers x {format_bytes(d.memory_limit)}"
                + (f"; {d.carried} already done" if d.carried else "")
                + (f"; {d.left_out} left out before processing (see the summary)" if d.left_out else "")
            )
            if d.dashboard:
                self.write(f"dataprep: dashboard {d.dashboard}")
            tty = getattr(self.file, "isatty", lambda: False)()
            self.bar = self._tqdm()(
                total=st.files_total,
                unit="file",
                file=self.file,
                dynamic_ncols=True,
                mininterval=0.2 if tty else 10.0,
                smoothing=0.1,
                desc="build",
            )
        elif ev.kind == "item" and self.bar is not None and not ev.payload.left_out:
            self.bar.update(st.files_done - self.bar.n)
            self.bar.set_postfix_str(f"{format_bytes(st.bytes_done)}/{format_bytes(st.bytes_total)}", refresh=False)
        elif ev.kind in DECISIONS:
            self.write(f"dataprep: {self.words(describe(ev))}")
        elif ev.kind == "stage" and ev.payload.state != "started":  # one line as each stage ends
            if self.bar is not None:  # the batches are over: the bar ends, so a log does not repeat it per line
                self.bar.close()
                self.bar = None
            p = ev.payload
            self.write(f"dataprep: {stage_text(p.name)}: {'' if p.state == 'finished' else p.state + ' after '}{p.seconds:.1f} s")
        elif ev.kind == "run-finished" and self.bar is not None:
            self.bar.close()
            self.bar = None


#: what the curate and export stages do, as a status line says it while they run ("writing webdataset shards…")
STAGE_WORDS = {
    "curate": "curating",
    "mirror": "tidying the output folder",
    "manifest_parquet": "writing manifest.parquet",
    "card": "drawing the dataset card",
    "card_wait": "finishing the dataset card",
    "webdataset": "writing webdataset shards",
    "imagefolder": "writing the imagefolder",
    "parquet": "writing parquet shards",
}


def stage_text(name: str) -> str:
    """What the stage ``name`` does, in words ("writing webdataset shards"; another sink: "exporting NAME")."""
    return STAGE_WORDS.get(name, f"exporting {name}")


#: the events that record a decision of the run (shown as a line of text by :func:`describe`)
DECISIONS = ("throttle", "batch-retried", "warning", "settings-changed")


def describe(ev: Event) -> str:
    d = ev.data
    if ev.kind == "throttle":
        return (
            f"{d['action']}: {d['reason']} (memory {d['memory_percent']}% of max {d['max_memory_percent']:g}%; "
            f"batch size {d['batch_size']}, budget {format_bytes(d['budget_bytes'])})"
        )
    if ev.kind == "batch-retried":
        return f"batch {d['batch']} lost its worker ({d['reason']}); retrying in {d['parts']} part(s)"
    if ev.kind == "settings-changed":
        return f"settings changed: batch size {d['batch_size'] or 'auto'}, max memory {d['max_memory_percent']:g}%"
    if ev.kind == "warning":
        return d["message"]
    return f"{ev.kind} {d}"


def log_sink(ev: Event, words: Callable[[str], str] | None = None) -> None:
    """Every decision as a log line on the ``toolkit`` logger (``words``: as in :class:`TextProgress`)."""
    if ev.kind in DECISIONS:
        log.info((words or (lambda text: text))(describe(ev)))


def auto_sink() -> Callable[[Event], None]:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        in_kernel = shell is not None and "IPKernelApp" in getattr(shell, "config", {})
    except ImportError:
        in_kernel = False
    return TextProgress(file=sys.stdout if in_kernel else sys.stderr, notebook=in_kernel)
