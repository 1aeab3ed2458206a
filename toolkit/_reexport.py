"""Exports again after ``toolkit.curate``: ``manifest.parquet``, the card and the build's exports,
written from the re-curated rows in this process (no cluster, nothing decoded: shards are made of
the outputs on disk, the same code the cluster's tasks run)."""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

__all__ = ["reexport", "EXPORT_KEYS"]

#: the build's settings the exports follow (the shuffle seed is ``split_seed``)
EXPORT_KEYS = ("exports", "shard_max_count", "shard_max_bytes", "card_source", "card_license", "split_seed")


def _say(kind: str, **fields: Any) -> None:
    if kind == "warning":
        warnings.warn(fields.get("message", ""), stacklevel=3)


def reexport(
    output: str | os.PathLike,
    build_settings: Mapping[str, Any],
    rows: Sequence[dict[str, Any]],
    curation: Callable[[], dict[str, Any] | None],
) -> dict[str, dict[str, Any]]:
    """Run the build's sinks (but the mirror) over ``rows``; -> their figures by name, for
    summary.json's ``exports``. ``build_settings``: summary.json's ``settings`` (which exports)."""
    from ._config import BuildConfig
    from ._manifest import Manifest
    from ._stages import StageContext, export_sinks

    try:  # the build's whole config: the card shows the settings that rebuild it
        cfg = BuildConfig.create(**build_settings)
    except Exception:  # noqa: BLE001 - a summary from another version: the exports' own keys suffice
        cfg = BuildConfig.create(**{k: build_settings[k] for k in EXPORT_KEYS if build_settings.get(k) is not None})
    out = Path(output)
    ctx = StageContext(out, cfg, Manifest(out), None, _say)
    first, last = export_sinks(cfg, curation)
    figures: dict[str, dict[str, Any]] = {}
    typed, rest = first[0], [*first[1:], *last]  # manifest.parquet first, as in a build
    with ThreadPoolExecutor(1) as pool:  # pyarrow writes it without the GIL while the card is drawn here
        pending = pool.submit(typed.export, rows, ctx)
        try:
            for sink in rest:
                if (done := sink.export(rows, ctx)) is not None:
                    figures[sink.name] = done
        finally:
            typed_figures = pending.result()  # its error (a full disk) first: it was first
    if typed_figures is not None:
        figures = {typed.name: typed_figures, **figures}
    return figures
