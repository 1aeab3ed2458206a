"""The export keys of the settings registry: which exports, their shard bounds, the card's source.

Like curation, exports say how the dataset is written out, never what an output holds: none is part
of the resume key, so adding an export to a finished build writes it without redoing any file.
"""

from __future__ import annotations

from typing import Any

from ._errors import ConfigError
from ._settings_base import Setting
from ._units import parse_bytes

__all__ = ["EXPORT_SETTINGS", "EXPORTS", "SHARD_MAX_COUNT", "SHARD_MAX_BYTES"]

EXPORTS = ("webdataset", "imagefolder", "parquet")
#: shard bounds when none are set: a few thousand samples or 1 GiB, the size webdataset's own
#: writers and the loaders that stream shards work well with (large enough for sequential reads,
#: small enough to spread over the workers of a data loader)
SHARD_MAX_COUNT = 10_000
SHARD_MAX_BYTES = 1 << 30


def _exports(key: str, v: Any) -> tuple[str, ...]:
    names = [x.strip() for x in v.split(",")] if isinstance(v, str) else v
    if names is None:
        return ()
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"`{key}`: expected a list of export names ({', '.join(EXPORTS)}), got {v!r}")
    out: list[str] = []
    for n in names:
        name = n.strip().lower()
        if name not in EXPORTS:
            raise ConfigError(f"`{key}`: no export {n!r}; the exports are {', '.join(EXPORTS)}")
        if name not in out:
            out.append(name)
    return tuple(out)


def _count(key: str, v: Any) -> int:
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"`{key}` must be a whole number of samples >= 1, not {v!r}")
    return v


def _bytes(key: str, v: Any) -> int:
    try:
        n = parse_bytes(v)
    except (ValueError, TypeError):
        raise ConfigError(f"`{key}` must be a size like 512MiB or 1GB, not {v!r}") from None
    if n < 1 << 20:
        raise ConfigError(f"`{key}` must be at least 1MiB, not {v!r}")
    return n


def _text(key: str, v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise ConfigError(f"`{key}`: expected text, got {v!r}")
    return v.strip() or None


EXPORT_SETTINGS = (
    Setting(
        "exports",
        _exports,
        "Write the dataset as webdataset, imagefolder or parquet; repeat for several.",
        "exports",
        choices=EXPORTS,
        flag="--export",
        aliases=("export",),
    ),
    Setting("shard_max_count", _count, "Most samples in a webdataset or parquet shard.", "int"),
    Setting("shard_max_bytes", _bytes, "Most bytes in a webdataset or parquet shard, e.g. 512MiB.", default_text="1GiB"),
    Setting("card_source", _text, "Where the data comes from, for the dataset card (README.md).", default_text="unknown"),
    Setting("card_license", _text, "The data's licence, for the dataset card.", default_text="unknown"),
)
