"""Picture grids from the build's outputs: a few samples per class, and the largest duplicate
groups with the kept file framed. Pictures, not charts: laid out and titled with Pillow on one
canvas, in the plots' font (an axes a thumbnail in matplotlib cost several times more). An output
that is missing or unreadable is a grey cell saying so (the card is still written).

As the plots, two steps: ``*_data(facts, output)`` lays the grid out (each cell's output file, its
title and frame, and what stands for the output's pixels: its size on disk and the source's content
hash and output settings that made it), :func:`grid_png` draws it."""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Any, Sequence

from ._digest import DIGEST_KEY
from ._facts import CardFacts, Row, image_output, label_of
from ._plots import PNG_LEVEL

__all__ = ["sample_data", "duplicate_data", "grid_png", "picks"]

THUMB = 150  # px, a cell's side
PAD, TITLE, LEFT, HEAD = 10, 16, 100, 34  # px: between cells, a cell's title, the row labels, the heading
KEPT = (44, 160, 44)  # matplotlib's tab:green

Data = dict[str, Any]


def picks(rows: Sequence[Row], n: int) -> list[Row]:
    """``n`` of ``rows``, in their order: those whose names hash lowest. A sample as good as any, and
    one that stays put as the dataset changes (a file added or left out changes the picks only when
    it is, or would be, one of them), so re-curating seldom has the grid to draw again."""
    if len(rows) <= n:
        return list(rows)
    import xxhash

    ranked = sorted(range(len(rows)), key=lambda i: (xxhash.xxh3_64_intdigest(_name(rows[i])), i))
    return [rows[i] for i in sorted(ranked[:n])]


def _name(row: Row) -> bytes:
    return str(row.get("source_b64") or row.get("source") or "").encode("utf-8", "surrogatepass")


def _cell(output: Path, row: Row, title: str, framed: bool) -> dict[str, Any]:
    """One cell of a grid: its output (None: no still image), title, frame, and what made the output."""
    name = image_output(row)
    try:
        size = os.stat(output / name).st_size if name is not None else None
    except OSError:  # missing or unreadable: a grey cell, until it is there again
        size = None
    made = [row.get("content_hash"), row.get("settings"), size]
    return {"output": name, "title": title, "framed": framed, "made": made}


def _thumb(output: Path, name: str | None) -> Any:
    from PIL import Image

    if name is None:
        return None
    try:
        with Image.open(output / name) as im:
            im.draft("RGB", (THUMB, THUMB))  # a JPEG decodes at a fraction of its size
            im = im.convert("RGB")
            scale = THUMB / max(im.size)  # fit the cell: small outputs (thumbnails) are enlarged too
            return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BICUBIC)
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=8)
def _font(size: int) -> Any:
    """The font matplotlib draws the plots with (DejaVu Sans, shipped with it), at ``size`` px."""
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def _short(name: str, n: int = 24) -> str:
    base = os.path.basename(str(name))
    return base if len(base) <= n else base[: n - 1] + "…"


def grid_png(data: Data, output: Path, digest: str) -> bytes:
    """Draw a grid laid out by :func:`sample_data` or :func:`duplicate_data`: thumbnails of the
    outputs named in it, read from ``output``."""
    from PIL import Image, ImageDraw, PngImagePlugin

    grid, row_labels, heading = data["rows"], data["labels"], data["heading"]
    cols = max(len(r) for r in grid)
    width = max(LEFT + cols * (THUMB + PAD) + PAD, 420)
    height = HEAD + len(grid) * (THUMB + TITLE + PAD) + PAD
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    texts: list[tuple[float, float, str, dict[str, Any]]] = [(width / 2, HEAD / 2, heading, {"fontsize": 12, "ha": "center"})]
    for i, (cells, label) in enumerate(zip(grid, row_labels)):
        top = HEAD + i * (THUMB + TITLE + PAD)
        texts.append((PAD, top + TITLE + THUMB / 2, label, {"fontsize": 9, "ha": "left"}))
        for j, cell in enumerate(cells):
            title, framed = cell["title"], cell["framed"]
            x, y = LEFT + PAD + j * (THUMB + PAD), top + TITLE
            thumb = _thumb(output, cell["output"])
            box = [x, y, x + THUMB - 1, y + THUMB - 1]
            if thumb is None:
                draw.rectangle(box, fill=(217, 217, 217))
                texts.append((x + THUMB / 2, y + THUMB / 2, "output\nmissing", {"fontsize": 8, "ha": "center"}))
            else:
                dx, dy = (THUMB - thumb.width) // 2, (THUMB - thumb.height) // 2
                canvas.paste(thumb, (x + dx, y + dy))
                box = [x + dx, y + dy, x + dx + thumb.width - 1, y + dy + thumb.height - 1]
            if framed:
                draw.rectangle([box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4], outline=KEPT, width=4)
            texts.append((x + THUMB / 2, top + TITLE / 2, title, {"fontsize": 8, "ha": "center"}))
    for tx, ty, text, kw in texts:
        font = _font(int(kw["fontsize"] * 1.4))  # points at 100 dpi -> pixels, as matplotlib draws them
        anchor = "mm" if kw["ha"] == "center" else "lm"
        draw.multiline_text((tx, ty), text, fill="black", font=font, anchor=anchor, align="center")
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text(DIGEST_KEY, digest)  # no other metadata: the same canvas, the same bytes
    canvas.save(buf, format="PNG", compress_level=PNG_LEVEL, pnginfo=info)
    return buf.getvalue()


def sample_data(facts: CardFacts, output: Path, per_class: int = 5, max_classes: int = 12) -> Data | None:
    """Up to ``per_class`` pictures of each class (the first ``max_classes`` classes), one row each."""
    classes = facts.labels[:max_classes] or [""]
    by_class: dict[str, list[Row]] = {c: [] for c in classes}
    for r in facts.samples:
        c = label_of(r)
        if c in by_class and image_output(r):
            by_class[c].append(r)
    rows = [picks(by_class[c], per_class) for c in classes]
    if not any(rows):
        return None
    grid = [[_cell(output, r, _short(r.get("source", "")), False) for r in rs] for rs in rows]
    shown = [(g, c or "(no label)") for g, c in zip(grid, classes) if g]
    heading = "Samples per class" if facts.labels else "Samples"
    return {"rows": [g for g, _ in shown], "labels": [c for _, c in shown], "heading": heading}


def duplicate_data(facts: CardFacts, output: Path, groups: int = 4, per_group: int = 5) -> Data | None:
    """The ``groups`` largest duplicate groups, one row each: the kept file (framed) then its copies."""
    chosen = facts.duplicate_groups[:groups]
    if not chosen:
        return None
    grid = []
    labels = []
    for kept, copies in chosen:
        members = [kept, *copies][:per_group]
        titles = [f"{'KEPT' if j == 0 else 'copy'}: {_short(r.get('source', ''), 18)}" for j, r in enumerate(members)]
        grid.append([_cell(output, r, t, j == 0) for j, (r, t) in enumerate(zip(members, titles))])
        more = len(copies) + 1 - len(members)
        labels.append(f"{len(copies) + 1} files" + (f"\n(+{more} more)" if more > 0 else ""))
    return {"rows": grid, "labels": labels, "heading": "Duplicate groups (kept file framed green)"}
