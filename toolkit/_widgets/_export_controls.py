"""The panel's export controls: a checkbox per export (the `exports` setting) and the card's source and licence.

Which exports exist comes from the settings registry (``toolkit._settings_export.EXPORTS``); each
checkbox's label is the name users read ("WebDataset shards"), and how the panel names the
`exports` key in messages is "Exports". Unlike curation, a change does not redo anything by
itself: the next build writes the exports checked (without redoing any file: exports are not part
of the resume key).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from .._config import BuildConfig
from .._settings import SETTINGS
from .._settings_export import EXPORTS

__all__ = ["ExportControls", "EXPORT_CONTROL_KEYS", "EXPORT_LABELS"]

#: the export keys the panel has controls for
EXPORT_CONTROL_KEYS = ("exports", "card_source", "card_license")
#: each export as the panel's checkbox names it
EXPORT_LABELS = {
    "webdataset": "WebDataset shards",
    "imagefolder": "HF imagefolder",
    "parquet": "Parquet shards",
}
_TIPS = {
    "webdataset": "OUT/webdataset/{split}-000000.tar: image, .cls, .txt, .json per sample; read by webdataset and datasets.",
    "imagefolder": "OUT/imagefolder/{split}/{label}/... with metadata.jsonl: load_dataset('imagefolder'), torchvision ImageFolder.",
    "parquet": "OUT/parquet/{split}-00000.parquet with the image and HF features: datasets, pyarrow, DuckDB, polars.",
}


class ExportControls:
    """The export widgets, built from a validated config; ``settings()`` reads them back."""

    def __init__(self, base: BuildConfig) -> None:
        st, half = {"description_width": "150px"}, W.Layout(width="300px")
        self.checks = {
            name: W.Checkbox(
                value=name in base.exports,
                description=EXPORT_LABELS.get(name, name),
                tooltip=_TIPS.get(name, ""),
                indent=False,
                layout=W.Layout(width="180px"),
            )
            for name in EXPORTS
        }
        self.card_source = W.Text(
            value=base.card_source or "", description="Card: source", placeholder="unknown", style=st, layout=half
        )
        self.card_license = W.Text(
            value=base.card_license or "", description="Card: licence", placeholder="unknown", style=st, layout=half
        )
        for key in ("card_source", "card_license"):
            getattr(self, key).tooltip = SETTINGS[key].help.replace("`", "")

    @property
    def widgets(self) -> list[W.Widget]:
        return [*self.checks.values(), self.card_source, self.card_license]

    @property
    def names(self) -> dict[str, str]:
        """Setting key -> the label of its control, for messages."""
        return {"exports": "Exports", "card_source": "Card: source", "card_license": "Card: licence"}

    def box(self) -> W.VBox:
        note = "<span style='font-size:12px;color:#555'>(written after curation; the card, OUT/README.md, always)</span>"
        return W.VBox(
            [
                W.HTML(f"<b>Exports</b> {note}"),
                W.HBox(list(self.checks.values())),
                W.HBox([self.card_source, self.card_license]),
            ],
            layout=W.Layout(border="1px solid #ddd", padding="4px", margin="4px 0"),
        ).add_class("dp-export-controls")

    def settings(self) -> dict[str, Any]:
        """The export keys as keyword settings: the exports checked, in the registry's order."""
        return {
            "exports": [name for name, box in self.checks.items() if box.value],
            "card_source": self.card_source.value.strip() or None,
            "card_license": self.card_license.value.strip() or None,
        }
