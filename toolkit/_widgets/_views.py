"""The panel's views: they draw a :class:`~toolkit._state.ProgressState`, a finished build's report and the dashboard.

Views only draw; what they show comes from the state (folded from the build's events) or from the
report, never from polling the run. Drawn from the engine's threads: each draw only sets widget
traits (one comm message each) and appends to an ``Output`` with ``append_stdout``, never
``with out:`` from a thread.
"""

from __future__ import annotations

import html
import time
from typing import Any, Callable

import ipywidgets as W

from .._dashboard import dashboard_urls
from .._events import Event
from .._progress import DECISIONS, describe, stage_text
from .._state import ProgressState
from .._units import format_bytes, format_duration
from ._preview import name_html, preview_html

__all__ = ["Views"]

_MAX_FAILED_ROWS = 200


def _bar(label: str, percent: float | None, text: str = "", warn: float = 80.0) -> str:
    p = 0.0 if percent is None else max(0.0, min(100.0, percent))
    colour = "#d9534f" if p >= 90 else "#f0ad4e" if p >= warn else "#5cb85c"
    return (
        f"<div class='dp-gauge' style='display:flex;align-items:center;gap:6px;margin:1px 0'>"
        f"<span style='width:150px;overflow:hidden;white-space:nowrap'>{html.escape(label)}</span>"
        f"<span style='display:inline-block;width:180px;height:12px;background:#eee;border:1px solid #ccc'>"
        f"<span style='display:block;height:100%;width:{p:.0f}%;background:{colour}'></span></span>"
        f"<span style='font-size:12px'>{html.escape(text or ('–' if percent is None else f'{p:.0f} %'))}</span></div>"
    )


def progress_html(s: ProgressState) -> str:
    eta = format_duration(s.eta_seconds)
    return (
        f"<span class='dp-progress'><b class='dp-percent'>{100 * s.fraction:.0f}%</b> · "
        f"<span class='dp-files'>{s.files_done} / {s.files_total} files</span> · "
        f"{format_bytes(s.bytes_done)} / {format_bytes(s.bytes_total)} · ETA {eta} · failed {s.failed}</span>"
    )


def batch_html(s: ProgressState) -> str:
    last = "–" if s.last_batch_files is None else str(s.last_batch_files)
    paused = " · <b class='dp-paused'>paused: memory</b>" if s.paused else ""
    return (
        f"<span class='dp-batch'>batch size <b class='dp-batch-size'>{s.batch_size}</b> · "
        f"last batch started: <b class='dp-last-batch'>{last}</b> files · "
        f"batches started: {s.batches_started}{paused}</span>"
    )


def gauges_html(s: ProgressState) -> str:
    if not s.system and not s.worker_resources:
        return ""
    mem, limit = s.system.get("memory_percent"), s.max_memory_percent
    parts = [
        "<div class='dp-gauges'>",
        _bar("system memory", mem, f"{mem or 0:.0f} % (max {limit:.0f} %)", warn=limit - 10),
        _bar("CPU", s.system.get("cpu_percent")),
    ]
    for name, w in sorted(s.worker_resources.items(), key=lambda kv: str(kv[0])):
        lim = w.get("limit") or 0
        pct = 100.0 * (w.get("rss") or 0) / lim if lim else None
        parts.append(_bar(f"worker {name}", pct, f"{format_bytes(w.get('rss'))} / {format_bytes(lim) if lim else 'no limit'}"))
    parts.append("</div>")
    return "".join(parts)


def failed_html(s: ProgressState, message_html: Callable[[str], str] = name_html) -> str:
    """The failed files so far; ``message_html`` shows a message (the panel: its settings as labels)."""
    if not s.failures:
        return ""
    rows = "".join(
        f"<tr><td>{name_html(f.source)}</td><td><code>{name_html(f.type)}</code></td><td>{message_html(f.message)}</td></tr>"
        for f in s.failures[:_MAX_FAILED_ROWS]
    )
    more = f"<div>… {s.failed - _MAX_FAILED_ROWS} more in the manifest</div>" if s.failed > _MAX_FAILED_ROWS else ""
    return (
        f"<details open class='dp-failed'><summary><b>{s.failed} failed</b></summary>"
        f"<table class='dp-failed-table'><tr><th>file</th><th>reason</th><th>message</th></tr>{rows}</table>"
        f"{more}</details>"
    )


def workers_html(scheduler: str, workers: dict[str, dict[str, Any]]) -> str:
    """The cluster a panel is attached to: its scheduler, and each worker's host, threads and memory limit."""
    e = html.escape
    rows = "".join(
        f"<tr class='dp-worker'><td><code>{e(addr)}</code></td><td>{e(str(w.get('host') or ''))}</td>"
        f"<td>{e(str(w.get('nthreads') or ''))}</td>"
        f"<td class='dp-worker-limit'>{format_bytes(w['memory_limit']) if w.get('memory_limit') else 'no limit'}</td></tr>"
        for addr, w in sorted(workers.items())
    )
    return (
        f"<div class='dp-cluster'>scheduler <code>{e(scheduler)}</code> · <b class='dp-worker-count'>{len(workers)}</b> "
        f"worker{'s' * (len(workers) != 1)}<table class='dp-workers'><tr><th>worker</th><th>host</th><th>threads</th>"
        f"<th>memory limit</th></tr>{rows}</table></div>"
    )


