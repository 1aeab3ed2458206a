"""The stages after the batches: *curate* (rows in, rows out) and *export* (sinks).

A build runs preflight -> scan -> probe -> prepare -> drive, then, once every file has its row
and the run was not stopped, ``curate`` over ALL the manifest's rows (this run's and those
carried over, in the manifest's order: the same every run, whatever order the batches ended in),
then every sink's ``export`` over the curated rows. They get a
:class:`StageContext`: the output folder, the settings, the manifest, the Dask client (a sink
may submit tasks to the cluster, e.g. one per shard, and wait for them: the workers are still
up) and ``emit`` for events. Curators (labels, captions, filters, dedupe, splits) and sinks
(WebDataset shards, HF imagefolder, Parquet) are added here without touching the driver.

A curator or sink that cannot write to the output (``OutputWriteError``: disk full, read-only)
stops the run as any output fault does: every row stands, the report and ``summary.json`` say
why, and the next run (every file carried over) runs these stages again.

The build's own curator comes first (:class:`toolkit._curation.BuildCurator`: labels, filters,
dedupe, splits, when asked for); after it :class:`Identity` unless others are given and :class:`MirrorSink`, the
mirror tree of outputs that the batches write as they go, whose end-of-run job is removing the
outputs of earlier runs that no row lists any more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from ._curate._rows import PROBE_FILTERED
from ._manifest import Manifest
from ._stale import remove_outputs

if TYPE_CHECKING:
    from ._config import BuildConfig

__all__ = ["StageContext", "Curator", "Sink", "Identity", "MirrorSink", "curate_and_export", "export_sinks", "exports_into"]

Row = dict[str, Any]


@dataclass
class StageContext:
    output: Path
    config: BuildConfig
    manifest: Manifest
    client: Any  # a distributed.Client: sinks may submit tasks (client.map / client.submit) and gather them
    emit: Callable[..., Any]
    #: whether the run was asked to stop: a long sink checks it between pieces of work (finished
    #: shards kept) and raises ``Stopped``; the build then ends as stopped, every row standing
    stopped: Callable[[], bool] = lambda: False


class Curator(Protocol):
    """Rows in, rows out: label, caption, filter, dedupe, split. Sees every row of the dataset."""

    def curate(self, rows: Sequence[Row], ctx: StageContext) -> Sequence[Row]: ...


class Sink(Protocol):
    """Writes the curated rows in one export format. Returns a dict of figures for ``summary.json``
    (under ``exports[name]``), or None."""

    name: str

    def export(self, rows: Sequence[Row], ctx: StageContext) -> dict[str, Any] | None: ...


class Identity:
    """No curation: every row as it is."""

    def curate(self, rows: Sequence[Row], ctx: StageContext) -> Sequence[Row]:
        return rows


class MirrorSink:
    """The mirror tree: outputs under the same relative paths as their inputs, written by the
    batches as they go. At the end it removes the outputs an earlier run made for today's files
    (``stale``: from :func:`toolkit._manifest.stale_outputs`) that no row lists any more."""

    name = "mirror"

    def __init__(self, stale: dict[tuple[str, str], set[str]]):
        self.stale = stale

    def export(self, rows: Sequence[Row], ctx: StageContext) -> dict[str, Any] | None:
        by_key = ctx.manifest.rows
        # only for files whose final row is ok (a failed redo keeps what it had); names
        # compared case-folded, as a case-insensitive disk would see them
        listed = {o.casefold() for r in by_key.values() for o in r.get("outputs") or ()}
        gone = [
            o for key, outs in self.stale.items() if _built((by_key.get(key) or {})) for o in outs if o.casefold() not in listed
        ]
        return {"stale_outputs_removed": remove_outputs(ctx.output, gone)}


def _built(row: Row) -> bool:
    """A file whose outputs this build settled: ``ok``, or left out by curation after it was built
    (``curated_from == "ok"``: its outputs stay, as curation is undone by the next build), or left
    out by the probe for its size (no outputs: those an earlier build made with other settings go)."""
    return row.get("status") == "ok" or row.get("curated_from") == "ok" or bool(row.get(PROBE_FILTERED))


def export_sinks(
    cfg: BuildConfig, curation: Callable[[], dict[str, Any] | None], given: Sequence[Sink] = ()
) -> tuple[list[Sink], list[Sink]]:
    """The sinks every build runs after the mirror, as (first, last), other sinks going between:
    ``manifest.parquet`` (always, first, so a shard that fails still leaves it), the dataset card
    (drawn on a worker while the others write; collected by the last sink), then the exports the
    ``exports`` setting names (toolkit/_export). ``curation``: the build curator's report, once run.
    ``given``: the run's own sinks; a card among them is the build's card (two would race for README.md)."""
    from ._card import CardSink
    from ._export import ManifestParquetSink, make_sinks

    shards = {"shard_max_count": cfg.shard_max_count, "shard_max_bytes": cfg.shard_max_bytes, "shard_seed": cfg.split_seed}
    exports = make_sinks(cfg.exports, **shards)
    if any(isinstance(s, CardSink) for s in given):
        return [ManifestParquetSink(), *exports], []
    card = CardSink(curation=curation)
    return [ManifestParquetSink(), card, *exports], [card.collector()]


def curate_and_export(
    ctx: StageContext, curators: Sequence[Curator], sinks: Sequence[Sink], figures: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Run the curators in turn over every row, then each sink; -> each sink's figures by name,
    put in ``figures`` as each sink ends (those of the sinks before one that raised are kept).
    The curators (as one, "curate") and each sink emit a ``stage`` event as it starts and as it ends."""
    figures = {} if figures is None else figures

    def curate() -> Sequence[Row]:
        rows: Sequence[Row] = ctx.manifest.ordered()  # as the manifest lists them: the same order every run
        for c in curators:
            rows = c.curate(rows, ctx)
        return rows

    rows = _stage(ctx, "curate", curate)
    try:
        for s in sinks:
            stage = getattr(s, "stage", s.name)  # what the sink does, when it is not its name (the card's second half)
            if (done := _stage(ctx, stage, partial(s.export, rows, ctx))) is not None:
                figures[s.name] = done
    except BaseException:  # a stop or a fault: nothing started by an earlier sink may write after the run ends
        for s in sinks:
            if (abandon := getattr(s, "abandon", None)) is not None:
                abandon()
        raise
    return figures


def _stage(ctx: StageContext, name: str, work: Callable[[], Any]) -> Any:
    """``work()`` between a ``stage`` event "started" and one "finished" (or "stopped"/"failed", as it raised)."""
    ctx.emit("stage", name=name, state="started")
    t0, state = time.perf_counter(), "failed"
    try:
        out = work()
        state = "finished"
        return out
    finally:
        if state == "failed" and ctx.stopped():
            state = "stopped"
        ctx.emit("stage", name=name, state=state, seconds=round(time.perf_counter() - t0, 3))


def exports_into(exports: Sequence[Sink | str] | str, settings: dict[str, Any]) -> list[Sink]:
    """``exports=`` of :func:`toolkit._run.start` and :func:`toolkit._run.build`: names (``"webdataset"``) are the
    ``exports`` setting, put in ``settings``; sink objects of your own are returned."""
    given = [exports] if isinstance(exports, str) else list(exports)
    names = [e for e in given if isinstance(e, str)]
    if names:
        settings["exports"] = names
    return [e for e in given if not isinstance(e, str)]
