"""The card's plots, drawn with matplotlib (Agg, no display): files per label and split, image
sizes, sharpness. Each plot is two steps: ``*_data(facts)`` picks exactly what it draws (plain
lists and numbers, or None when there is nothing to draw), ``*_plot(data, output, digest)`` draws that
alone (reading no file: ``output`` is there for the grids' sake) into PNG bytes (:mod:`toolkit._card._digest`: the digest of the data, kept in the PNG, is
how a picture that would come out the same is not drawn again). The PNGs are byte-for-byte the
same for the same data (no software or date field in their metadata)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from ._digest import DIGEST_KEY
from ._facts import CardFacts, label_of, split_of

__all__ = ["figure", "png", "PNG_LEVEL", "PNG_METADATA"]
__all__ += ["label_data", "label_plot", "size_data", "size_plot", "sharpness_data", "sharpness_plot"]

#: no "Software" (the matplotlib version) and no date: the same figure is the same bytes
PNG_METADATA: dict[str, Any] = {"Software": None}
#: zlib level of the PNGs: 3 compresses these about as well as the default 6, in half the time
PNG_LEVEL = 3
#: the most files the size scatter plots (a histogram counts them all)
MAX_POINTS = 20_000
Data = dict[str, Any]


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


def png(fig: Any, digest: str) -> bytes:
    buf = io.BytesIO()
    meta = {**PNG_METADATA, DIGEST_KEY: digest}
    fig.savefig(buf, format="png", metadata=meta, pil_kwargs={"compress_level": PNG_LEVEL})
    return buf.getvalue()


def _bins(n: int) -> int:
    return min(30, max(5, n // 4))


def stacked_hist(ax: Any, values: list[list[float]], labels: list[str | None], colors: list[str]) -> None:
    """Histograms of ``values`` stacked, on bins shared by all, as ``ax.hist(stacked=True)`` draws
    them, but each a single filled step outline rather than a bar per bin: the same picture, drawn in
    half the time (a bar is an artist: thirty bins of ten classes were three hundred)."""
    import numpy as np

    arrays = [np.asarray(v, dtype=float) for v in values]
    edges = np.histogram_bin_edges(np.concatenate(arrays), _bins(sum(len(a) for a in arrays)))
    bottom = np.zeros(len(edges) - 1)
    for a, label, color in zip(arrays, labels, colors):
        top = bottom + np.histogram(a, edges)[0]
        ax.stairs(top, edges, baseline=bottom, fill=True, color=color, label=label)
        bottom = top


def label_data(facts: CardFacts) -> Data | None:
    if not facts.samples:
        return None
    labels = facts.labels or [""]
    counts = {s: [facts.table[s].get(lb, 0) for lb in labels] for s in facts.splits}
    return {"names": [lb or "(no label)" for lb in labels], "splits": list(facts.splits), "counts": counts}


def label_plot(data: Data, output: Path, digest: str) -> bytes:
    names = data["names"]
    fig = figure(max(5.0, 0.5 * len(names) + 3), 3.6, left=0.12, right=0.97, top=0.9, bottom=0.3 if len(names) > 8 else 0.15)
    ax = fig.add_subplot()
    bottom = [0] * len(names)
    for s in data["splits"]:
        counts = data["counts"][s]
        ax.bar(names, counts, bottom=bottom, label=s)
        bottom = [a + b for a, b in zip(bottom, counts)]
    ax.set_title("Files per label, by split")
    ax.set_xlabel("label")
    ax.set_ylabel("files")
    whole_counts(ax)
    ax.legend(title="split")
    if len(names) > 8:
        ax.tick_params(axis="x", labelrotation=60)
    return png(fig, digest)


def size_data(facts: CardFacts) -> Data | None:
    rows = [r for r in facts.samples if r.get("width") and r.get("height")]
    if not rows:
        return None
    step = -(-len(rows) // MAX_POINTS)  # every step-th file: a scatter of a million points says no more
    points: dict[str, list[list[int]]] = {s: [] for s in facts.splits}
    for r in rows[::step]:
        points.setdefault(split_of(r), []).append([r["width"], r["height"]])
    return {
        "splits": list(facts.splits),
        "points": {s: points[s] for s in facts.splits},
        "step": step,
        "short": [min(r["width"], r["height"]) for r in rows],
        "min_side": (facts.settings.get("filters") or {}).get("min_side"),
    }


def size_plot(data: Data, output: Path, digest: str) -> bytes:
    fig = figure(9.0, 3.6, left=0.08, right=0.98, top=0.9, bottom=0.15, wspace=0.25)
    ax, hist = fig.subplots(1, 2)
    step = data["step"]
    for s in data["splits"]:
        mine = data["points"][s]
        ax.scatter([p[0] for p in mine], [p[1] for p in mine], s=12, alpha=0.6, label=s)
    ax.set_title("Image sizes (inputs, as displayed)" + (f", every {step}th file" if step > 1 else ""))
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.legend(title="split")
    stacked_hist(hist, [data["short"]], [None], ["tab:gray"])
    floor = data["min_side"]
    if floor is not None:  # what was under it is not in the dataset: the line says where the cut was
        hist.axvline(float(floor), color="black", linestyle="--", label=f"min_side {floor}")
        hist.legend()
    hist.set_title("Short side")
    hist.set_xlabel("short side (px)")
    hist.set_ylabel("files")
    whole_counts(hist)
    return png(fig, digest)


def sharpness_data(facts: CardFacts) -> Data | None:
    groups: dict[str, list[float]] = {}
    for r in facts.samples:
        v = r.get("sharpness")
        if isinstance(v, (int, float)) and math.isfinite(v):
            groups.setdefault(label_of(r), []).append(float(v))
    if not groups:
        return None
    names = sorted(groups)
    return {
        "groups": names,
        "values": [groups[g] for g in names],
        "min_sharpness": (facts.settings.get("filters") or {}).get("min_sharpness"),
    }


def sharpness_plot(data: Data, output: Path, digest: str) -> bytes:
    fig = figure(6.0, 3.6, left=0.12, right=0.97, top=0.9, bottom=0.15)
    ax = fig.add_subplot()
    groups = data["groups"]
    stacked_hist(ax, data["values"], [g or "(no label)" for g in groups], [f"C{i % 10}" for i in range(len(groups))])
    floor = data["min_sharpness"]
    if floor is not None:
        ax.axvline(float(floor), color="black", linestyle="--", label=f"min_sharpness {floor}")
    ax.set_title("Sharpness (variance of the Laplacian)")
    ax.set_xlabel("sharpness")
    ax.set_ylabel("files")
    whole_counts(ax)
    if len(groups) > 1 or floor is not None:
        ax.legend(title="label" if len(groups) > 1 else None)
    return png(fig, digest)
