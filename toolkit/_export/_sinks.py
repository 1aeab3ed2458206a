"""The export sinks: :class:`WebDatasetSink` (``OUT/webdataset/``) and :class:`ParquetSink`
(``OUT/parquet/``), and :func:`make_sinks` that turns the ``exports`` setting into sinks.

Each plans on the client from the curated rows (nothing is decoded), looks each output up on disk
(an output listed by its row but missing is left out, reported in the figures and as a warning),
and has the shards written on the cluster (:mod:`._runner`). Their figures go to ``summary.json``
under ``exports[name]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .._errors import ConfigError
from .._settings_export import SHARD_MAX_BYTES, SHARD_MAX_COUNT
from ._imagefolder import ImageFolderSink
from ._pq import write_parquet
from ._runner import run_shards
from ._samples import Sample, class_index, dataset_rows, plan_samples
from ._shards import plan_shards
from ._tar import JSON_TEXT, write_tar

if TYPE_CHECKING:
    from .._stages import Sink, StageContext

__all__ = ["class_index", "WebDatasetSink", "ParquetSink", "make_sinks", "EXPORTS", "SHARD_MAX_COUNT", "SHARD_MAX_BYTES"]

Row = dict[str, Any]

MISSING_SHOWN = 20


def _present(root: Path, rows: Sequence[Row]) -> tuple[dict[str, int], list[str]]:
    """Each dataset row's outputs found on disk -> (size by name, names missing)."""
    sizes: dict[str, int] = {}
    missing: list[str] = []
    for r in dataset_rows(rows):
        for o in r["outputs"]:
            try:
                sizes[o] = os.path.getsize(root / o)
            except OSError:
                missing.append(o)
    return sizes, missing


def _classes(samples: Sequence[Sample], ctx: StageContext) -> list[str] | None:
    return class_index(ctx.output, any(s.label_index is not None for s in samples))


class _ShardSink:
    name = ""
    suffix = ""
    digits = 6

    def __init__(self, shard_max_count: int = SHARD_MAX_COUNT, shard_max_bytes: int = SHARD_MAX_BYTES, shard_seed: int = 0):
        for key, v in (("shard_max_count", shard_max_count), ("shard_max_bytes", shard_max_bytes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"`{key}`: expected a whole number >= 1, got {v!r}")
        self.max_count, self.max_bytes, self.seed = shard_max_count, shard_max_bytes, int(shard_seed)

    def select(self, samples: list[Sample]) -> list[Sample]:
        return samples

    def options(self, samples: list[Sample], ctx: StageContext) -> dict[str, Any]:
        return {}

    def export(self, rows: Sequence[Row], ctx: StageContext) -> dict[str, Any]:
        root = Path(ctx.output)
        sizes, missing = _present(root, rows)
        samples = self.select([s for s in plan_samples(rows, sizes) if s.size >= 0])
        options = self.options(samples, ctx)
        plans = plan_shards(
            samples,
            fmt=self.name,
            suffix=self.suffix,
            digits=self.digits,
            max_count=self.max_count,
            max_bytes=self.max_bytes,
            seed=self.seed,
            extra=options,
        )
        if missing:
            shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
            ctx.emit(
                "warning",
                message=f"{self.name}: {len(missing)} output(s) the manifest lists are missing on disk and are not in "
                f"the export ({shown}); build again to make them",
            )
        info = {"classes": _classes(samples, ctx)}
        figures = run_shards(ctx, root / self.name, self.name, self.suffix, plans, self.task, options, info)
        gone = sorted(set(missing) | set(figures.pop("missing_while_writing")))
        return {
            **figures,
            "samples": sum(v["samples"] for v in figures["splits"].values()),
            "missing": len(gone),
            "missing_outputs": gone[:MISSING_SHOWN],
        }

    @staticmethod
    def task(dest: str, samples: Sequence[Sample], root: str, options: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class WebDatasetSink(_ShardSink):
    """``OUT/webdataset/{split}-{shard:06d}.tar`` and ``{split}.index.json`` (see docs/exports.md)."""

    name = "webdataset"
    suffix = "tar"
    digits = 6
    task = staticmethod(write_tar)

    def options(self, samples: list[Sample], ctx: StageContext) -> dict[str, Any]:
        return {
            "cls": any(s.label_index is not None for s in samples),
            "txt": any(s.caption is not None for s in samples),
            "text": [k for k in JSON_TEXT if any(s.facts.get(k) is not None for s in samples)],
        }


class ParquetSink(_ShardSink):
    """``OUT/parquet/{split}-{shard:05d}.parquet`` (image samples; see docs/exports.md)."""

    name = "parquet"
    suffix = "parquet"
    digits = 5
    task = staticmethod(write_parquet)

    def select(self, samples: list[Sample]) -> list[Sample]:
        return [s for s in samples if s.is_image]

    def options(self, samples: list[Sample], ctx: StageContext) -> dict[str, Any]:
        return {"classes": _classes(samples, ctx)}


#: the export names the ``exports`` setting takes, and their sinks
EXPORTS: dict[str, Any] = {
    "webdataset": WebDatasetSink,
    "imagefolder": lambda **_: ImageFolderSink(),  # links files: no shards, no shard options
    "parquet": ParquetSink,
}


def make_sinks(names: Sequence[str], **options: Any) -> list[Sink]:
    """The sinks of the ``exports`` setting, in a fixed order whatever order they are named in;
    ``options``: ``shard_max_count``, ``shard_max_bytes``, ``shard_seed`` (the shuffle seed). The manifest's
    Parquet copy is not one of them: every build writes it (:class:`ManifestParquetSink`)."""
    unknown = sorted(set(names) - set(EXPORTS))
    if unknown:
        raise ConfigError(f"`exports`: unknown export {unknown[0]!r} (known: {', '.join(EXPORTS)})")
    return [EXPORTS[n](**options) for n in EXPORTS if n in names]
