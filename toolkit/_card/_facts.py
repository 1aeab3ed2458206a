"""What the card says, worked out from a build's rows and its summary (pure: no file is read).

Only rows in the dataset (``status == "ok"``) are counted as samples. A build without splits has
one split, ``train`` (what Hugging Face names a dataset's only split); a row without a label counts
under ``""``. The curation figures come from ``summary["curation"]`` when there is one (what the
build reported, split conflicts included); otherwise they are counted again from the rows (the
card sink runs before summary.json is written), the leakage check through the same function.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .._curate._leakage import leakage_report
from .._curate._rows import SKIP_TYPES, left_out

__all__ = ["CardFacts", "card_facts", "ONLY_SPLIT", "IMAGE_SUFFIXES"]

Row = dict[str, Any]
ONLY_SPLIT = "train"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")

#: what each curation reason means, in the card's words
REASONS = {
    "too-small": "short side under `filters.min_side`",
    "aspect": "long side / short side above `filters.max_aspect`",
    "blurry": "sharpness under `filters.min_sharpness`",
    "duplicate": "a copy of a kept file (`dedupe`)",
}


@dataclass
class CardFacts:
    splits: list[str]
    labels: list[str]  # the class names, in class-index order
    table: dict[str, dict[str, int]]  # split -> label -> samples
    samples: list[Row]  # the rows in the dataset, in the manifest's order
    removed: dict[str, int]  # curation reason -> files
    not_built: dict[str, int]  # failed (by error type) and skipped before curation (by reason)
    duplicate_groups: list[tuple[Row, list[Row]]]  # (kept, copies), largest first
    leakage: dict[str, Any] | None
    split_conflicts: list[Any]
    settings: dict[str, Any]
    sizes: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.samples)


def split_of(row: Row) -> str:
    return str(row.get("split") or ONLY_SPLIT)


def label_of(row: Row) -> str:
    return "" if row.get("label") is None else str(row["label"])


def image_output(row: Row) -> str | None:
    """The row's first output that is a still image (a grid shows it), or None."""
    return next((o for o in row.get("outputs") or () if str(o).lower().endswith(IMAGE_SUFFIXES)), None)


def _labels(samples: Sequence[Row]) -> list[str]:
    """The class names by class index (``label_index``), then any others by name."""
    index: dict[str, int] = {}
    for r in samples:
        if r.get("label") is not None and isinstance(r.get("label_index"), int):
            index.setdefault(str(r["label"]), r["label_index"])
    named = sorted(index, key=lambda n: (index[n], n))
    rest = sorted({label_of(r) for r in samples} - set(named) - {""})
    return named + rest


def _duplicate_groups(rows: Sequence[Row]) -> list[tuple[Row, list[Row]]]:
    kept: dict[Any, Row] = {}
    for r in rows:
        if r.get("status") == "ok":
            kept.setdefault(r.get("source"), r)
            kept[(r.get("input_root"), r.get("source"))] = r
    groups: dict[int, tuple[Row, list[Row]]] = {}
    for r in rows:
        of = r.get("duplicate_of")
        if of is None or r.get("status") == "ok":
            continue
        k = kept.get((r.get("input_root"), of)) or kept.get(of)
        if k is not None:
            groups.setdefault(id(k), (k, []))[1].append(r)
    return sorted(groups.values(), key=lambda g: (-len(g[1]), str(g[0].get("source"))))


def _sizes(samples: Sequence[Row]) -> dict[str, Any]:
    dims = [(r["width"], r["height"]) for r in samples if r.get("width") and r.get("height")]
    short = [min(d) for d in dims]
    out_bytes = sum(sum(r.get("output_bytes") or ()) or (r.get("bytes_out") or 0) for r in samples)
    return {
        "measured": len(dims),
        "short_side": (min(short), int(statistics.median(short)), max(short)) if short else None,
        "most_common": Counter(f"{w}x{h}" for w, h in dims).most_common(3),
        "bytes_in": sum(r.get("bytes_in") or 0 for r in samples),
        "bytes_out": out_bytes,
    }


def card_facts(rows: Sequence[Row], summary: Mapping[str, Any] | None = None, *, leakage: bool = True) -> CardFacts:
    """The card's figures from every row of a build (the manifest's rows, curated) and its summary
    (``settings``, and ``curation`` when written). ``leakage=False``: no leakage check (the
    pictures do not need it)."""
    summary = summary or {}
    settings = dict(summary.get("settings") or {})
    curation = summary.get("curation") or {}
    samples = [r for r in rows if r.get("status") == "ok"]
    table: dict[str, dict[str, int]] = {}
    for r in samples:
        per = table.setdefault(split_of(r), {})
        per[label_of(r)] = per.get(label_of(r), 0) + 1
    order = list((settings.get("splits") or {}).keys())
    splits = [s for s in order if s in table] + sorted(set(table) - set(order))
    removed: Counter[str] = Counter()
    not_built: Counter[str] = Counter()
    for r in rows:
        kind = ((r.get("warnings") or [{}])[0] or {}).get("type")
        if left_out(r) and kind in SKIP_TYPES:  # after the build, or at the probe (no outputs made)
            removed[kind] += 1
        elif r.get("status") == "failed":
            not_built[f"failed: {(r.get('error') or {}).get('type', 'error')}"] += 1
        elif r.get("status") == "skipped":
            not_built[f"skipped: {kind or 'skipped'}"] += 1
    found = curation.get("leakage")
    if found is None and leakage and any(r.get("split") is not None for r in samples):
        near = settings.get("near_distance", 8)
        dedupe = settings.get("dedupe") or ("near" if settings.get("splits") else "off")  # None: automatic
        found = leakage_report(samples, near, search=dedupe != "near")
    return CardFacts(
        splits=splits,
        labels=_labels(samples),
        table={s: dict(sorted(table[s].items())) for s in splits},
        samples=samples,
        removed=dict(sorted(removed.items())),
        not_built=dict(sorted(not_built.items())),
        duplicate_groups=_duplicate_groups(rows),
        leakage=found,
        split_conflicts=list(curation.get("split_conflicts") or ()),
        settings=settings,
        sizes=_sizes(samples),
    )
