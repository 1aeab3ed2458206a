"""Re-curation from the panel: a curation control changed after a finished build, so curate it again.

The :class:`Recurator` follows the panel's last finished build (or the curated build its output
folder already held when it opened). A change of a curation control waits ``delay`` seconds for
the next one (typing "0.75" is one change, not four), then, on a background thread, calls
``toolkit.curate(output, **changed)`` (no cluster, nothing decoded; it holds the output's lock)
and redraws the counts, the split x label table, the duplicates view and the dataset card (which
``toolkit.curate`` rewrote). It never runs while a
build runs: ``Panel.start`` cancels a pending one and waits for a running one, and a change made
during a build is applied when the build ends.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from .._config import BuildConfig
from .._curation import CURATION_KEYS, curate
from .._errors import ConfigError
from .._manifest import MANIFEST, SUMMARY, read_rows
from ._card_view import card_view_html
from ._curation_controls import CURATION_CONTROL_KEYS
from ._curation_view import counts_html, duplicates_html, split_label_counts, split_table_html

__all__ = ["Recurator", "curation_html", "read_build", "read_summary"]

_HINT = (
    "<div class='dp-curation-hint' style='font-size:12px;color:#555'>Curation is off for this build: set Labels, "
    "Duplicates, a filter or Splits above to curate it (nothing is decoded again).</div>"
)


def read_summary(output: str) -> dict[str, Any]:
    """A build's summary.json, or {} (none, or not a JSON object)."""
    try:
        with open(os.path.join(output, SUMMARY), encoding="utf-8") as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def read_build(output: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A build's summary.json ({} if none) and manifest rows ([] if none)."""
    manifest = os.path.join(output, MANIFEST)
    return read_summary(output), read_rows(manifest) if os.path.isfile(manifest) else []


def curation_html(output: str, curation: dict[str, Any] | None, rows: list[dict[str, Any]], note: str = "") -> str:
    """What curation made of the build in ``output``: counts, the split x label table, the duplicates."""
    if not curation:
        return f"<div class='dp-curation'>{note}{_HINT}</div>"
    files = (curation.get("leakage") or {}).get("files") or split_label_counts(rows)
    return (
        f"<div class='dp-curation'><b>Curation</b>{note}{counts_html(curation)}{split_table_html(files)}"
        f"{duplicates_html(rows, output)}</div>"
    )


class Recurator:
    """Re-curates the panel's finished build when its curation controls change (see the module)."""

    def __init__(self, panel: Any, given: dict[str, Any] | None = None, delay: float = 0.6) -> None:
        self.panel, self.delay = panel, delay
        #: curation settings given to the panel stand; else its controls take those of the build it opens on
        self.given = bool(set(given or ()) & set(CURATION_CONTROL_KEYS))
        self.target: str | None = None  # the output folder of the build that changes re-curate
        self.applied: dict[str, Any] = {}  # the curation settings that build's rows were curated with
        self.report: dict[str, Any] | None = None  # its summary.json ``curation`` section
        self.count = 0  # re-curations done
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()  # one re-curation at a time
        self._cv = threading.Condition()
        self._busy = 0

    @property
    def keys(self) -> tuple[str, ...]:
        """The curation keys that have a control and that ``toolkit.curate`` takes."""
        return tuple(k for k in self.panel.controls.curation.keys if k in CURATION_KEYS)

    def normal(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Curation settings as a config holds them (checked; ConfigError naming the key)."""
        cfg = BuildConfig.create(**{k: v for k, v in settings.items() if k in self.keys})
        return {k: getattr(cfg, k) for k in self.keys}

    def wanted(self) -> dict[str, Any]:
        return self.normal(self.panel.controls.curation.settings())

    def changed_keys(self) -> dict[str, Any]:
        """The curation settings the controls hold that the build was not curated with."""
        if self.target is None:
            return {}
        return {k: v for k, v in self.wanted().items() if v != self.applied.get(k)}

    # ------------------------------------------------------------------ following a build
    def attach(self, output: str, note: str = "") -> None:
        """Show the curation of the finished build in ``output``; later changes re-curate it."""
        summary, rows = read_build(output)
        try:
            applied = self.normal(summary.get("settings") or {})
        except ConfigError:
            applied = {}
        self.target, self.applied, self.report = output, applied, summary.get("curation")
        self.panel.views.curation_view.value = curation_html(output, self.report, rows, note)
        self.panel.views.card_view.value = card_view_html(output)

    def follow(self, report: Any) -> None:
        """The panel's build finished (a ``RunReport``): show its curation; changes re-curate it."""
        if report.stopped:
            return
        try:
            self.attach(report.output)
        except Exception as exc:  # noqa: BLE001 - the build is done: its curation view is best effort
            self.panel._log(f"no curation view: {exc}")

    def open(self, output: str | None) -> None:
        """The panel opened on ``output``: follow the finished build it holds, if any (in the background)."""
        if not output or not os.path.isfile(os.path.join(output, SUMMARY)) or not os.path.isfile(os.path.join(output, MANIFEST)):
            return
        self._enter()
        threading.Thread(target=self._opened, args=(output,), name="dataprep-panel-open", daemon=True).start()

    def _opened(self, output: str) -> None:
        try:
            with self._lock:
                if not read_summary(output).get("stopped") and not self.panel.running:
                    self.attach(
                        output, " <span style='font-size:12px;color:#555'>(the build already in the output folder)</span>"
                    )
                    if not self.given:  # the controls continue that dataset's curation
                        self.panel.controls.curation.show_settings(self.applied)
        except Exception as exc:  # noqa: BLE001 - shown, never raised from a thread
            self.panel._log(f"could not read the build in {output}: {exc}")
        finally:
            self._leave()

    # ------------------------------------------------------------------ changes
    def on_control(self, _change: dict | None = None) -> None:
        """A curation control changed: say beside the controls what cannot work, else re-curate the
        finished build (debounced; a change during a build is applied when it ends)."""
        p, cur = self.panel, self.panel.controls.curation
        if not cur.check_splits(p._said):
            cur.show_error("")
            return
        try:
            BuildConfig.create(**cur.settings())
        except (ConfigError, ValueError) as exc:
            cur.show_error(p._said(str(exc)))
            return
        cur.show_error("")
        if p.running:
            p._log("curation settings changed: they apply when this build ends")
        self.changed()

    def pause(self) -> None:
        """A build starts: nothing pending runs, and no change re-curates until it has finished."""
        self.cancel()
        self.target = None

    def resume(self) -> None:
        """A build ended: controls changed while it ran re-curate it now."""
        try:
            if self.changed_keys():
                self.changed()
        except (ConfigError, ValueError):
            pass  # the controls say why

    def changed(self) -> None:
        """A curation control changed: re-curate after ``delay`` unless another change comes first."""
        if self.target is None:
            return
        with self._cv:
            if self._timer is not None:
                self._timer.cancel()
            timer = threading.Timer(self.delay, self._fire)
            timer.daemon = True
            timer.start()
            self._timer = timer

    def cancel(self) -> None:
        with self._cv:
            if self._timer is not None:
                self._timer.cancel()

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Wait until no re-curation is pending or running; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            timer = self._timer
        if timer is not None:
            timer.join(None if end is None else max(0.0, end - time.monotonic()))
        with self._cv:
            return self._cv.wait_for(lambda: self._busy == 0, None if end is None else max(0.0, end - time.monotonic()))

    def _enter(self) -> None:
        with self._cv:
            self._busy += 1

    def _leave(self) -> None:
        with self._cv:
            self._busy -= 1
            self._cv.notify_all()

    def _fire(self) -> None:
        self._enter()  # before the running check: Panel.start waits for this once it shows running
        try:
            with self._lock:
                self._recurate()
        except Exception as exc:  # noqa: BLE001 - shown, never raised from a thread
            self.panel._show_error("re-curation failed: ", "re-curation failed", exc)
        finally:
            self._leave()

    def _recurate(self) -> None:
        p, target = self.panel, self.target
        if p.running or target is None:
            return  # a change during a build: the build's end applies it
        try:
            changed = self.changed_keys()
        except (ConfigError, ValueError):
            return  # the control shows why (Panel._on_curation)
        if not changed:
            return
        if os.path.abspath(p.controls.output.value.strip() or ".") != os.path.abspath(target):
            p.views.set_status("curation settings changed: they apply to the next build (the output folder is another one)")
            return
        p.views.set_status("<span class='dp-recurating'>re-curating…</span>")
        t0 = time.monotonic()
        report = curate(target, **changed)
        self.count += 1
        if p.running or self.target != target:  # Start was clicked meanwhile: the build (waiting for this) shows its own
            p._log(f"re-curated {target} before the build started")
            return
        seconds, named = time.monotonic() - t0, ", ".join(f"`{k}`" for k in changed)
        note = f" <span class='dp-recurated-note' style='font-size:12px;color:#555'>(re-curated at {time.strftime('%H:%M:%S')}; the report above is the build's)</span>"
        self.attach(target, note)
        p.views.set_status(
            f"<span class='dp-done dp-recurated'>re-curated in {seconds:.2f} s ({p._said(named)}): "
            f"kept {report.get('kept', 0)}, duplicates {report.get('duplicates', 0)}; nothing decoded</span>"
        )
        p._log(f"re-curated {self.target} in {seconds:.2f} s ({named})")
