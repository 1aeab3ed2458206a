"""The panel's "Copy as code" tab: Python and a config file that run the same build as the controls."""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from .._config import BuildConfig
from .._errors import ConfigError
from .._ops import OpSpec
from ._controls import limit_text

__all__ = ["CodeView", "build_code", "build_kwargs"]


def _op_kwargs(op: OpSpec) -> dict[str, Any]:
    """The params of ``op`` that differ from its defaults (sizes as 128 or [w, h])."""
    default = OpSpec.make(op.name).kwargs
    out = {}
    for k, v in op.kwargs.items():
        if v != default.get(k):
            out[k] = (v[0] if v[0] == v[1] else list(v)) if isinstance(v, tuple) and len(v) == 2 else v
    return out


def build_kwargs(cfg: BuildConfig) -> dict[str, Any]:
    """The shortest keyword settings that recreate ``cfg`` with ``BuildConfig.create(**kw)``."""
    d, base = cfg.to_dict(), BuildConfig().to_dict()
    kw: dict[str, Any] = {"inputs": d["inputs"], "output": d["output"]}
    if len(cfg.ops) == 1:
        kw["op"] = cfg.ops[0].name
        kw.update(_op_kwargs(cfg.ops[0]))
    else:
        kw["ops"] = [{"op": o.name, **_op_kwargs(o)} for o in cfg.ops]
    for k, v in d.items():
        if k in ("inputs", "output", "ops") or v == base.get(k):
            continue
        kw[k] = limit_text(v) if k == "memory_limit" and v else list(v) if isinstance(v, tuple) else v  # exports as a list
    try:
        if BuildConfig.create(**kw) == cfg:
            return kw
    except ConfigError:
        pass
    full = {k: v for k, v in kw.items() if k in d and k != "ops"}
    full["ops"] = d["ops"]
    return full


def build_code(cfg: BuildConfig) -> str:
    """Python that runs the same build as ``cfg`` (the panel's "copy as code")."""
    kw = build_kwargs(cfg)
    args = "".join(f"    {k}={v!r},\n" for k, v in kw.items())
    return f"import toolkit\n\nreport = toolkit.build(\n{args})\nreport\n"


class CodeView:
    """The code and config-file text of the current settings, or why they are not valid yet."""

    def __init__(self) -> None:
        self.code = W.Textarea(value="", description="", layout=W.Layout(width="98%", height="170px"))
        self.config_json = W.Textarea(value="", layout=W.Layout(width="98%", height="170px"))
        self.code_error = W.HTML("")
        self.box = W.VBox(
            [
                W.HTML("<b>Equivalent code</b> (same settings as above)"),
                self.code,
                W.HTML(
                    "<b>Config file</b> (save as build.json; <code>dataprep build --config build.json</code> "
                    "or <code>toolkit.build(toolkit.BuildConfig.from_file('build.json'))</code>)"
                ),
                self.config_json,
                self.code_error,
            ]
        )

    def show(self, cfg: BuildConfig) -> None:
        self.code.value = build_code(cfg)
        self.config_json.value = cfg.to_json()
        self.code_error.value = ""

    def show_error(self, message_html: str) -> None:
        """Keep the last valid code and say why the settings are not valid (``message_html`` is escaped already)."""
        self.code_error.value = f"<span style='color:#c00' class='dp-config-error'>{message_html}</span>"
