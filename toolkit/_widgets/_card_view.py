"""The dataset card in the panel: the pictures the build drew in ``OUT/card/`` and where its README.md is.

Shown under the curation view after a build (and redrawn after a re-curation, which rewrites the
card); the same pictures as ``toolkit.show_card(output)`` and ``toolkit.report(output)`` show.
"""

from __future__ import annotations

import html
import os

from .._card import README, card_html
from .._fs import path_text, printable

__all__ = ["card_view_html"]

#: the pictures side by side, each at most 440 px wide (the panel is narrower than a notebook's report)
_STYLE = (
    "<style>.dp-card .dataprep-card{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px}"
    ".dp-card .dataprep-card figure{max-width:440px;margin:0}</style>"
)


def card_view_html(output: str, *, open_: bool = True) -> str:
    """A collapsible "Dataset card" section for the build in ``output``; "" when it has no card."""
    readme = os.path.join(output, README)
    if not os.path.isfile(readme):
        return ""
    where = html.escape(printable(path_text(os.path.abspath(readme))))
    return (
        f"<details class='dp-card'{' open' if open_ else ''}><summary><b>Dataset card</b> "
        f"<span style='font-size:12px;color:#555'>(<code class='dp-card-readme'>{where}</code>, "
        "pictures in card/)</span></summary>"
        f"{_STYLE}{card_html(output)}</details>"
    )
