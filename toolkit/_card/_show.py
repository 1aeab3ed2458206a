"""The card's pictures in a notebook: the same PNGs the build wrote to ``OUT/card/``."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from ._prose import TITLES
from ._write import CARD_DIR, PICTURES, README

__all__ = ["show", "card_pictures", "card_html"]


def card_pictures(output: str | os.PathLike) -> list[tuple[str, Path]]:
    """(title, path) of each picture the card of ``output`` has, in the card's order."""
    folder = Path(output) / CARD_DIR
    return [(TITLES[n], folder / f"{n}.png") for n in PICTURES if (folder / f"{n}.png").is_file()]


def card_html(output: str | os.PathLike) -> str:
    """The pictures as one HTML fragment (PNG data inline): for the panel and the notebook report."""
    parts = []
    for title, path in card_pictures(output):
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(
            f'<figure style="margin:0 0 1em 0"><figcaption><b>{html.escape(title)}</b></figcaption>'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(title)}" style="max-width:100%"></figure>'
        )
    if not parts:
        readme = Path(output) / README
        why = "its card has no pictures" if readme.is_file() else "it has no dataset card (README.md) yet"
        parts.append(f"<p>{html.escape(str(output))}: {why}.</p>")
    return "<div class='dataprep-card'>" + "".join(parts) + "</div>"


def show(output: str | os.PathLike) -> Any:
    """The card's pictures for a notebook: an ipywidgets box of titled images where ipywidgets is
    installed, else an ``IPython.display.HTML`` (either shows itself as a cell's last value)."""
    try:
        import ipywidgets as w
    except ImportError:
        from IPython.display import HTML

        return HTML(card_html(output))
    items = [
        w.VBox([w.HTML(f"<b>{html.escape(t)}</b>"), w.Image(value=p.read_bytes(), format="png")])
        for t, p in card_pictures(output)
    ]
    if not items:
        return w.HTML(card_html(output))
    return w.VBox(items)
