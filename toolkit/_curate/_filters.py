"""Quality filters over the facts already in each row: no pixel is looked at again.

``min_side`` compares the short side of the *upright* picture (the row's width and height are as
displayed, after EXIF orientation), ``max_aspect`` long side / short side, ``min_sharpness`` the
worker's sharpness figure (off by default: what counts as blurry depends on the data). A row that
fails is ``skipped`` with one warning per failed filter, typed ``too-small``, ``aspect`` or
``blurry`` (the first one is the reason shown), its facts and outputs kept. The build's probe
asks :meth:`Filters.reasons` too, with the header's size, and never decodes a file it rules out
(``toolkit._probe.probe_filter``). Only rows in the dataset, and the probe's, are judged; a row lacking the fact a filter needs (a manifest older than the fact) passes
that filter rather than being dropped for what was never measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .._errors import ConfigError
from ._rows import PROBE_FILTERED, Row, in_dataset, skip

__all__ = ["Filters", "apply_filters"]


@dataclass(frozen=True)
class Filters:
    min_side: int | None = None
    max_aspect: float | None = None
    min_sharpness: float | None = None

    @classmethod
    def from_settings(cls, table: Mapping[str, Any] | None) -> "Filters":
        """From the ``[filters]`` table; an unknown key or a value that cannot work is a ConfigError
        naming it (``filters.min_side`` ...)."""
        table = dict(table or {})
        unknown = sorted(set(table) - {"min_side", "max_aspect", "min_sharpness"})
        if unknown:
            raise ConfigError(f"`filters` has no key {unknown[0]!r} (known: min_side, max_aspect, min_sharpness)")
        return cls(
            min_side=_number(table, "min_side", 1, integer=True),
            max_aspect=_number(table, "max_aspect", 1.0),
            min_sharpness=_number(table, "min_sharpness", 0.0),
        )

    def reasons(self, row: Row) -> list[tuple[str, str]]:
        """(type, message) for each filter this row fails, in the order min_side, aspect, sharpness."""
        out = []
        w, h, name = row.get("width"), row.get("height"), row.get("source", "")
        if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
            if self.min_side is not None and min(w, h) < self.min_side:
                out.append(("too-small", f"{name} is {w}x{h} px, its short side under `min_side` = {self.min_side}"))
            if self.max_aspect is not None and max(w, h) / min(w, h) > self.max_aspect:
                out.append(("aspect", f"{name} is {w}x{h} px, more elongated than `max_aspect` = {self.max_aspect:g}"))
        sharp = row.get("sharpness")
        if self.min_sharpness is not None and isinstance(sharp, (int, float)) and sharp < self.min_sharpness:
            out.append(("blurry", f"{name} has sharpness {sharp:.4g}, under `min_sharpness` = {self.min_sharpness:g}"))
        return out


def _number(table: Mapping[str, Any], name: str, least: float, *, integer: bool = False) -> Any:
    v = table.get(name)
    if v is None:
        return None
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or not math.isfinite(v) or v < least:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"`filters.{name}` must be {kind} >= {least:g}, not {v!r}")
    return v


def apply_filters(rows: Sequence[Row], filters: Filters) -> list[Row]:
    """Rows with those that fail a filter skipped (copies; the others as they are). A row the
    probe left out for its size is judged again: its reasons as today's filters give them, or,
    when they no longer rule it out, ``needs-build`` (it was never decoded: only a build adds it)."""
    return [skip(r, filters.reasons(r)) if in_dataset(r) else _probed(r, filters) if r.get(PROBE_FILTERED) else r for r in rows]


def _probed(row: Row, filters: Filters) -> Row:
    name = row.get("source", "")
    return skip(
        row,
        filters.reasons(row)
        or [("needs-build", f"{name} has no outputs: earlier `filters` ruled it out before decoding; build again to add it")],
    )
