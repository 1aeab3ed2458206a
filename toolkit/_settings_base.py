"""What a build setting is (:class:`Setting`) and the checks of its value, for the registry.

The registry itself (``toolkit._settings.SETTINGS``) and the curation keys
(``toolkit._settings_curation``) are made of these; each parser takes ``(key, value)`` and returns
the checked value or raises :class:`ConfigError` naming the key in backticks.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from ._errors import ConfigError
from ._ops import FORMATS, _bool, _pos_float

__all__ = ["Setting", "parse_memory_limit", "MIN_MEMORY_LIMIT"]


@dataclass(frozen=True)
class Setting:
    """One build setting. ``cli``: how its flag reads a value (text, path, paths, int, float, choice,
    flag; ``""``: no flag, set it in a config file or from Python)."""

    key: str
    parse: Callable[[str, Any], Any]  # (key, value) -> the checked value, or ConfigError naming the key
    help: str
    cli: str = "text"
    choices: tuple[str, ...] = ()
    flag: str = ""  # the CLI flag when it is not the key's own (a legacy name: --input, --max-memory)
    short: str = ""  # -i, -o, -j
    aliases: tuple[str, ...] = ()  # other keys a config file or a keyword may use
    default_text: str = ""  # the default in words, where the value alone says nothing (None: automatic)
    output: bool = False  # changes what an output holds: part of the resume key

    @property
    def flags(self) -> tuple[str, ...]:
        """The CLI's flags, the one shown first; the key's own flag always works too."""
        own = "--" + self.key.replace("_", "-")
        return (self.flag, own) if self.flag and self.flag != own else (own,)


# ---------------------------------------------------------------------------------------- parsers
def _auto(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """None or ``"auto"`` -> None (the toolkit decides), else ``check``."""
    return lambda key, v: None if v is None or (isinstance(v, str) and v.lower() == "auto") else check(key, v)


def _inputs(key: str, v: Any) -> tuple[str, ...]:
    vs = [v] if isinstance(v, (str, os.PathLike)) else v
    if not isinstance(vs, (list, tuple)) or not vs or not all(isinstance(x, (str, os.PathLike)) for x in vs):
        raise ConfigError(f"`{key}`: expected one or more folder paths, got {v!r}")
    return tuple(os.fspath(x) for x in vs)


def _folder(key: str, v: Any) -> str:
    if not isinstance(v, (str, os.PathLike)) or not os.fspath(v):
        raise ConfigError(f"`{key}`: expected a folder path, got {v!r}")
    return os.fspath(v)


def _text(key: str, v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, (str, os.PathLike)) or not os.fspath(v):
        raise ConfigError(f"`{key}`: expected text, got {v!r}")
    return os.fspath(v)


def _format(key: str, v: Any) -> str:
    f = str(v).lower().replace("jpg", "jpeg")
    if f not in FORMATS:
        raise ConfigError(f"`{key}`: expected one of {', '.join(FORMATS)}, got {v!r}")
    return f


_COLOR = re.compile(r"#?[0-9a-fA-F]{6}|[a-zA-Z]+")


def _colour(key: str, v: Any) -> str:
    if not isinstance(v, str) or not _COLOR.fullmatch(v.strip()):
        raise ConfigError(f"`{key}`: expected a colour like white or #ffffff, got {v!r}")
    from PIL import ImageColor

    text = v.strip()
    try:
        ImageColor.getrgb("#" + text if re.fullmatch(r"[0-9a-fA-F]{6}", text) else text)
    except ValueError:
        raise ConfigError(f"`{key}`: unknown colour {v!r}") from None
    return text


def _batch_mode(key: str, v: Any) -> bool:
    if isinstance(v, str) and v.lower() in ("enabled", "disabled"):
        return v.lower() == "enabled"
    return _bool(key, v)


def _percent(key: str, v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = -1.0
    if isinstance(v, bool) or not 1 <= f <= 100:
        raise ConfigError(f"`{key}`: expected a percent from 1 to 100, got {v!r}")
    return f


#: A worker below this cannot hold the interpreter, Dask and one decoded photo.
MIN_MEMORY_LIMIT = 64 * 2**20


def parse_memory_limit(key: str, v: Any) -> int:
    """A worker's memory limit in bytes (``"768MiB"``, ``"2GB"``, bytes), at least 64 MiB."""
    from ._units import parse_bytes

    n = parse_bytes(v, key=key)
    if n < MIN_MEMORY_LIMIT:
        raise ConfigError(f"`{key}`: {v!r} is too small for a worker; use at least 64MiB")
    return n


def _address(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"`{key}`: expected host:port like 127.0.0.1:8787, got {v!r}")
    return v


def _seconds(key: str, v: Any) -> float:
    f = _pos_float(key, v)
    if f is None:
        raise ConfigError(f"`{key}`: expected a positive number of seconds, got None")
    return f
