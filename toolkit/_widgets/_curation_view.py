"""What curation made of a build, as the panel shows it: counts, the split x label table and the duplicates.

Drawn from summary.json's ``curation`` section (``toolkit.curate``'s report) and the manifest's
rows. Each duplicate group is a strip of small thumbnails made from the build's outputs (each
row's first image output; the source file only for a row with none, and said so under it), the
kept member first with a border and "kept", each other member with its distance to the kept one:
"exact" (same content hash) or its phash's Hamming distance in bits. Largest groups first.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .._curate._kept import bits_apart, kept_groups, same_content
from ._preview import name_html, thumb_b64

__all__ = ["DuplicateGroup", "duplicate_groups", "duplicates_html", "split_table_html", "split_label_counts", "counts_html"]

Row = dict[str, Any]
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


@dataclass
class DuplicateGroup:
    kept: Row | None  # None: the kept file named by ``duplicate_of`` is not in the manifest
    kept_source: str
    others: list[Row] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.others) + (self.kept is not None)


def duplicate_groups(rows: Iterable[Row]) -> list[DuplicateGroup]:
    """The duplicate groups of curated rows (those with ``duplicate_of``), each under its kept
    member (``toolkit._curate._kept``: where several input folders hold a file of the kept one's
    name, the one the copies match), largest first (then by the kept file's name)."""
    groups = [DuplicateGroup(kept, source, others) for kept, source, others in kept_groups(rows)]
    return sorted(groups, key=lambda g: (-g.size, g.kept_source, str((g.kept or {}).get("input_root", ""))))


def distance_text(row: Row, kept: Row | None) -> str:
    """ "exact" when the content hashes are equal, else the phash bits that differ, else ""."""
    if kept is None:
        return ""
    if same_content(row, kept):
        return "exact"
    bits = bits_apart(row, kept)
    return "" if bits is None else f"{bits} bit" if bits == 1 else f"{bits} bits"


def picture_of(row: Row, output: str) -> tuple[str | None, bool]:
    """(path to make a row's thumbnail from, whether it is the source): its first image output
    that exists, else its source file (a row with no output)."""
    for rel in row.get("outputs") or ():
        path = os.path.join(output, rel)
        if rel.lower().endswith(_IMAGE_EXT) and os.path.isfile(path):
            return path, False
    src = os.path.join(row.get("input_root") or "", row.get("source") or "")
    return (src, True) if row.get("source") and os.path.isfile(src) else (None, False)


def _cell(row: Row | None, source: str, output: str, note: str, kept: bool, px: int) -> str:
    path, from_source = picture_of(row, output) if row is not None else (None, False)
    data = thumb_b64(path, px) if path else None
    border = "3px solid #2e7d32" if kept else "1px solid #ccc"
    img = (
        f"<img src='data:image/jpeg;base64,{data}' style='max-width:{px}px;max-height:{px}px' title='{name_html(path or '')}'>"
        if data
        else f"<span style='display:inline-block;width:{px}px;height:{px}px;background:#eee'></span>"
    )
    lines = ["<b class='dp-kept'>kept</b>" if kept else f"<span class='dp-distance'>{html.escape(note)}</span>"]
    if from_source:
        lines.append("<i>source</i>")
    elif data is None:
        lines.append("<i>no picture</i>")
    cls = "dp-dup dp-dup-kept" if kept else "dp-dup"
    return (
        f"<figure class='{cls}' style='margin:2px;display:inline-block;text-align:center;vertical-align:top'>"
        f"<div style='border:{border};padding:1px;display:inline-block'>{img}</div>"
        f"<figcaption style='font-size:11px;max-width:{px + 12}px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis'"
        f" title='{name_html(source)}'>{name_html(source)}<br>{' · '.join(lines)}</figcaption></figure>"
    )


def duplicates_html(rows: Sequence[Row], output: str, *, max_groups: int = 20, max_members: int = 12, px: int = 72) -> str:
    """The duplicates view: each group a strip of thumbnails, the kept one first and marked."""
    groups = duplicate_groups(rows)
    if not groups:
        return "<div class='dp-duplicates'><i>no duplicate groups</i></div>"
    files = sum(len(g.others) for g in groups)
    parts = [f"<div class='dp-duplicates'><b>Duplicates</b>: {files} files in {len(groups)} groups (largest first)"]
    for g in groups[:max_groups]:
        cells = [_cell(g.kept, g.kept_source, output, "", True, px)]
        cells += [_cell(r, str(r.get("source", "")), output, distance_text(r, g.kept), False, px) for r in g.others[:max_members]]
        more = len(g.others) - max_members
        if more > 0:
            cells.append(f"<span style='align-self:center'>+{more} more</span>")
        parts.append(
            f"<div class='dp-dup-group' style='display:flex;flex-wrap:wrap;align-items:flex-start;gap:2px;"
            f"border-top:1px solid #eee;padding:2px 0'>{''.join(cells)}</div>"
        )
    rest = groups[max_groups:]
    if rest:
        n = sum(len(g.others) for g in rest)
        parts.append(f"<div class='dp-dup-more'>… {len(rest)} more groups ({n} duplicates) in the manifest</div>")
    parts.append(
        "<div style='font-size:11px;color:#555'>Thumbnails are made from each file's output (a file with none: "
        "from its source, marked <i>source</i>); under each copy, its distance to the kept file.</div></div>"
    )
    return "".join(parts)


def split_label_counts(rows: Iterable[Row]) -> dict[str, dict[str, int]]:
    """Files in the dataset per split x label, from the rows (as the leakage report counts them);
    without splits, per label under the split "–" (and {} when the rows have neither)."""
    table: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.get("status") == "ok" and (r.get("split") is not None or r.get("label") is not None):
            per = table.setdefault("–" if r.get("split") is None else str(r["split"]), {})
            label = "" if r.get("label") is None else str(r["label"])
            per[label] = per.get(label, 0) + 1
    return {s: dict(sorted(table[s].items())) for s in sorted(table)}


def split_table_html(files: dict[str, dict[str, int]]) -> str:
    """The split x label table with totals per split, per label and overall (no label: "–")."""
    if not files:
        return ""
    labels = sorted({lb for per in files.values() for lb in per})
    e, pad = html.escape, "padding:1px 10px;border-bottom:1px solid #ddd"
    th, td, left = f"<th style='{pad}'>", f"<td style='{pad}'>", f"<th style='{pad};text-align:left'>"
    head = "".join(f"{th}{e(lb) if lb else '–'}</th>" for lb in labels)
    body = "".join(
        f"<tr>{left}{e(split)}</th>"
        + "".join(f"{td}{per.get(lb, 0)}</td>" for lb in labels)
        + f"{td}<b>{sum(per.values())}</b></td></tr>"
        for split, per in files.items()
    )
    totals = "".join(f"{td}<b>{sum(per.get(lb, 0) for per in files.values())}</b></td>" for lb in labels)
    grand = sum(sum(per.values()) for per in files.values())
    return (
        "<table class='dp-split-table' style='text-align:right;border-collapse:collapse;margin:4px 0'>"
        f"<tr>{left}split \\ label</th>{head}{th}total</th></tr>{body}"
        f"<tr class='dp-split-total'>{left}total</th>{totals}{td}<b>{grand}</b></td></tr></table>"
    )


def counts_html(curation: dict[str, Any]) -> str:
    """kept / filtered (by reason) / duplicates, pairs across splits and split conflicts."""
    filtered = curation.get("filtered") or {}
    kinds = ", ".join(f"{html.escape(k)} {v}" for k, v in filtered.items())
    text = (
        f"kept <b class='dp-kept-count'>{curation.get('kept', 0)}</b> · filtered {sum(filtered.values())}"
        + (f" ({kinds})" if kinds else "")
        + f" · duplicates {curation.get('duplicates', 0)} in {curation.get('duplicate_groups', 0)} groups"
    )
    leak = curation.get("leakage") or {}
    if leak.get("near_pairs_across_splits"):
        text += f" · <span style='color:#c00'>near-duplicate pairs across splits: {leak['near_pairs_across_splits']}</span>"
    conflicts = curation.get("split_conflicts") or ()
    if conflicts:
        text += f" · split conflicts: {len(conflicts)} (see summary.json)"
    return f"<div class='dp-curation-counts'>{text}</div>"
