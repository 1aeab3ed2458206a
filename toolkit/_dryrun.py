"""``toolkit.plan()``: a dry run that scans, probes (headers only) and plans, writing nothing.

The batch sizes come from :func:`toolkit._planning.prepare`, as a build's do, for the cluster the
build would run on (joined for as long as planning takes) or this machine.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from ._config import BuildConfig
from ._errors import ConfigError
from ._names import assign_outputs
from ._planning import Plan, prepare
from ._preflight import validate_paths
from ._probe import probe_filter, probe_items
from ._scan import ScanResult, scan
from ._settings import parse_memory_limit

__all__ = ["plan"]


def plan(
    items: Any = None,
    *,
    memory_limit: int | str | None = None,
    jobs: int | None = None,
    batch_size: int | None = None,
    batch_mode: bool = True,
    config: BuildConfig | None = None,
    client: Any = None,
    **settings: Any,
) -> Plan:
    """Probe (headers only) and plan ``items`` (a ScanResult, MediaItems, or folder paths; None: the
    config's ``inputs``, checked as a build checks them) into batches, for the cluster ``client`` (or
    the ``scheduler`` in the settings) when given, else this machine. Writes nothing.

    ``plan.to_bag()`` gives a ``dask.bag.Bag`` whose partitions are exactly the planned batches.
    """
    cfg = BuildConfig.create(config, **settings) if settings or config is None else config
    if items is None:  # the build's own inputs, with the checks a build makes first
        if not cfg.inputs:
            raise ConfigError("inputs: give at least one input folder (`inputs`)")
        if cfg.output:  # a plan never shows a build that would be refused
            validate_paths(cfg)
        items = scan(cfg.inputs, exclude=[cfg.output] if cfg.output else [], captions=cfg.captions)
    paths = (str, os.PathLike)
    if isinstance(items, paths) or (isinstance(items, (list, tuple)) and items and isinstance(items[0], paths)):
        items = scan(items, captions=cfg.captions)
    left_out = []
    if isinstance(items, ScanResult):
        from ._curate._labels import check_labels

        check_labels(cfg.labels, [*(i.rel for i in items.items), *(r.source for r in items.rows)])  # as a build does
        left_out = list(items.rows)
        items = assign_outputs(items.items, multi_root=len(items.roots) > 1, output=cfg.output or None)
    items = list(items)
    with _client_for(cfg, client) as c:
        need = [i for i in items if i.info is None]
        if need:
            probed, bad = probe_items(need, ops=cfg.ops, fmt=cfg.format, max_pixels=cfg.max_pixels, client=c)
            left_out += bad
            have = {(i.root, i.rel): i for i in probed}
            items = [i for i in (have.get((i.root, i.rel), i) if i.info is None else i for i in items) if i.info is not None]
        items, filtered = probe_filter(items, cfg.curation.filters)  # as a build: never decoded
        left_out += filtered
        limit = parse_memory_limit("memory_limit", memory_limit) if memory_limit is not None else None
        kw: dict[str, Any] = {"jobs": jobs, "batch_size": batch_size, "batch_mode": batch_mode, "left_out": left_out}
        return prepare(items, cfg, client=c, memory_limit=limit, **kw)


@contextlib.contextmanager
def _client_for(cfg: BuildConfig, client: Any) -> Iterator[Any]:
    """The Client to plan for: the one given, else one joined to the settings' ``scheduler`` for
    as long as planning takes (a build on it sees the same workers), else None (this machine)."""
    target = client if client is not None else (cfg.scheduler or cfg.scheduler_file)
    if not target or hasattr(target, "submit"):
        yield target or None
        return
    from ._cluster import connect

    c = connect(target)
    try:
        yield c
    finally:
        c.close()
