"""Reading a config file: JSON (with ``// comments``) or TOML, into a flat dict of settings.

Paths in it (the registry's path settings: ``inputs``, ``output``, ``scheduler_file``; and a
``recipe`` that names a file there) are relative to the file, so a config file means the same from any working folder. The values are
checked by ``BuildConfig``, not here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from ._errors import ConfigError
from ._settings import SETTINGS, canonical_key

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - tomli is tomllib's backport
    import tomli as tomllib

__all__ = ["load_config_file"]


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON or TOML config file into a flat dict of settings."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist (or is not a file)")
    text = p.read_bytes()
    try:
        if p.suffix.lower() == ".toml":
            data = tomllib.loads(text.decode("utf-8"))
        else:
            data = json.loads(_strip_json_comments(text.decode("utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "TOML" if p.suffix.lower() == ".toml" else "JSON"
        raise ConfigError(f"config file {p}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected an object of settings at the top level")
    # relative paths in a config file are relative to the file itself
    for key, v in list(data.items()):
        s = SETTINGS.get(canonical_key(key))
        vs = [v] if isinstance(v, str) else v
        if s and s.cli in ("path", "paths") and isinstance(vs, list) and all(isinstance(x, str) for x in vs):
            res = [x if os.path.isabs(x) else str(p.parent / x) for x in vs]
            data[key] = res[0] if isinstance(v, str) else res
        elif canonical_key(key) == "recipe" and isinstance(v, str) and not os.path.isabs(v) and (p.parent / v).is_file():
            data[key] = str(p.parent / v)  # a recipe file of yours beside the config (a shipped name is no file there)
    return data


def _strip_json_comments(text: str) -> str:
    """Allow ``// comments`` as in seed 001's example (outside strings only)."""
    out, i, n, in_str = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)
