"""The notebook control panel: settings, live progress, failures, the Dask dashboard and previews of builds.

The panel gathers settings (``Controls``, with the curation controls) and draws the build's
events: they are folded into one ``ProgressState`` that ``Views`` draw, as the terminal's bar
draws the same state. Running builds is its ``BuildRunner`` half (``_runner``); re-curating a
finished build when a curation control changes, its ``Recurator`` (``_recurate``).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from .._config import BuildConfig
from .._errors import ConfigError
from .._settings import canonical_key
from ._code import CodeView, build_code
from ._controls import Controls
from ._recurate import Recurator
from ._runner import BuildRunner
from ._views import Views

__all__ = ["Panel"]


class Panel(BuildRunner):
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
        super().__init__(client)
        self._start_on_display = start_on_display
        self.controls = Controls(BuildConfig.create(**settings) if settings else BuildConfig(), settings)
        self.views, self.code_view = Views(words=self._said), CodeView()
        self.recurator = Recurator(self, given=settings)  # a curation control changed after a build: re-curate it
        for part in (
            self.controls,
            self.controls.curation,
            self.controls.export,
            self.views,
            self.code_view,
        ):  # panel.batch_size, panel.status...
            vars(self).update({k: v for k, v in vars(part).items() if isinstance(v, W.Widget) and k != "box"})
        self.controls.connect(
            on_setting=self._refresh_code,
            on_live=self._on_live,
            on_start=self.start,
            on_stop=self.stop,
            on_curation=self.recurator.on_control,
        )
        self.tabs = self.views.tabs(self.code_view.box)
        title = W.HTML("<h3 style='margin:4px 0'>dataprep</h3>")
        self.widget = W.VBox([title, self.controls.box(self.views.status), self.tabs])
        self.widget.add_class("dataprep-panel")
        self._refresh_code()
        self.show_cluster()  # a client you gave: its workers and their memory limits, before any build
        self.recurator.open(settings.get("output"))  # a finished build there: its curation, and re-curation

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

    def _refresh_code(self, _change: dict | None = None) -> None:
        self.controls.sync()
        try:
            self.code_view.show(self.config())
        except (ConfigError, ValueError) as exc:
            self.code_view.show_error(self._said(str(exc)))

    # ------------------------------------------------------------------ live changes
    def wait_curation(self, timeout: float = 60.0) -> bool:
        """Wait until no re-curation is pending or running (after a curation control changed)."""
        return self.recurator.wait(timeout)

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
