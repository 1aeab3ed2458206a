"""The panel's setting controls: one widget per setting, read back as the keyword settings of a build.

Each control's description is also how the panel names its setting in messages: the core writes a
setting as its key in backticks (`` `memory_limit` ``) and :func:`label_keys` shows the label the
user sees next to the control ("Worker memory") instead.
"""

from __future__ import annotations

import html
import os
from typing import Any, Callable

import ipywidgets as W

from .._config import BuildConfig
from .._ops import FORMATS, OPS, OpSpec
from .._settings import reword_keys
from .._units import format_bytes, parse_bytes
from ._curation_controls import CURATION_CONTROL_KEYS, CurationControls
from ._export_controls import EXPORT_CONTROL_KEYS, ExportControls

__all__ = ["Controls", "label_keys", "limit_text"]

#: setting key -> the attribute of its control; any other BuildConfig/op keyword is kept as it was given
KEYS = {
    "inputs": "inputs",
    "output": "output",
    "op": "op",
    "size": "size",
    "format": "format",
    "quality": "quality",
    "batch_mode": "batch_mode",
    "batch_size": "batch_size",
    "max_memory_percent": "max_memory",
    "jobs": "jobs",
    "memory_limit": "memory_limit",
    "scheduler": "scheduler",
    "scheduler_file": "scheduler",
    "force": "force",
}


def label_keys(text: str, labels: dict[str, str], *, as_html: bool = True) -> str:
    """``text`` with each `` `key` `` of a setting that has a control shown as that control's label.

    With ``as_html``, ``text`` is escaped first and a label keeps its key as a tooltip. A key that
    is part of a path or a file name in the message stays as it is (``toolkit._settings.reword_keys``).

    >>> label_keys("raise `memory_limit` or use fewer `jobs`", {"memory_limit": "Worker memory"}, as_html=False)
    'raise Worker memory or use fewer `jobs`'
    """
    if as_html:
        text = html.escape(text, quote=False)

    def show(key: str) -> str | None:
        label = labels.get(key)
        if label is None:
            return f"<code>{key}</code>" if as_html else None
        return f"<b class='dp-setting' title='{key}'>{html.escape(label)}</b>" if as_html else label

    return reword_keys(text, show)


def limit_text(n: int) -> str | int:
    """A memory limit as the control shows it ("512 MiB"), or the bytes when that text would not read back exactly."""
    text = format_bytes(n)
    return text if parse_bytes(text, "memory_limit") == n else n


def pixels_text(v: Any) -> str:
    """An op's size as typed: ``128``, ``"128x96"``; empty for none."""
    if v is None or v == "":
        return ""
    if isinstance(v, (int, str)):
        return str(v)
    w, h = v
    return str(w) if w == h else f"{w}x{h}"