def _frame(cls: str, url: str) -> str:
    return f"<iframe class='{cls}' src='{html.escape(url)}' style='width:560px;height:320px;border:1px solid #ccc'></iframe>"


class Views:
    """The widgets that show a build: status, progress, gauges, failures, report, preview, dashboard, log.

    ``words``: a core message as HTML, its file names escaped (the panel names settings by its labels)."""

    def __init__(self, words: Callable[[str], str] = name_html) -> None:
        self.words = words
        st = {"description_width": "150px"}
        self.status = W.HTML("<span class='dp-status'>ready</span>")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="Files", style=st, layout=W.Layout(width="560px"))
        self.progress_label = W.HTML("", layout=W.Layout(min_height="20px"))
        self.batch_label = W.HTML("")
        self.gauges = W.HTML("")
        self.failed_table = W.HTML("")
        self.dashboard = W.HTML("")
        self.dashboard_frames = W.HTML("")
        self.workers_view = W.HTML("")  # the cluster's scheduler and workers with their memory limits
        self.report_view = W.HTML("")
        self.preview = W.HTML("")
        self.curation_view = W.HTML("")  # counts, split x label table, duplicates (drawn by the Recurator)
        self.card_view = W.HTML("")  # the dataset card's pictures (drawn by the Recurator too: re-curation redraws the card)
        self.log = W.Output(layout=W.Layout(max_height="160px", overflow="auto"))
        self.dashboard_url: str | None = None

    def tabs(self, code: W.Widget) -> W.Tab:
        live = W.VBox([self.progress, self.progress_label, self.batch_label, self.gauges, self.failed_table])
        children = [
            W.VBox([live, self.report_view, self.curation_view, self.card_view, self.preview]),
            W.VBox([self.workers_view, self.dashboard, self.dashboard_frames]),
            code,
            self.log,
        ]
        tabs = W.Tab(children=children)
        for i, title in enumerate(("Progress", "Dashboard", "Copy as code", "Log")):
            tabs.set_title(i, title)
        return tabs

    def draw(self, s: ProgressState) -> None:
        self.progress.max = max(1, s.files_total)
        self.progress.value = round(s.fraction * self.progress.max)
        self.progress_label.value = progress_html(s)
        self.batch_label.value = batch_html(s)
        self.gauges.value = gauges_html(s)
        self.failed_table.value = failed_html(s, self.words)

    def clear(self) -> None:
        self.progress.value, self.progress.max = 0, 1
        self.progress_label.value = self.batch_label.value = self.gauges.value = ""
        self.failed_table.value = self.report_view.value = self.preview.value = self.curation_view.value = (
            self.card_view.value
        ) = ""

    def set_status(self, text_html: str) -> None:
        self.status.value = f"<span class='dp-status'>{text_html}</span>"

    def error_status(self, text_html: str, cls: str = "dp-error") -> None:
        self.set_status(f"<span style='color:#c00' class='{cls}'>{text_html}</span>")

    def log_line(self, text: str) -> None:
        self.log.append_stdout(time.strftime("%H:%M:%S ") + text + "\n")

    def show_dashboard(self, link: str | None) -> None:
        urls = dashboard_urls(link)
        if not urls:
            self.dashboard.value = "<i>no dashboard (install bokeh>=3.1)</i>"
            self.dashboard_frames.value = ""
            return
        self.dashboard_url = urls["status"]
        e = html.escape
        self.dashboard.value = (
            f"<a class='dp-dashboard-link' href='{e(urls['status'])}' target='_blank'>"
            f"Open the Dask dashboard</a> <code>{e(urls['status'])}</code>"
        )
        self.dashboard_frames.value = (
            "<div class='dp-dashboard-frames' style='display:flex;flex-wrap:wrap;gap:6px'>"
            + _frame("dp-frame-progress", urls["progress"])
            + _frame("dp-frame-memory", urls["workers_memory"])
            + "</div>"
        )

    @staticmethod
    def event_line(ev: Event) -> str | None:
        """The log line of an event worth one: the plan as it starts, each decision of the run."""
        if ev.kind == "run-started":
            d = ev.payload
            return (
                f"{d.files} files ({format_bytes(d.bytes)}) in about {d.batches} batches of {d.batch_size}; {d.workers} workers"
            )
        if ev.kind == "stage" and ev.payload.state != "started":
            p = ev.payload
            return f"{stage_text(p.name)}: {p.state} in {p.seconds:.1f} s"
        return describe(ev) if ev.kind in DECISIONS else None

    def show_report(self, report: Any) -> None:
        """A finished build: its report, the preview, and a status line (why it stopped, if it did)."""
        self.report_view.value = report.html(words=self.words)
        try:
            self.preview.value = preview_html(report.output, report.manifest)
        except Exception as exc:  # noqa: BLE001 - a preview is best effort
            self.preview.value = f"<i>no preview: {html.escape(str(exc))}</i>"
        word = "stopped" if report.stopped else "done"
        why = report.stop_reason  # stopped by itself: the output could not be written
        self.set_status(
            f"<span class='dp-done'>{word}: {report.ok} ok, {report.failed} failed, "
            f"{report.skipped} skipped in {report.seconds:.1f} s</span>"
            + (
                f" <span style='color:#c00' class='dp-error dp-stop-reason'>{html.escape(why['type'])}: "
                f"{self.words(why['message'])}</span>"
                if why
                else ""
            )
        )
        self.log_line(f"{word}: manifest {report.manifest}")
