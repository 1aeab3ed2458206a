"""Recipes: the TOML settings of the builds people script, shipped inside the package.

``dataprep build --recipe classifier --input X --output Y`` reads ``toolkit/recipes/classifier.toml``
(``datasets/recipes`` in a clone is the same folder) as a config file under the command's flags;
a recipe may also be a path to a TOML or JSON file of your own. ``dataprep recipes`` lists them.
A recipe's ``description`` is its one-line summary, not a setting.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from ._config_file import load_config_file
from ._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - tomli is tomllib's backport
    import tomli as tomllib

__all__ = ["recipes", "recipe_settings", "recipe_path"]


def _folder() -> Path:
    return Path(str(resources.files("toolkit") / "recipes"))


def recipes() -> dict[str, str]:
    """The shipped recipes: name -> its one-line description."""
    out = {}
    for p in sorted(_folder().glob("*.toml")):
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
        out[p.stem] = str(doc.get("description", ""))
    return out


def recipe_path(recipe: str | os.PathLike) -> Path:
    """The file of a shipped recipe's name, or ``recipe`` itself when it is a file's path."""
    text = os.fspath(recipe)
    shipped = _folder() / f"{text}.toml"
    if "/" not in text and os.sep not in text and shipped.is_file():
        return shipped
    p = Path(text)
    if p.is_file():
        return p
    raise ConfigError(
        f"`recipe`: no recipe {text!r}: neither a shipped one ({', '.join(recipes())}) nor a TOML/JSON file "
        "(the command dataprep recipes lists the shipped ones)"
    )


def recipe_settings(recipe: str | os.PathLike) -> dict[str, Any]:
    """A recipe's settings (a flat dict, as a config file gives them), its description left out."""
    settings = load_config_file(recipe_path(recipe))
    settings.pop("description", None)
    return settings
