"""One Parquet shard, written on a worker: images in HF's Image layout (``struct<bytes, path>``) and
the samples' columns, with HF's features in the schema's metadata (``huggingface``: the Image
feature, ``label`` a ClassLabel named by curation's class index), so ``datasets`` yields PIL images
and class labels while pyarrow, DuckDB and polars read plain columns. Row groups of
:data:`ROW_GROUP` samples: a worker holds one row group's images at a time, never a whole shard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from .._fs import atomic_write
from ._members import image_size, read_output
from ._samples import Sample

__all__ = ["schema_for", "card_features", "write_parquet", "ROW_GROUP", "COLUMNS"]

#: samples per row group (what HF's own writer uses for image datasets)
ROW_GROUP = 100

#: (column, Arrow type name, HF Value dtype) after ``image`` and ``label``
COLUMNS = (
    ("key", "string"),
    ("caption", "string"),
    ("split", "string"),
    ("source", "string"),
    ("width", "int64"),
    ("height", "int64"),
    ("source_width", "int64"),
    ("source_height", "int64"),
    ("content_hash", "string"),
    ("phash", "string"),
    ("sharpness", "float64"),
    ("meta", "string"),  # the sidecar's JSON object, as JSON text (free-form)
    ("facts", "string"),  # what the build's own ops said of the file, as JSON text
    ("video", "string"),  # a video's key, on the samples made of it
    ("kind", "string"),  # frame, poster, contact-sheet, image (a video's) or null
    ("t", "float64"),  # where in the video the sample is, seconds: a frame's or poster's time, a sheet's first tile
    ("t_end", "float64"),  # ... to here (the same as ``t`` for one instant)
)


def schema_for(classes: Sequence[str] | None) -> Any:
    """The Arrow schema of every shard (one schema whatever the samples hold); ``classes``: the
    class names by index (None: the dataset has no labels, and no ``label`` column)."""
    import pyarrow as pa

    fields = [pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))]
    features: dict[str, Any] = {"image": {"_type": "Image"}}
    if classes is not None:
        fields.append(pa.field("label", pa.int64()))
        features["label"] = {"names": list(classes), "_type": "ClassLabel"}
    for name, dtype in COLUMNS:
        fields.append(pa.field(name, pa.string() if dtype == "string" else getattr(pa, dtype)()))
        features[name] = {"dtype": dtype, "_type": "Value"}
    meta = {"info": {"features": features}}
    return pa.schema(fields, metadata={"huggingface": json.dumps(meta, sort_keys=True)})


def card_features(classes: Sequence[str] | None) -> list[dict[str, Any]]:
    """Every shard's columns as a dataset card's ``dataset_info.features`` names them (the YAML form
    of :func:`schema_for`'s features): ``datasets`` casts the files to them, so they must be the same."""
    out: list[dict[str, Any]] = [{"name": "image", "dtype": "image"}]
    if classes is not None:
        out.append({"name": "label", "dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(classes)}}}})
    return out + [{"name": name, "dtype": dtype} for name, dtype in COLUMNS]


def _record(s: Sample, data: bytes, with_label: bool) -> dict[str, Any]:
    width, height = image_size(s, data)
    f = s.facts
    rec: dict[str, Any] = {"image": {"bytes": data, "path": f"{s.key}.{s.ext}"}}
    if with_label:
        rec["label"] = s.label_index
    rec.update(
        key=s.key,
        caption=s.caption,
        split=s.split,
        source=f.get("source"),
        width=width,
        height=height,
        source_width=f.get("source_width"),
        source_height=f.get("source_height"),
        content_hash=f.get("content_hash"),
        phash=f.get("phash"),
        sharpness=f.get("sharpness"),
        meta=f.get("meta"),
        facts=f.get("facts"),
        video=f.get("video"),
        kind=f.get("kind"),
        t=f.get("t"),
        t_end=f.get("t_end"),
    )
    return rec


def write_parquet(dest: str, samples: Sequence[Sample], root: str, options: dict[str, Any]) -> dict[str, Any]:
    """Write ``samples`` (image samples) to the Parquet file ``dest``; ``options["classes"]``: the
    class names (or None). -> ``samples`` written, ``bytes``, ``missing`` (outputs that could not be read)."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = schema_for(options.get("classes"))
    with_label = options.get("classes") is not None
    missing: list[str] = []
    written = 0
    with atomic_write(Path(dest), root=root) as fh:
        with pq.ParquetWriter(fh, schema, compression="snappy") as writer:
            for start in range(0, len(samples), ROW_GROUP):
                group = []
                for s in samples[start : start + ROW_GROUP]:
                    data = read_output(root, s)
                    if data is None:
                        missing.append(s.output)
                        continue
                    group.append(_record(s, data, with_label))
                if group:
                    writer.write_table(pa.Table.from_pylist(group, schema=schema), row_group_size=ROW_GROUP)
                    written += len(group)
            if not written:  # an empty file still has the schema
                writer.write_table(schema.empty_table())
    return {"samples": written, "bytes": os.path.getsize(dest), "missing": missing}
