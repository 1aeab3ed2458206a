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
#: at most this many samples a shard (img2dataset's default: shards of a few thousand files list
#: and shuffle quickly, and a dataset of a few hundred thousand still has enough shards to spread)
SHARD_MAX_COUNT = 10_000
#: at most this many bytes a shard: large enough to read at a disk's or object store's full speed
#: (streaming wants shards of 100 MB or more), small enough that a split of a few GB has shards for
#: every DataLoader worker, and far within a worker's memory (a Parquet row group is what it holds)
SHARD_MAX_BYTES = 256 * 1024 * 1024


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
    Setting("shard_max_bytes", _bytes, "Most bytes in a webdataset or parquet shard, e.g. 512MiB.", default_text="256MiB"),
    Setting("card_source", _text, "Where the data comes from, for the dataset card (README.md).", default_text="unknown"),
    Setting("card_license", _text, "The data's licence, for the dataset card.", default_text="unknown"),
)
