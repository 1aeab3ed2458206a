"""The card's plots, drawn with matplotlib (Agg, no display): files per label and split, image
sizes, sharpness. Each returns PNG bytes, or None when there is nothing to draw. The PNGs are
byte-for-byte the same for the same rows (no software or date field in their metadata)."""

from __future__ import annotations

import io
from typing import Any

from ._facts import CardFacts, label_of, split_of

__all__ = ["figure", "png", "PNG_LEVEL", "label_plot", "size_plot", "sharpness_plot", "PNG_METADATA"]

#: no "Software" (the matplotlib version) and no date: the same figure is the same bytes
PNG_METADATA: dict[str, Any] = {"Software": None}
#: zlib level of the PNGs: 3 compresses these about as well as the default 6, in half the time
PNG_LEVEL = 3
#: the most files the size scatter plots (a histogram counts them all)
MAX_POINTS = 20_000


def figure(width: float, height: float, **margins: float) -> Any:
    """A figure not tied to pyplot (no global state: safe in a worker's threads), its margins set
    by hand (``left``, ``bottom`` ... as fractions): a layout engine would draw it twice more."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    if margins:
        fig.subplots_adjust(**margins)
    return fig


def whole_counts(ax: Any) -> None:
    """A count axis ticks whole numbers only."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata=PNG_METADATA, pil_kwargs={"compress_level": PNG_LEVEL})
    return buf.getvalue()


def label_plot(facts: CardFacts) -> bytes | None:
    if not facts.samples:
        return None
    labels = facts.labels or [""]
    names = [lb or "(no label)" for lb in labels]
    fig = figure(max(5.0, 0.5 * len(labels) + 3), 3.6, left=0.12, right=0.97, top=0.9, bottom=0.3 if len(labels) > 8 else 0.15)
    ax = fig.add_subplot()
    bottom = [0] * len(labels)
    for s in facts.splits:
        counts = [facts.table[s].get(lb, 0) for lb in labels]
        ax.bar(names, counts, bottom=bottom, label=s)
        bottom = [a + b for a, b in zip(bottom, counts)]
    ax.set_title("Files per label, by split")
    ax.set_xlabel("label")
    ax.set_ylabel("files")
    whole_counts(ax)
    ax.legend(title="split")
    if len(labels) > 8:
        ax.tick_params(axis="x", labelrotation=60)
    return png(fig)


def size_plot(facts: CardFacts) -> bytes | None:
    rows = [r for r in facts.samples if r.get("width") and r.get("height")]
    if not rows:
        return None
    fig = figure(9.0, 3.6, left=0.08, right=0.98, top=0.9, bottom=0.15, wspace=0.25)
    ax, hist = fig.subplots(1, 2)
    step = -(-len(rows) // MAX_POINTS)  # every step-th file: a scatter of a million points says no more
    for s in facts.splits:
        mine = [r for r in rows[::step] if split_of(r) == s]
        ax.scatter([r["width"] for r in mine], [r["height"] for r in mine], s=12, alpha=0.6, label=s)
    ax.set_title("Image sizes (inputs, as displayed)" + (f", every {step}th file" if step > 1 else ""))
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.legend(title="split")
    hist.hist([min(r["width"], r["height"]) for r in rows], bins=min(30, max(5, len(rows) // 4)), color="tab:gray")
    floor = (facts.settings.get("filters") or {}).get("min_side")
    if floor is not None:  # what was under it is not in the dataset: the line says where the cut was
        hist.axvline(float(floor), color="black", linestyle="--", label=f"min_side {floor}")
        hist.legend()
    hist.set_title("Short side")
    hist.set_xlabel("short side (px)")
    hist.set_ylabel("files")
    whole_counts(hist)
    return png(fig)


def sharpness_plot(facts: CardFacts) -> bytes | None:
    rows = [r for r in facts.samples if isinstance(r.get("sharpness"), (int, float))]
    if not rows:
        return None
    fig = figure(6.0, 3.6, left=0.12, right=0.97, top=0.9, bottom=0.15)
    ax = fig.add_subplot()
    groups = sorted({label_of(r) for r in rows})
    data = [[float(r["sharpness"]) for r in rows if label_of(r) == g] for g in groups]
    ax.hist(data, bins=min(30, max(5, len(rows) // 4)), stacked=True, label=[g or "(no label)" for g in groups])
    floor = (facts.settings.get("filters") or {}).get("min_sharpness")
    if floor is not None:
        ax.axvline(float(floor), color="black", linestyle="--", label=f"min_sharpness {floor}")
    ax.set_title("Sharpness (variance of the Laplacian)")
    ax.set_xlabel("sharpness")
    ax.set_ylabel("files")
    whole_counts(ax)
    if len(groups) > 1 or floor is not None:
        ax.legend(title="label" if len(groups) > 1 else None)
    return png(fig)
