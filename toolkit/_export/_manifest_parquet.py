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

__all__ = ["MANIFEST_PARQUET", "manifest_schema", "manifest_table", "write_manifest_parquet", "ManifestParquetSink"]

MANIFEST_PARQUET = "manifest.parquet"
#: the footer's key for the digest of the rows the file holds (:func:`write_manifest_parquet` skips a rewrite by it)
DIGEST_KEY = b"dataprep:rows_digest"
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


def _columns(rows: Sequence[Row], names: Sequence[str]) -> dict[str, list[Any]]:
    """The rows as the schema's columns (one list each): built column by column, which pyarrow
    converts several times faster than a list of records."""
    cols: dict[str, list[Any]] = {n: [r.get(n) for r in rows] for n in names}
    cols["error"] = [_problem(e) for e in cols["error"]]
    cols["warnings"] = [[_problem(w) for w in ws or ()] for ws in cols["warnings"]]
    cols["meta"], cols["facts"] = [_json(v) for v in cols["meta"]], [_json(v) for v in cols["facts"]]
    for key in ("settings", "batch"):
        cols[key] = [v if v is None or isinstance(v, str) else _json(v) for v in cols[key]]
    known = frozenset(names)
    cols["extra"] = [_json(extra) if (extra := {k: v for k, v in r.items() if k not in known}) else None for r in rows]
    return cols


def manifest_table(rows: Sequence[Row]) -> Any:
    """``rows`` (manifest rows) as a ``pyarrow.Table`` of :func:`manifest_schema`."""
    import pyarrow as pa

    schema = manifest_schema()
    cols = _columns(rows, [n for n in schema.names if n != "extra"])
    return pa.Table.from_arrays([pa.array(cols[f.name], type=f.type) for f in schema], schema=schema)


def table_digest(table: Any) -> str:
    """A digest of a table's schema and values (of its Arrow IPC stream): equal tables, equal digests."""
    import pyarrow as pa
    import xxhash

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table.combine_chunks())
    return xxhash.xxh3_128_hexdigest(sink.getvalue())


def written_digest(path: Path) -> str | None:
    """The :data:`DIGEST_KEY` a file this module wrote carries in its footer, or None."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):  # absent, or not a parquet file (pyarrow raises ArrowInvalid, a ValueError)
        return None
    value = meta.get(DIGEST_KEY)
    return value.decode("ascii", "replace") if value else None


def write_manifest_parquet(output: str | Path, rows: Sequence[Row]) -> Path:
    """Write ``rows`` (manifest rows) to ``OUT/manifest.parquet`` atomically, unless the file there
    already holds these very rows (the digest of their table in its footer, :data:`DIGEST_KEY`, is
    this one's): then it is left as it is (its time and inode too). -> its path."""
    import pyarrow.parquet as pq

    table = manifest_table(rows)
    digest = table_digest(table)
    dest = Path(output) / MANIFEST_PARQUET
    if written_digest(dest) != digest:
        with atomic_write(dest, root=output) as fh:
            pq.write_table(table.replace_schema_metadata({DIGEST_KEY: digest}), fh, compression="zstd")
    return dest


class ManifestParquetSink:
    """Writes ``OUT/manifest.parquet`` from the curated rows (every row, in the manifest's order)."""

    name = "manifest_parquet"

    def export(self, rows: Sequence[Row], ctx: StageContext) -> dict[str, Any]:
        write_manifest_parquet(ctx.output, rows)
        return {"rows": len(rows)}
