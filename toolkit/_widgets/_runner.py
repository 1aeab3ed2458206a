"""The panel's build: start it in the background, watch its events, show its result, stop it.

:class:`BuildRunner` is the half of ``Panel`` that runs builds: the engine's ``toolkit._run.start``
on the panel's ``ClusterSession``, from a background thread so the kernel stays free; each event is
folded into the ``ProgressState`` that ``Views`` draw, renders rate-limited so thousands of
``item`` events stay cheap. The other half (``_panel.Panel``) makes the controls and views.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

from .._config import BuildConfig
from .._errors import Stopped
from .._events import Event
from .._fs import printable
from .._progress import stage_text
from .._session import ClusterSession
from .._state import ProgressState
from ._controls import Controls, label_keys
from ._recurate import Recurator
from ._views import Views, workers_html

__all__ = ["BuildRunner"]

_RENDER_EVERY = 0.25  # seconds between live re-renders


class BuildRunner:
    """Starts, watches and stops the panel's builds (``Panel`` makes the parts it uses)."""

    controls: Controls
    views: Views
    recurator: Recurator

    def __init__(self, client: Any) -> None:
        self.session = ClusterSession(client)
        self.run: Any = None  # the current toolkit Run
        self.report: Any = None  # the last RunReport
        self.error: BaseException | None = None
        self.state = ProgressState()
        self._lock = threading.RLock()
        self._finished = threading.Event()
        self._finished.set()
        self._last_render = 0.0
        self._stop_requested = False
        self._stopping = False  # Stop was pressed: the status says so until the run ends

    # ------------------------------------------------------------------ start / stop
    @property
    def running(self) -> bool:
        return not self._finished.is_set()

    def start(self) -> None:
        """Validate the settings and start the build in the background (returns at once)."""
        from .._preflight import validate_paths

        with self._lock:
            if self.running:
                self._log("a build is already running")
                return
            try:
                cfg = self.controls.config()
                validate_paths(cfg)
            except Exception as exc:  # noqa: BLE001 - shown, never raised into the button callback
                self.error = exc
                self.views.error_status(self._said(str(exc)))
                return
            self.recurator.pause()  # no re-curation while a build runs (a running one is waited for)
            self.views.clear()
            self.state = ProgressState(max_memory_percent=cfg.max_memory_percent)
            self.error = self.report = self.run = None
            self._finished.clear()
            self._stopping = False
            self.controls.start_button.disabled, self.controls.stop_button.disabled = True, False
            self.views.set_status("starting…" if self.session.reuses(cfg) else "starting the cluster…")
        threading.Thread(target=self._start_and_watch, args=(cfg,), name="dataprep-panel", daemon=True).start()

    def stop(self, grace: float = 5.0) -> None:
        """Stop the running build: pending batches are cancelled, the manifest and summary are written."""
        run = self.run
        if run is None:
            self._stop_requested = self.running
            return
        self._stopping = True
        run.stop(grace)
        self.controls.stop_button.disabled = True
        stage = self.state.stage  # after the batches: the pieces being written finish and are kept
        self.views.set_status(
            f"stopping {html.escape(stage_text(stage))}: the pieces being written finish and are kept…"
            if stage
            else "stopping: waiting for running batches…"
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the current run (if any) has finished and the panel shows its results."""
        return self._finished.wait(timeout)

    def wait_running(self, timeout: float = 60.0) -> Any:
        """Wait until the engine run exists (after the cluster started); returns it."""
        t0 = time.monotonic()
        while self.run is None and time.monotonic() - t0 < timeout and not self._finished.is_set():
            time.sleep(0.05)
        return self.run

    def close(self) -> None:
        """Stop a run and close the cluster the panel started (a client you gave stays open)."""
        self._stop_requested = True  # a wait for a cluster's workers ends too (it holds the session)
        self.recurator.cancel()
        if self.run is not None and not self.run.done:
            self.run.stop(0)
            self.run.wait(30)
        self.session.close()

    def show_cluster(self) -> None:
        """Show the held cluster's scheduler and workers with their memory limits (Dashboard tab)."""
        from .._cluster import scheduler_workers

        client = self.session.current or self.session.given_client
        if client is None:
            return
        try:
            self.views.workers_view.value = workers_html(str(client.scheduler.address), scheduler_workers(client))
        except Exception as exc:  # noqa: BLE001 - shown, never raised into the panel
            self._log(f"could not list the cluster's workers: {exc}")

    def _start_and_watch(self, cfg: BuildConfig) -> None:
        from .._run import start

        self._stop_requested, run = False, None
        try:
            if self.session.started and not self.session.reuses(cfg):
                self._log("cluster settings changed: starting a new cluster")
            self.recurator.wait(120)
            client = self.session.client(cfg, lambda: self._stop_requested)  # Stop ends a wait for workers
            self.views.show_dashboard(self.session.dashboard_link)
            self.show_cluster()
            run = start(cfg, client=client, session=self.session, sinks=[self._on_event])  # may refuse: output busy
            self.run = run
            self.views.set_status("running")
            self._log(f"started: {', '.join(cfg.inputs)} -> {cfg.output}")
            if self._stop_requested:
                run.stop()
        except Stopped:  # pressed while waiting for the cluster's workers: nothing was started
            self.views.set_status("stopped before the build began")
            self._log("stopped while waiting for the cluster's workers")
        except BaseException as exc:  # noqa: BLE001
            self._show_error("", "error", exc)
        try:
            if run is not None:
                run.wait()
                try:
                    self._show_result(run.result())
                except BaseException as exc:  # noqa: BLE001
                    self._show_error("build failed: ", "build failed", exc)
        finally:
            self.show_cluster()  # a worker may have died and come back under a new address
            self.controls.start_button.disabled, self.controls.stop_button.disabled = False, True
            self._finished.set()
        self.recurator.resume()  # curation controls changed during the build: re-curate it now

    def _show_error(self, status_prefix: str, log_prefix: str, exc: BaseException) -> None:
        self.error = exc
        self.views.error_status(f"{html.escape(status_prefix)}{html.escape(type(exc).__name__)}: {self._said(str(exc))}")
        self._log(f"{log_prefix}: {exc}")

    def _show_result(self, report: Any) -> None:
        self.report = report
        with self._lock:
            self.views.draw(self.state)
        self.views.show_report(report)
        self.recurator.follow(report)

    # ------------------------------------------------------------------ events (any thread)
    def _on_event(self, ev: Event) -> None:
        with self._lock:
            self.state.apply(ev)
            line = self.views.event_line(ev)
            if ev.kind == "stage" and not self._stopping:  # after the batches: what the run does now
                p = ev.payload
                if p.state == "started":
                    self.views.set_status(
                        f"<span class='dp-stage' data-stage='{html.escape(p.name)}'>{html.escape(stage_text(p.name))}…</span>"
                    )
            if line:
                self._log(line)
            now = time.monotonic()
            if (
                ev.kind in ("run-started", "throttle", "settings-changed", "run-finished")
                or now - self._last_render >= _RENDER_EVERY
            ):
                self._last_render = now
                self.views.draw(self.state)

    def _log(self, text: str) -> None:
        self.views.log_line(label_keys(text, self.controls.labels, as_html=False))

    def _said(self, message: str) -> str:
        """A message of the core, as HTML: its settings named by their controls' labels, file names escaped."""
        return label_keys(printable(message), self.controls.labels)
