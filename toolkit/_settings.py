"""The one registry of build settings: each key's parser, help, CLI flag and choices.

Everything that names or reads a setting comes from here: ``BuildConfig`` checks values with
:data:`SETTINGS` (its field defaults are the defaults), the CLI makes its options from it, and
:func:`for_cli` turns the keys that messages name (`` `memory_limit` ``) into the CLI's flags.
Op parameters (``size``, ``fps``, ``crf``...) are not listed here: they come from the op
registry (``toolkit._ops.OPS``), so an op's parameter is a setting and a flag as soon as the op
declares it. :data:`OP_PARAM_CLI` only words the built-in ones' help and types their flags.
What a setting is and the checks of values are in ``toolkit._settings_base``, the curation keys
(and the flags of the ``filters`` table's keys) in ``toolkit._settings_curation``.

>>> SETTINGS["max_memory_percent"].flags, canonical_key("max-memory"), for_cli("raise `memory_limit`")
(('--max-memory', '--max-memory-percent'), 'max_memory_percent', 'raise --memory-limit')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ._ops import FORMATS, OPS, RESIZE_MODES, _bool, _pos_int
from ._settings_base import (
    Setting,
    _address,
    _auto,
    _batch_mode,
    _colour,
    _folder,
    _format,
    _inputs,
    _percent,
    _seconds,
    _text,
    parse_memory_limit,
)
from ._settings_curation import CURATION_SETTINGS, TABLE_FLAGS
from ._settings_export import EXPORT_SETTINGS

__all__ = [
    "Setting",
    "SETTINGS",
    "RUN_ONLY",
    "OP_PARAM_CLI",
    "OpParam",
    "op_params",
    "canonical_key",
    "flag_for",
    "for_cli",
    "reword_keys",
    "parse_memory_limit",
]


# ---------------------------------------------------------------------------------------- registry
_ALL = (
    Setting("inputs", _inputs, "Input folder (repeat for several).", "paths", flag="--input", short="-i", aliases=("input",)),
    Setting("output", _folder, "Output folder (created; inputs are never written).", "path", short="-o"),
    Setting("format", _format, "Output image format.", "choice", choices=(*FORMATS, "jpg"), output=True),
    Setting("quality", _pos_int(1, 100), "Output quality 1-100.", "int", output=True),
    Setting("background", _colour, "Colour behind transparent pixels.", default_text="white", output=True),
    Setting("batch_mode", _batch_mode, "disabled: one file per task.", "choice", choices=("enabled", "disabled")),
    Setting(
        "batch_size",
        _auto(_pos_int(1, 100_000)),
        "Files per batch, or auto; always capped by the memory budget.",
        default_text="auto",
    ),
    Setting(
        "max_memory_percent",
        _percent,
        "System memory percent not to pass; above it new batches pause.",
        "float",
        flag="--max-memory",
        aliases=("max_memory",),
    ),
    Setting("jobs", _auto(_pos_int(1, 1024)), "Worker processes.", "int", short="-j", default_text="one per CPU"),
    Setting(
        "memory_limit",
        _auto(parse_memory_limit),
        "Memory limit per worker, e.g. 2GiB.",
        default_text="share of `max_memory_percent`",
    ),
    Setting("scheduler", _text, "Address of an existing Dask scheduler (tcp://host:8786).", aliases=("scheduler_address",)),
    Setting("scheduler_file", _text, "Scheduler file of an existing Dask cluster.", "path"),
    Setting("dashboard_address", _address, "Where the local dashboard listens."),
    Setting("force", _bool, "Redo every file, even those already done.", "flag"),
    Setting("verify", _bool, "Check every earlier output is still there, also when no input changed.", "flag"),
    Setting("timeout", _seconds, "Time limit per file in seconds.", "float"),
    Setting("max_pixels", _pos_int(1, 10**12), "Larger images are refused as decompression bombs.", "int", output=True),
    Setting("allow_truncated", _bool, "Recover truncated images (with a warning) instead of failing them.", "flag", output=True),
    *CURATION_SETTINGS,  # rules over the rows after the batches (toolkit/_curate); none changes an output
    *EXPORT_SETTINGS,  # how the dataset is written out (toolkit/_export); none changes an output either
    Setting("monitor_interval", _seconds, "Seconds between memory samples.", ""),
    Setting("in_flight_per_worker", _pos_int(1, 64), "Batches queued per worker.", ""),
)
SETTINGS: dict[str, Setting] = {s.key: s for s in _ALL}
#: settings that change how a build runs, not what it makes: left out of the card's settings that
#: rebuild a dataset, and of the comparison that finds a resume with nothing to do (``toolkit._quick``)
RUN_ONLY = frozenset(
    "jobs memory_limit scheduler scheduler_file dashboard_address monitor_interval in_flight_per_worker batch_mode "
    "batch_size max_memory_percent force verify timeout".split()
)

#: The CLI's type and help for the built-in ops' parameters (a parameter missing here still gets
#: a text flag, checked by its op). The ops taking it and its default are added from ``OPS``.
OP_PARAM_CLI: dict[str, tuple[str, str]] = {
    "size": ("text", "Output size in pixels: 128 or 640x480."),
    "mode": ("choice", "Resize mode."),
    "fps": ("float", "frames per second to extract."),
    "every": ("int", "every Nth frame."),
    "count": ("int", "N frames spread evenly."),
    "keyframes": ("flag", "keyframes only."),
    "frames": ("int", "number of frames."),
    "columns": ("int", "grid columns [auto]."),
    "max_fps": ("float", "maximum frame rate."),
    "crf": ("int", "H.264 quality, 0-51 (lower is better)."),
    "audio": ("switch", "keep or drop audio."),
    "seconds": ("float", "segment length in seconds."),
}
_OP_PARAM_CHOICES = {"mode": RESIZE_MODES}


@dataclass(frozen=True)
class OpParam:
    """A parameter some ops take, as a setting: which ops, their defaults, how the CLI reads it."""

    key: str
    ops: tuple[str, ...]
    defaults: tuple[Any, ...]
    cli: str
    help: str
    choices: tuple[str, ...] = ()

    @property
    def flags(self) -> tuple[str, ...]:
        return ("--" + self.key.replace("_", "-"),)

    @property
    def default(self) -> Any:
        """The default if every op taking it has the same one, else None."""
        return self.defaults[0] if len(set(map(repr, self.defaults))) == 1 else None


def op_params() -> dict[str, OpParam]:
    """Every op parameter in the op registry, in the order the ops declare them."""
    found: dict[str, list[tuple[str, Any]]] = {}
    for name, op in OPS.items():
        for key, (_check, default) in op.params.items():
            found.setdefault(key, []).append((name, default))
    out = {}
    for key, uses in found.items():
        cli, text = OP_PARAM_CLI.get(key, ("text", f"parameter {key}."))
        out[key] = OpParam(key, tuple(n for n, _ in uses), tuple(d for _, d in uses), cli, text, _OP_PARAM_CHOICES.get(key, ()))
    return out


_KEYS = {a: s.key for s in _ALL for a in s.aliases}


def canonical_key(name: str) -> str:
    """The registry's key for a key, an alias or a flag's name (``max-memory``, ``input``)."""
    k = str(name).strip().lstrip("-").replace("-", "_")
    return _KEYS.get(k, k)


def flag_for(key: str) -> str | None:
    """The CLI flag of a setting, a table's key (``filters.min_side``) or an op parameter
    (``op.param`` too), or None if it has none."""
    k = canonical_key(key)
    if k in SETTINGS:
        return SETTINGS[k].flags[0] if SETTINGS[k].cli else None
    if k in ("op", "recipe"):
        return "--" + k
    params = op_params()
    if k not in params and "." in k:
        k = k.rsplit(".", 1)[1]
    if k in TABLE_FLAGS:
        return TABLE_FLAGS[k][0]
    return params[k].flags[0] if k in params else None


#: a key in backticks, not inside a path or a file name (`` a/`output`/b ``, `` `jobs`.jpg ``)
_TICKED = re.compile(r"(?<![\w/\\.])`([A-Za-z_][\w.-]*)`(?![\w/\\]|\.\w)")


def reword_keys(text: str, word: Callable[[str], str | None]) -> str:
    """``text`` with each setting it names as `` `key` `` shown as ``word(key)`` (left as it is
    where that is None); a key that is part of a path or a file name is never touched. Each front
    end words the core's messages through it: the CLI (:func:`for_cli`), the panel (its labels)."""
    return _TICKED.sub(lambda m: word(m.group(1)) or m.group(0), text)


def for_cli(text: str) -> str:
    """A core message for a terminal: each setting named as `` `key` `` becomes its flag
    (`` `memory_limit` `` -> ``--memory-limit``, `` `max_memory_percent` `` -> ``--max-memory``);
    other backticked words stay as they are, and so does a key that is part of a path or a name."""
    return reword_keys(text, flag_for)
