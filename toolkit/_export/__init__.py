"""The export stage: sinks that write a build's dataset in the formats training code reads.

- :class:`ManifestParquetSink`: ``OUT/manifest.parquet``, the manifest typed (every build).
- :class:`WebDatasetSink`: ``OUT/webdataset/{split}-{shard:06d}.tar`` + ``{split}.index.json``.
- :class:`ParquetSink`: ``OUT/parquet/{split}-{shard:05d}.parquet`` with HF's features.
- :class:`ImageFolderSink`: ``OUT/imagefolder/{split}/{label}/...`` hard-linked, a metadata.jsonl per split.
- :func:`make_sinks`: the ``exports`` setting's names -> sinks.

The reference for users is docs/exports.md.
"""

from ._imagefolder import ImageFolderSink
from ._manifest_parquet import MANIFEST_PARQUET, ManifestParquetSink, manifest_schema, write_manifest_parquet
from ._sinks import EXPORTS, SHARD_MAX_BYTES, SHARD_MAX_COUNT, ParquetSink, WebDatasetSink, make_sinks

__all__ = [
    "MANIFEST_PARQUET",
    "ManifestParquetSink",
    "manifest_schema",
    "write_manifest_parquet",
    "EXPORTS",
    "SHARD_MAX_BYTES",
    "SHARD_MAX_COUNT",
    "ParquetSink",
    "ImageFolderSink",
    "WebDatasetSink",
    "make_sinks",
]
