"""The settings that reproduce a build, as a CLI command line and as a TOML config.

Only what makes the dataset is written (inputs, output, ops, output format, curation, exports,
the card's own settings, and any other setting that differs from its default); what only runs it
(cluster, memory, batch sizes, ``force``) is left out. The TOML reads back with
``BuildConfig.from_file`` to the same dataset settings.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any, Mapping

__all__ = ["reproducing", "cli_line", "toml_text", "RUN_ONLY"]

from .._settings import RUN_ONLY  # settings that change how a build runs, not what it makes

_FILTER_FLAGS = {"min_side": "--min-side", "max_aspect": "--max-aspect", "min_sharpness": "--min-sharpness"}
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _defaults() -> dict[str, Any]:
    from .._config import BuildConfig

    return BuildConfig().to_dict()


def reproducing(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of ``settings`` (summary.json's) that make the dataset, in a stable order."""
    defaults = _defaults()
    always = ("inputs", "output", "ops")
    out = {k: settings[k] for k in always if k in settings}
    for k in sorted(settings):
        if k in always or k in RUN_ONLY or settings[k] is None:
            continue
        if k not in defaults or settings[k] != defaults[k] or k.startswith("card_"):
            out[k] = settings[k]
    return out


def _flag(key: str) -> str | None:
    from .._settings import flag_for

    try:
        return flag_for(key)
    except Exception:  # noqa: BLE001 - a key the registry does not know: no flag
        return None


def _arg(v: Any) -> str:
    if isinstance(v, (list, tuple)):  # a size: 128 when square, else 128x96
        v = str(v[0]) if len(set(v)) == 1 else "x".join(str(x) for x in v)
    return shlex.quote(str(v))


def cli_line(settings: Mapping[str, Any]) -> tuple[str, list[str]]:
    """-> (the ``dataprep build`` command line, the keys it could not say as flags)."""
    s = reproducing(settings)
    words = ["dataprep", "build"]
    left: list[str] = []
    for path in s.get("inputs") or ():
        words += ["--input", shlex.quote(str(path))]
    if s.get("output"):
        words += ["--output", shlex.quote(str(s["output"]))]
    ops = s.get("ops") or []
    several = len(ops) > 1 and any(len(o) > 1 for o in ops)
    for op in ops:
        words += ["--op", shlex.quote(str(op.get("op")))]
    for op in [] if several else ops:
        for k, v in op.items():
            if k in ("op", "version"):
                continue
            flag = _flag(k)
            words += [flag, _arg(v)] if flag else []
            left += [] if flag else [f"ops.{k}"]
    left += ["ops"] if several else []
    for k, v in s.items():
        if k in ("inputs", "output", "ops"):
            continue
        if k == "filters" and isinstance(v, Mapping):
            for fk, fv in v.items():
                words += [_FILTER_FLAGS.get(fk, f"--{fk.replace('_', '-')}"), _arg(fv)]
        elif k == "splits" and isinstance(v, Mapping):
            for name, frac in v.items():
                words += ["--split", shlex.quote(f"{name}={frac}")]
        elif isinstance(v, bool):
            flag = _flag(k)
            words += [flag] if flag and v else []
            left += [] if flag else [k]
        elif (flag := _flag(k)) is not None:
            for item in v if isinstance(v, (list, tuple)) else [v]:
                words += [flag, _arg(item)]
        else:
            left.append(k)
    return " ".join(words), left


def _toml_key(k: str) -> str:
    return k if _BARE.fullmatch(k) else _toml_string(k)


def _toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, but for DEL, which TOML wants escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    return _toml_string(str(v))


def toml_text(settings: Mapping[str, Any]) -> str:
    """A config file (``dataprep build --config FILE``) with the settings that make the dataset."""
    s = reproducing(settings)
    tables = {k: v for k, v in s.items() if isinstance(v, Mapping) and v}
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in s.items() if k not in tables and v is not None]
    for k, v in tables.items():
        lines += ["", f"[{_toml_key(k)}]"] + [f"{_toml_key(str(sk))} = {_toml_value(sv)}" for sk, sv in v.items()]
    return "\n".join(lines) + "\n"