class Controls:
    """The setting widgets, built from a validated base config; ``settings()`` reads them back.
    The curation controls are ``curation`` (:class:`CurationControls`), the exports ``export``."""

    def __init__(self, base: BuildConfig, given: dict[str, Any]) -> None:
        own = {*KEYS, *CURATION_CONTROL_KEYS, *EXPORT_CONTROL_KEYS}
        self.extra = {k: v for k, v in given.items() if k not in own}
        self.curation, self.export = CurationControls(base), ExportControls(base)
        first, multi = base.ops[0], len(base.ops) > 1
        self.ops_override = base.ops if multi else None
        st, wide = {"description_width": "150px"}, W.Layout(width="560px")
        self.inputs = W.Text(
            value="; ".join(base.inputs),
            description="Input folder(s)",
            style=st,
            layout=wide,
            placeholder="folder (several: separate with ;)",
        )
        self.output = W.Text(
            value=base.output,
            description="Output folder",
            style=st,
            layout=wide,
            placeholder="folder for outputs, manifest.jsonl and summary.json",
        )
        options = [(n, n) for n in OPS]
        if multi:
            options.append((self._ops_label(),) * 2)
        self.op = W.Dropdown(options=options, value=self._ops_label() if multi else first.name, description="Op", style=st)
        size = None if multi else first.get("size")
        shown = pixels_text(size) if size is not None and size != OpSpec.make(first.name).get("size") else ""
        if "size" in given and not multi:
            shown = pixels_text(size)
        self.size = W.Text(value=shown, description="Size", style=st, placeholder="", layout=W.Layout(width="300px"))
        self.format = W.Dropdown(options=list(FORMATS), value=base.format, description="Format", style=st)
        slider = {"style": st, "continuous_update": False}
        self.quality = W.IntSlider(
            value=base.quality, min=1, max=100, description="Quality", layout=W.Layout(width="420px"), **slider
        )
        self.batch_mode = W.Checkbox(value=base.batch_mode, description="Batch mode (several files per task)", indent=False)
        self.batch_auto = W.Checkbox(value=base.batch_size is None, description="Automatic batch size", indent=False)
        self.batch_size = W.IntSlider(
            value=base.batch_size or 16,
            min=1,
            max=max(128, base.batch_size or 1),
            description="Batch size",
            disabled=base.batch_size is None,
            layout=wide,
            **slider,
        )
        self.jobs = W.BoundedIntText(
            value=base.jobs or 0, min=0, max=1024, description="Jobs (0 = auto)", style=st, layout=W.Layout(width="260px")
        )
        self.memory_limit = W.Text(
            value="auto" if base.memory_limit is None else str(limit_text(base.memory_limit)),
            description="Worker memory",
            style=st,
            placeholder="auto, 1GiB, 768MiB",
            layout=W.Layout(width="300px"),
        )
        self.max_memory = W.FloatSlider(
            value=base.max_memory_percent,
            min=5,
            max=100,
            step=1,
            description="Max memory %",
            readout_format=".0f",
            layout=wide,
            **slider,
        )
        self.force = W.Checkbox(value=base.force, description="Redo files already done (force)", indent=False)
        self.scheduler = W.Text(
            value=base.scheduler or base.scheduler_file or "",
            description="Existing scheduler",
            style=st,
            layout=wide,
            placeholder="tcp://host:8786 or scheduler.json (empty: start a local cluster)",
        )
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.op.observe(self._on_op, names="value")
        self._on_op({"new": self.op.value})

    def connect(
        self, *, on_setting: Callable, on_live: Callable, on_start: Callable, on_stop: Callable, on_curation: Callable
    ) -> None:
        """Call ``on_setting`` when any setting changes, ``on_live`` when one a running build takes
        (batch size, max memory) does, ``on_curation`` when a curation setting does, and the buttons' actions."""
        for w in self.setting_widgets:
            w.observe(on_setting, names="value")
        for w in self.curation.widgets:
            w.observe(on_setting, names="value")
            w.observe(on_curation, names="value")
        for w in (self.batch_auto, self.batch_size, self.max_memory):
            w.observe(on_live, names="value")
        self.start_button.on_click(lambda _b: on_start())
        self.stop_button.on_click(lambda _b: on_stop())

    def _ops_label(self) -> str:
        return " + ".join(o.name for o in self.ops_override or ())

    @property
    def setting_widgets(self) -> list[W.Widget]:
        return [getattr(self, a) for a in dict.fromkeys(KEYS.values())] + [self.batch_auto, *self.export.widgets]

    @property
    def labels(self) -> dict[str, str]:
        """Setting key -> the label of its control (how the panel names a setting in messages)."""
        own = {key: str(getattr(self, attr).description) for key, attr in KEYS.items()}
        return own | self.curation.names | self.export.names

    def box(self, status: W.Widget) -> W.VBox:
        return W.VBox(
            [
                self.inputs,
                self.output,
                W.HBox([self.op, self.size]),
                W.HBox([self.format, self.quality]),
                W.HBox([self.batch_mode, self.batch_auto]),
                self.batch_size,
                W.HBox([self.jobs, self.memory_limit]),
                self.max_memory,
                self.force,
                self.scheduler,
                self.curation.box(),
                self.export.box(),
                W.HBox([self.start_button, self.stop_button, status]),
            ]
        )

    def settings(self) -> dict[str, Any]:
        """The settings as keyword arguments of ``BuildConfig.create`` (not yet validated; a splits
        text that is no table of fractions is a ConfigError naming `splits`)."""
        s: dict[str, Any] = dict(self.extra)
        s.update(self.curation.settings())
        s.update(self.export.settings())
        s["inputs"] = [p.strip() for p in self.inputs.value.split(";") if p.strip()]
        s["output"] = self.output.value.strip()
        if self.ops_override is not None and self.op.value == self._ops_label():
            s.pop("op", None)
            s["ops"] = [o.to_dict() for o in self.ops_override]
        else:
            s.pop("ops", None)
            s["op"] = self.op.value
            if self.size.value.strip() and "size" in OPS[self.op.value].params:
                s["size"] = self.size.value.strip()
        s["format"] = self.format.value
        s["quality"] = int(self.quality.value)
        s["batch_mode"] = bool(self.batch_mode.value)
        s["batch_size"] = None if self.batch_auto.value else int(self.batch_size.value)
        s["max_memory_percent"] = float(self.max_memory.value)
        s["jobs"] = int(self.jobs.value) or None
        ml = self.memory_limit.value.strip()
        s["memory_limit"] = None if ml.lower() in ("", "auto") else ml
        s["force"] = bool(self.force.value)
        target = self.scheduler.value.strip()
        s["scheduler"] = s["scheduler_file"] = None
        if target:
            s["scheduler_file" if target.endswith(".json") or os.path.isfile(target) else "scheduler"] = target
        return s

    def config(self) -> BuildConfig:
        """The validated :class:`BuildConfig` of the current settings (raises ``ConfigError``)."""
        s = self.settings()
        for key in ("inputs", "output"):
            if not s[key]:
                s.pop(key)
        return BuildConfig.create(**s)

    def sync(self) -> None:
        """Enable what the other settings leave in use (the batch size: batch mode, not automatic)."""
        self.batch_size.disabled = bool(self.batch_auto.value) or not self.batch_mode.value

    def _on_op(self, change: dict) -> None:
        name = change["new"]
        if name in OPS and "size" in OPS[name].params:
            d = OpSpec.make(name).get("size")
            self.size.disabled = False
            self.size.placeholder = f"default {pixels_text(d)}" if d else "original size"
        else:
            self.size.disabled = True
            self.size.placeholder = "not used by this op"
