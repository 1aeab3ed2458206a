"""What curation does to a manifest row, in one place: mark it skipped for a reason, and undo that.

Curation is re-run from the manifest's facts (new settings, more files), so every verdict it
writes must be undoable: a row it skips keeps its facts (size, outputs, hashes) and records the
status it had before in ``curated_from``; :func:`reset` gives the row back as the build left it.
A row the probe or the worker left out (no ``curated_from``) is never turned back on here; a row
the probe left out for its size (``probe_filtered``: never decoded, no outputs) is judged again by
the filters, and when they no longer rule it out it stays ``skipped`` as ``needs-build``: only a
build can make its outputs.
"""

from __future__ import annotations

from typing import Any, Iterable

Row = dict[str, Any]

#: the warning types curation writes (the skip reasons), and the fields it adds
SKIP_TYPES = ("too-small", "aspect", "blurry", "duplicate", "needs-build")
FIELDS = ("label", "label_index", "duplicate_of", "split", "curated_from")
#: set (true) by the build's probe on a row it left out for its size (``toolkit._probe.probe_filter``)
PROBE_FILTERED = "probe_filtered"


def key(row: Row) -> tuple[str, str]:
    """A file's identity across builds, as the manifest keys it (input folder, encoded name)."""
    return (row.get("input_root", ""), row.get("source_b64") or row.get("source", ""))


def path_order(row: Row) -> tuple[str, str, str]:
    """The manifest's order (input folder, then name): "the first by path"."""
    return (row.get("input_root", ""), row.get("source", ""), row.get("source_b64", ""))


def reset(row: Row) -> Row:
    """A copy of ``row`` without any verdict of an earlier curation (status back, reasons gone)."""
    out = {k: v for k, v in row.items() if k not in FIELDS}
    before = row.get("curated_from")
    if before is not None:
        out["status"] = before
    if before is not None or row.get(PROBE_FILTERED):  # (a probe's skip stays one: judged again by the filters)
        out["warnings"] = [w for w in row.get("warnings") or () if w.get("type") not in SKIP_TYPES]
    return out


def left_out(row: Row) -> bool:
    """A row the filters or dedupe left out (its reason is the first of its ``warnings``), at the
    probe or after the build."""
    return row.get("curated_from") is not None or bool(row.get(PROBE_FILTERED))


def in_dataset(row: Row) -> bool:
    """A row whose file is part of the dataset (built and kept)."""
    return row.get("status") == "ok"


def skip(row: Row, reasons: Iterable[tuple[str, str]]) -> Row:
    """``row`` (copied) as ``skipped`` for these (type, message) reasons, first one first in
    ``warnings`` (the reason the build summary shows, as for any skipped row), facts kept."""
    found = [{"type": t, "message": m} for t, m in reasons]
    if not found:
        return row
    out = dict(row)
    if not row.get(PROBE_FILTERED):  # (the probe's rows were never anything but skipped)
        out.setdefault("curated_from", row.get("status"))
    out["status"] = "skipped"
    out["warnings"] = found + list(row.get("warnings") or ())
    return out
