"""The CLI's settings flags, made from the registry (``toolkit._settings``) and the op registry.

A setting or an op parameter gets its flag, type, choices, help and default here and nowhere
else; the values come back under their setting keys, so :func:`config_from` hands them to
``BuildConfig`` as they are. Defaults are read from ``BuildConfig``'s fields, help text that
names a setting (`` `max_memory_percent` ``) is shown with its flag.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from ._config import BuildConfig
from ._ops import OPS
from ._settings import SETTINGS, OpParam, Setting, for_cli, op_params
from ._settings_curation import TABLE_FLAGS, parse_split_flags

__all__ = ["settings_options", "config_from"]

_TYPES: dict[str, Any] = {"text": None, "path": click.Path(), "paths": click.Path(), "int": int, "float": float, "split": None}


def _shown(value: Any) -> str:
    """A default as help shows it: ``[80]`` for 80.0, ``[128x96]`` for a size; nothing for none."""
    if value is None or value is False or value in ("", (), {}):
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple) and len(value) == 2:
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"
    return str(value)


def _with_default(help_text: str, default: str) -> str:
    text = help_text.rstrip(".")
    return f"{text} [{default}]." if default else f"{text}."


def _option(flags: tuple[str, ...], key: str, cli: str, choices: tuple[str, ...], help_text: str) -> Callable:
    """Every flag is made here: its help names settings by their flags (`` `splits` `` -> ``--split``)."""
    help_text = for_cli(help_text)
    if cli == "flag":
        return click.option(*flags, key, is_flag=True, default=None, help=help_text)
    if cli == "switch":
        return click.option(f"{flags[0]}/--no-{flags[0][2:]}", key, default=None, help=help_text)
    kind = click.Choice(list(choices)) if cli in ("choice", "exports") else _TYPES[cli]
    return click.option(*flags, key, type=kind, multiple=cli in ("paths", "split", "exports"), help=help_text)


def _setting_option(s: Setting, defaults: BuildConfig) -> Callable:
    value = getattr(defaults, s.key)
    if s.cli == "choice" and isinstance(value, bool):  # batch_mode: True reads as its first choice, enabled
        value = s.choices[0 if value else 1]
    default = s.default_text or _shown(value)
    return _option(s.flags + ((s.short,) if s.short else ()), s.key, s.cli, s.choices, _with_default(s.help, default))


def _op_param_option(p: OpParam) -> Callable:
    """Help says which ops take it (``frames: ...``, ``... (resize, frames, poster)``) and its default."""
    text = p.help.rstrip(".")
    if len(p.ops) == 1:
        text = f"{p.ops[0]}: {text}"
    elif len(p.ops) < len(OPS):
        text = f"{text} ({', '.join(p.ops)})"
    default = p.default
    shown = ("--" if default else "--no-") + p.key.replace("_", "-") if p.cli == "switch" else _shown(default)
    return _option(p.flags, p.key, p.cli, p.choices, _with_default(text, shown))


def settings_options(f: Callable) -> Callable:
    """Add every setting's flag to a click command: inputs, output, --config, --op, then the
    registry's settings in order, then the ops' parameters."""
    defaults = BuildConfig()
    first, rest = [SETTINGS["inputs"], SETTINGS["output"]], [s for k, s in SETTINGS.items() if k not in ("inputs", "output")]
    opts = [_setting_option(s, defaults) for s in first]
    opts.append(
        click.option(
            "--recipe",
            "recipe",
            help="A shipped recipe (dataprep recipes lists them) or a TOML or JSON file of one; --config and flags override it.",
        )
    )
    opts.append(
        click.option("--config", "config_file", type=click.Path(), help="JSON or TOML file of settings; flags override it.")
    )
    ops = " | ".join(f"{n} (default)" if n == defaults.ops[0].name else n for n in OPS)
    opts.append(click.option("--op", "op", multiple=True, help=f"{ops}; repeat for several."))
    opts += [_setting_option(s, defaults) for s in rest if s.cli]
    opts += [_op_param_option(p) for p in op_params().values()]
    opts += [_option((flag,), key, cli, (), text) for key, (flag, cli, text) in TABLE_FLAGS.items()]
    for o in reversed(opts):
        f = o(f)
    return f


def config_from(params: dict[str, Any]) -> BuildConfig:
    """The validated config of a command's flags over its ``--config`` file (flags win)."""
    settings = {k: v for k, v in params.items() if k not in ("config_file", "recipe") and v is not None and v != ()}
    if "inputs" in settings:
        settings["inputs"] = list(settings["inputs"])
    if "op" in settings:
        settings["op"] = list(settings["op"]) if len(settings["op"]) > 1 else settings["op"][0]
    cfg_file = params.get("config_file")
    base = BuildConfig.create(recipe=params["recipe"]) if params.get("recipe") else BuildConfig()
    base = BuildConfig.from_file(cfg_file, base=base) if cfg_file else base
    filters = {k: settings.pop(k) for k in TABLE_FLAGS if k in settings}
    if filters:  # the flat flags over the config file's [filters] table
        settings["filters"] = {**base.filters, **filters}
    if "splits" in settings:  # --split train=0.8 --split val=0.2: they replace a config file's [splits]
        settings["splits"] = parse_split_flags(settings["splits"])
    return BuildConfig.create(base, **settings)
