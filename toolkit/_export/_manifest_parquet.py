"""``OUT/manifest.parquet``: the manifest as one typed row per input, with one fixed Arrow schema.

The schema does not depend on the rows: a clean build and one with failures give the same types
(``error`` is always ``struct<type, message>``, null when there is none; ``warnings`` always a list of
them), so the files of two builds concatenate and compare. Free-form fields are JSON text (``meta``,
the sidecar's object; ``facts``, what the build's own ops said) and every field of a row this schema
does not name is kept in ``extra``, as JSON text: nothing of a row is lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .._fs import atomic_write

if TYPE_CHECKING:
    from .._stages import StageContext

__all__ = ["MANIFEST_PARQUET", "manifest_schema", "write_manifest_parquet", "ManifestParquetSink"]

MANIFEST_PARQUET = "manifest.parquet"
Row = dict[str, Any]


def _fields() -> list[Any]:
    import pyarrow as pa

    problem = pa.struct([("type", pa.string()), ("message", pa.string())])
    s, i, f = pa.string(), pa.int64(), pa.float64()
    return [
        ("source", s),
        ("source_b64", s),
        ("input_root", s),
        ("status", s),
        ("error", problem),
        ("warnings", pa.list_(problem)),
        ("outputs", pa.list_(s)),
        ("output_bytes", pa.list_(i)),
        ("width", i),
        ("height", i),
        ("bytes_in", i),
        ("bytes_out", i),
        ("seconds", f),
        ("batch", s),
        ("caption", s),
        ("meta", s),
        ("content_hash", s),
        ("phash", s),
        ("sharpness", f),
        ("facts", s),
        ("label", s),
        ("label_index", i),
        ("split", s),
        ("duplicate_of", s),
        ("curated_from", s),
        ("frames", pa.list_(pa.struct([("index", i), ("t", f), ("output", s)]))),
        ("clips", pa.list_(pa.struct([("index", i), ("start", f), ("end", f), ("output", s)]))),
        ("poster_t", f),
        ("contact_sheet_t", pa.list_(f)),
        (
            "video",
            pa.struct([("duration", f), ("fps", f), ("frames", i), ("rotation", i), ("codec", s)]),
        ),
        ("mtime_ns", i),
        ("settings", s),
        ("extra", s),
    ]


def manifest_schema() -> Any:
    import pyarrow as pa

    return pa.schema([pa.field(n, t) for n, t in _fields()])


def _json(v: Any) -> str | None:
    return None if v is None else json.dumps(v, sort_keys=True, ensure_ascii=False)


def _problem(p: Any) -> dict[str, Any] | None:
    if not isinstance(p, dict):
        return None if p is None else {"type": "unknown", "message": str(p)}
    return {"type": p.get("type"), "message": p.get("message")}


def _record(row: Row, names: frozenset[str]) -> dict[str, Any]:
    rec = {n: row.get(n) for n in names}
    rec["error"] = _problem(row.get("error"))
    rec["warnings"] = [_problem(w) for w in row.get("warnings") or ()]
    rec["meta"], rec["facts"] = _json(row.get("meta")), _json(row.get("facts"))
    for key in ("settings", "batch"):
        v = row.get(key)
        rec[key] = v if v is None or isinstance(v, str) else _json(v)
    extra = {k: v for k, v in row.items() if k not in names}
    rec["extra"] = _json(extra) if extra else None
    return rec


def write_manifest_parquet(output: str | Path, rows: Sequence[Row]) -> Path:
    """Write ``rows`` (manifest rows) to ``OUT/manifest.parquet`` atomically; -> its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = manifest_schema()
    names = frozenset(schema.names) - {"extra"}
    table = pa.Table.from_pylist([_record(r, names) for r in rows], schema=schema)
    dest = Path(output) / MANIFEST_PARQUET
    with atomic_write(dest, root=output) as fh:
        pq.write_table(table, fh, compression="zstd")
    return dest


class ManifestParquetSink:
    """Writes ``OUT/manifest.parquet`` from the curated rows (every row, in the manifest's order)."""

    name = "manifest_parquet"

    def export(self, rows: Sequence[Row], ctx: StageContext) -> dict[str, Any]:
        write_manifest_parquet(ctx.output, rows)
        return {"rows": len(rows)}
