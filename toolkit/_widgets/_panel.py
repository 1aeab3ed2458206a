"""The notebook control panel: settings, live progress, failures, the Dask dashboard and previews of builds.

The panel gathers settings (``Controls``) and draws the build's events: they are folded into one
``ProgressState`` that ``Views`` draw, as the terminal's bar draws the same state. The cluster is
a ``ClusterSession``'s, the build the engine's (``toolkit._run.start``), run from a background
thread so the kernel stays free. Renders are rate-limited so thousands of ``item`` events stay cheap.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

import ipywidgets as W

from .._config import BuildConfig
from .._settings import canonical_key
from .._errors import ConfigError
from .._fs import printable
from .._events import Event
from .._session import ClusterSession
from .._state import ProgressState
from ._code import CodeView, build_code
from ._controls import Controls, label_keys
from ._views import Views

__all__ = ["Panel"]

_RENDER_EVERY = 0.25  # seconds between live re-renders


class Panel:
    """Controls, live progress, resources, failures, the Dask dashboard and previews of one build.

    Every setting can be preset: ``Panel(inputs=["photos"], output="out", op="resize", size=256,
    batch_size=8, jobs=2, memory_limit="1GiB", max_memory_percent=70, scheduler="tcp://...")``.
    ``client=`` uses an existing ``distributed.Client`` (or Cluster); otherwise the panel starts a
    local cluster on the first Start and keeps it for the next runs while the cluster's settings
    stay the same (``close()`` ends it). The controls' and views' widgets are attributes of the
    panel too (``panel.batch_size``, ``panel.status``, ...).
    """

    def __init__(self, *, client: Any = None, start_on_display: bool = False, **settings: Any):
        settings = {canonical_key(k): v for k, v in settings.items()}
        self.session = ClusterSession(client)
        self.run: Any = None  # the current toolkit Run
        self.report: Any = None  # the last RunReport
        self.error: BaseException | None = None
        self.state = ProgressState()
        self._lock = threading.RLock()
        self._finished = threading.Event()
        self._finished.set()
        self._last_render = 0.0
        self._start_on_display = start_on_display
        self._stop_requested = False
        self.controls = Controls(BuildConfig.create(**settings) if settings else BuildConfig(), settings)
        self.views, self.code_view = Views(words=self._said), CodeView()
        for part in (self.controls, self.views, self.code_view):  # panel.batch_size, panel.status, ...
            vars(self).update({k: v for k, v in vars(part).items() if isinstance(v, W.Widget) and k != "box"})
        self.controls.connect(on_setting=self._refresh_code, on_live=self._on_live, on_start=self.start, on_stop=self.stop)
        self.tabs = self.views.tabs(self.code_view.box)
        title = W.HTML("<h3 style='margin:4px 0'>dataprep</h3>")
        self.widget = W.VBox([title, self.controls.box(self.views.status), self.tabs])
        self.widget.add_class("dataprep-panel")
        self._refresh_code()

    @property
    def dashboard_url(self) -> str | None:
        return self.views.dashboard_url

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
        if self._start_on_display:
            self._start_on_display = False
            self.start()

    def _repr_mimebundle_(self, **kwargs: Any):  # for front ends that do not call _ipython_display_
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ settings <-> config
    def settings(self) -> dict[str, Any]:
        """The panel's settings as keyword arguments of ``BuildConfig.create`` (not yet validated)."""
        return self.controls.settings()

    def config(self) -> BuildConfig:
        """The validated :class:`BuildConfig` of the current settings (raises ``ConfigError``)."""
        return self.controls.config()

    def code_text(self) -> str:
        return build_code(self.config())

    def _said(self, message: str) -> str:
        """A message of the core, as HTML: its settings named by their controls' labels, file names escaped."""
        return label_keys(printable(message), self.controls.labels)

    def _refresh_code(self, _change: dict | None = None) -> None:
        self.controls.sync()
        try:
            self.code_view.show(self.config())
        except (ConfigError, ValueError) as exc:
            self.code_view.show_error(self._said(str(exc)))

    # ------------------------------------------------------------------ live changes
    def _on_live(self, change: dict) -> None:
        """A slider moved while a build runs: the run takes it for its next batches."""
        run, c = self.run, self.controls
        if run is None or run.done:
            return
        memory = change["owner"] is c.max_memory
        try:
            if memory:
                run.set_max_memory(float(change["new"]))
            else:
                run.set_batch_size(None if c.batch_auto.value else int(c.batch_size.value))
        except Exception as exc:  # noqa: BLE001 - shown, never raised into a widget callback
            self._log(f"could not change {'max memory' if memory else 'the batch size'}: {exc}")

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
                cfg = self.config()
                validate_paths(cfg)
            except Exception as exc:  # noqa: BLE001 - shown, never raised into the button callback
                self.error = exc
                self.views.error_status(self._said(str(exc)))
                return
            self.views.clear()
            self.state = ProgressState(max_memory_percent=cfg.max_memory_percent)
            self.error = self.report = self.run = None
            self._finished.clear()
            self.controls.start_button.disabled, self.controls.stop_button.disabled = True, False
            self.views.set_status("starting…" if self.session.reuses(cfg) else "starting the cluster…")
        threading.Thread(target=self._start_and_watch, args=(cfg,), name="dataprep-panel", daemon=True).start()

    def stop(self, grace: float = 5.0) -> None:
        """Stop the running build: pending batches are cancelled, the manifest and summary are written."""
        run = self.run
        if run is None:
            self._stop_requested = self.running
            return
        run.stop(grace)
        self.controls.stop_button.disabled = True
        self.views.set_status("stopping: waiting for running batches…")

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
        if self.run is not None and not self.run.done:
            self.run.stop(0)
            self.run.wait(30)
        self.session.close()

    def _start_and_watch(self, cfg: BuildConfig) -> None:
        from .._run import start

        self._stop_requested, run = False, None
        try:
            if self.session.started and not self.session.reuses(cfg):
                self._log("cluster settings changed: starting a new cluster")
            client = self.session.client(cfg)
            self.views.show_dashboard(self.session.dashboard_link)
            run = start(cfg, client=client, session=self.session, sinks=[self._on_event])  # may refuse: output busy
            self.run = run
            self.views.set_status("running")
            self._log(f"started: {', '.join(cfg.inputs)} -> {cfg.output}")
            if self._stop_requested:
                run.stop()
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
            self.controls.start_button.disabled, self.controls.stop_button.disabled = False, True
            self._finished.set()

    def _show_error(self, status_prefix: str, log_prefix: str, exc: BaseException) -> None:
        self.error = exc
        self.views.error_status(f"{html.escape(status_prefix)}{html.escape(type(exc).__name__)}: {self._said(str(exc))}")
        self._log(f"{log_prefix}: {exc}")

    def _show_result(self, report: Any) -> None:
        self.report = report
        with self._lock:
            self.views.draw(self.state)
        self.views.show_report(report)

    # ------------------------------------------------------------------ events (any thread)
    def _on_event(self, ev: Event) -> None:
        with self._lock:
            self.state.apply(ev)
            line = self.views.event_line(ev)
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
