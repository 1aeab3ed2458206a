"""All of curation over a build's rows, in its fixed order, from settings to rows and report.

Order: undo any earlier curation (:func:`reset`), labels, filters, dedupe, splits, then the
leakage report. Filters run before dedupe so a tiny or blurry copy is never chosen as the kept
member; dedupe before splits so a group is placed as one. Everything is pure: the caller (the
``Curator`` in toolkit/_stages.py) reads the previous manifest rows and state and writes the
returned rows and state (``curation.json`` beside the manifest, atomically).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .._errors import ConfigError
from ._dedupe import apply_dedupe, check_dedupe
from ._filters import Filters, apply_filters
from ._labels import apply_labels, check_label_mode
from ._leakage import leakage_report
from ._carry import Assigned
from ._rows import Row, in_dataset, key, left_out, reset
from ._splits import Conflict, assign_splits, check_splits

__all__ = ["CurationSettings", "Curated", "curate_rows", "parse_setting", "STATE_FORMAT"]

STATE_FORMAT = "dataprep-curation"
#: the Hamming radius used when none is set: catches resized, recompressed, slightly cropped copies, groups no
#: distinct photo (benchmarks/near_distance.py); the widest whose 1M-hash search meets 60 s (docs/curation.md)
NEAR_DISTANCE = 8


@dataclass(frozen=True)
class CurationSettings:
    labels: str = "none"
    filters: Filters = Filters()
    dedupe: str = "off"
    near_distance: int = NEAR_DISTANCE
    splits: Mapping[str, float] = field(default_factory=dict)
    split_seed: int = 0
    captions: str = "sidecar"  # read by the scan (toolkit/_sidecar.py); here so every curation key is one of these

    @classmethod
    def from_settings(cls, s: Mapping[str, Any]) -> "CurationSettings":
        """From the config keys (labels, filters, dedupe, near_distance, splits, split_seed), each
        checked, errors naming the key. ``dedupe`` defaults to ``near`` when splits are asked for."""
        labels = s.get("labels") or "none"
        check_label_mode(labels)
        seed = s.get("split_seed", 0)
        splits = check_splits(s.get("splits"), seed)
        dedupe = s.get("dedupe") or ("near" if splits else "off")
        near = s.get("near_distance", NEAR_DISTANCE)
        check_dedupe(dedupe, near)
        captions = s.get("captions") or "sidecar"
        if captions not in ("none", "sidecar"):
            raise ConfigError(f"`captions` must be one of none, sidecar, not {captions!r}")
        return cls(labels, Filters.from_settings(s.get("filters")), dedupe, near, splits, seed, captions)

    def split_state(self) -> dict[str, Any] | None:
        """What the rows' ``split`` fields were made with: carried forward only while it is equal."""
        return {"fractions": dict(sorted(self.splits.items())), "seed": self.split_seed} if self.splits else None


def parse_setting(key: str, v: Any) -> Any:
    """One curation key's value, checked as :meth:`CurationSettings.from_settings` checks it (the
    error names the key): the settings registry's parser (toolkit/_settings.py). The keys are checked
    together again once all are set (``dedupe``'s default follows ``splits``)."""
    if key in ("near_distance", "split_seed") and isinstance(v, str) and v.strip().lstrip("-").isdigit():
        v = int(v)  # from a flag or an environment: the number it spells
    if key in ("filters", "splits"):
        if v is not None and not isinstance(v, Mapping):
            raise ConfigError(f"`{key}`: expected a table like {{name = value}}, got {v!r}")
        got = CurationSettings.from_settings({key: v})
        if key == "splits":
            return dict(got.splits)
        return {k: v for k, v in sorted(vars(got.filters).items()) if v is not None}  # {} stays {}: the default
    if key == "dedupe" and v is None:
        return None  # automatic: near when splits are asked for, else off
    CurationSettings.from_settings({key: v, "dedupe": "off"} if key == "near_distance" else {key: v})
    return v


@dataclass
class Curated:
    rows: list[Row]
    state: dict[str, Any]  # curation.json: the class index and the split settings
    conflicts: list[Conflict]
    report: dict[str, Any]  # for summary.json: counts, conflicts, leakage
    #: the split assignment to keep beside the manifest (with splits; None: keep the one there is)
    assigned: Assigned | None = None


def curate_rows(
    rows: Sequence[Row],
    settings: CurationSettings,
    previous_rows: Iterable[Row] = (),
    previous_state: Mapping[str, Any] | None = None,
    assigned: Assigned | None = None,
) -> Curated:
    """Curate every row of a build (the manifest's rows, in its order).

    ``previous_rows``: the rows of the manifest this build replaces (their ``split`` is carried
    forward when ``previous_state`` shows the same split settings); ``previous_state``: the
    ``curation.json`` it wrote, or None on a first build; ``assigned``: the split assignment kept
    beside the manifest (carried when it was made with the same split settings, whatever builds
    came between: one without splits, a file filtered out or removed for a while).
    """
    state = dict(previous_state or {})
    base = [reset(r) for r in rows]
    labelled, classes = apply_labels(base, settings.labels, state.get("classes"))
    filtered = apply_filters(labelled, settings.filters)
    deduped, groups = apply_dedupe(filtered, settings.dedupe, settings.near_distance)
    split_state = settings.split_state()
    carried: dict[tuple[str, str], str] = {}
    if split_state is not None and state.get("splits") == split_state:  # a manifest split before the assignment was kept
        carried = {key(r): r["split"] for r in previous_rows if r.get("split") is not None}
    if assigned is not None and split_state is not None:
        carried.update(assigned.for_state(split_state))
    final, conflicts = assign_splits(deduped, groups, settings.splits, settings.split_seed, carried)
    grown = None if split_state is None else (assigned or Assigned(split_state)).grown(split_state, final)
    new_state = {"format": STATE_FORMAT, "version": 1, "classes": classes, "splits": split_state}
    blind_spots = settings.dedupe != "off" or bool(settings.splits)
    kinds = Counter(r["warnings"][0]["type"] for r in final if left_out(r))
    report: dict[str, Any] = {
        "kept": sum(r.get("status") == "ok" for r in final),
        "filtered": {t: n for t, n in sorted(kinds.items()) if t not in ("duplicate", "needs-build")},
        "duplicates": kinds.get("duplicate", 0),
        "needs_build": kinds.get("needs-build", 0),  # left out by the probe under earlier filters, taken by today's
        "duplicate_groups": len(groups),
        # files with no content hash (built before the facts were recorded): dedupe and leakage cannot see them
        "unhashed": sum(in_dataset(r) and not r.get("content_hash") for r in filtered) if blind_spots else 0,
        "split_conflicts": [c.to_json() for c in conflicts],
    }
    if settings.splits:
        report["leakage"] = leakage_report(final, settings.near_distance, search=settings.dedupe != "near")
    return Curated(final, new_state, conflicts, report, grown)
