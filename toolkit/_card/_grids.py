"""Picture grids from the build's outputs: a few samples per class, and the largest duplicate
groups with the kept file marked. An output that is missing or unreadable is a grey cell saying so
(the card is still written)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from ._facts import CardFacts, Row, image_output, label_of
from ._plots import figure, png

__all__ = ["sample_grid", "duplicate_grid", "picks"]

CELL = 1.7  # inches a picture
THUMB = 160  # px, the longest side a picture is drawn at


def picks(rows: Sequence[Row], n: int) -> list[Row]:
    """``n`` rows spread evenly over ``rows`` in the manifest's order (the same every build)."""
    if len(rows) <= n:
        return list(rows)
    return [rows[round(i * (len(rows) - 1) / (n - 1))] for i in range(n)] if n > 1 else [rows[0]]


def _pixels(output: Path, row: Row) -> Any:
    import numpy as np
    from PIL import Image

    name = image_output(row)
    if name is None:
        return None
    try:
        with Image.open(output / name) as im:
            im.draft("RGB", (THUMB, THUMB))  # a JPEG decodes at a fraction of its size
            im = im.convert("RGB")
            im.thumbnail((THUMB, THUMB))
            return np.asarray(im)
    except (OSError, ValueError):
        return None


def _cell(ax: Any, pixels: Any, title: str, *, colour: str | None = None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if pixels is None:
        ax.set_facecolor("0.85")
        ax.text(0.5, 0.5, "output\nmissing", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    else:
        ax.imshow(pixels)
    ax.set_title(title, fontsize=7)
    for side in ax.spines.values():
        side.set_edgecolor(colour or "0.7")
        side.set_linewidth(4 if colour else 0.5)


def _short(name: str, n: int = 22) -> str:
    base = os.path.basename(str(name))
    return base if len(base) <= n else base[: n - 1] + "…"


def sample_grid(facts: CardFacts, output: Path, per_class: int = 5, max_classes: int = 12) -> bytes | None:
    """Up to ``per_class`` pictures of each class (the first ``max_classes`` classes), one row each."""
    classes = facts.labels[:max_classes] or [""]
    rows = [[r for r in facts.samples if label_of(r) == c and image_output(r)] for c in classes]
    rows = [picks(rs, per_class) for rs in rows]
    if not any(rows):
        return None
    cols = max(len(rs) for rs in rows)
    fig = figure(CELL * cols + 0.8, CELL * len(classes) + 0.5)
    axes = fig.subplots(len(classes), cols, squeeze=False)
    for i, (c, rs) in enumerate(zip(classes, rows)):
        for j in range(cols):
            ax = axes[i][j]
            if j < len(rs):
                _cell(ax, _pixels(output, rs[j]), _short(rs[j].get("source", "")))
            else:
                ax.set_axis_off()
        axes[i][0].set_ylabel(c or "(no label)", fontsize=10)
    fig.suptitle("Samples per class" if facts.labels else "Samples")
    return png(fig)


def duplicate_grid(facts: CardFacts, output: Path, groups: int = 4, per_group: int = 5) -> bytes | None:
    """The ``groups`` largest duplicate groups, one row each: the kept file (green frame) then its copies."""
    chosen = facts.duplicate_groups[:groups]
    if not chosen:
        return None
    cols = min(per_group, max(len(c) + 1 for _, c in chosen))
    fig = figure(max(4.5, CELL * cols + 0.8), CELL * len(chosen) + 0.5)
    axes = fig.subplots(len(chosen), cols, squeeze=False)
    for i, (kept, copies) in enumerate(chosen):
        members = [kept, *copies][:cols]
        for j in range(cols):
            ax = axes[i][j]
            if j >= len(members):
                ax.set_axis_off()
                continue
            r = members[j]
            word = "KEPT" if j == 0 else "copy"
            _cell(ax, _pixels(output, r), f"{word}: {_short(r.get('source', ''))}", colour="tab:green" if j == 0 else None)
        more = len(copies) + 1 - len(members)
        axes[i][0].set_ylabel(f"{len(copies) + 1} files" + (f" (+{more})" if more > 0 else ""), fontsize=9)
    fig.suptitle("Duplicate groups (kept: green)")
    return png(fig)
