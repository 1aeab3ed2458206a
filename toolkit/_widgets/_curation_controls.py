"""The panel's curation controls: labels, captions, filters, dedupe and splits, read back as settings.

Which controls exist and their choices come from the settings registry (``toolkit._settings``):
a key the registry does not know (``captions`` before the sidecar setting exists) has no control.
Each control's description is how the panel names its key in messages (`` `filters.min_side` ``
reads "Min side (px)"). Values are checked by the registry's parsers, as for every other control;
the splits box, a text like ``train=0.8, val=0.1, test=0.1``, says beside it what is wrong with it.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import ipywidgets as W

from .._config import BuildConfig
from .._errors import ConfigError
from .._settings import SETTINGS

__all__ = ["CurationControls", "CURATION_CONTROL_KEYS", "parse_splits_text", "splits_text"]

#: the curation keys the panel has controls for, in the order they are read back
CURATION_CONTROL_KEYS = ("labels", "captions", "dedupe", "near_distance", "filters", "splits", "split_seed")
FILTERS = {"min_side": "Min side (px)", "max_aspect": "Max aspect", "min_sharpness": "Min sharpness"}
FILTER_HELP = {
    "min_side": "Skip images whose short side is under this many pixels (too-small). Empty: off.",
    "max_aspect": "Skip images whose long side / short side is above this (aspect). Empty: off.",
    "min_sharpness": "Skip images whose sharpness is under this (blurry). Empty: off.",
}
_AUTO = "auto"  # near when splits are asked for, else off
_PIECE = re.compile(r"\s*([^=,;\s]*)\s*=\s*([^,;]*?)\s*")


def number_text(v: float) -> str:
    """A number as a box shows it: short (``0.8``, ``64``), yet reading back exactly."""
    short = f"{v:g}"
    return short if float(short) == v else repr(v)


def splits_text(splits: dict[str, float]) -> str:
    """``{"train": 0.8, "test": 0.2}`` as the splits box shows it: ``train=0.8, test=0.2``."""
    return ", ".join(f"{name}={number_text(p)}" for name, p in splits.items())


def parse_splits_text(text: str) -> dict[str, float]:
    """``"train=0.8, val=0.1, test=0.1"`` (commas or semicolons) -> the checked fractions, by the
    registry's parser; empty: no splits. A ConfigError naming `splits` otherwise."""
    table: dict[str, Any] = {}
    for piece in filter(str.strip, re.split(r"[,;]", text)):
        m = _PIECE.fullmatch(piece)
        if not m or not m.group(1):
            raise ConfigError(
                f"`splits`: give each split as name=fraction, separated by commas (train=0.8, test=0.2), not {piece.strip()!r}"
            )
        name, value = m.groups()
        if name in table:
            raise ConfigError(f"`splits`: {name!r} is given twice")
        try:
            table[name] = float(value)
        except ValueError:
            raise ConfigError(f"`splits`: the fraction of {name!r} must be a number like 0.8, not {value!r}") from None
    return dict(SETTINGS["splits"].parse("splits", table))


def _read_number(text: str) -> Any:
    """A filter box's text: empty -> None (off), a number as a number (``64`` an int), else the text
    itself (the registry's parser names the key and says what it expects)."""
    t = text.strip()
    for kind in (int, float):
        try:
            return kind(t) if t else None
        except ValueError:
            pass
    return t


class CurationControls:
    """The curation widgets, built from a validated config; ``settings()`` reads them back."""

    def __init__(self, base: BuildConfig) -> None:
        st, half = {"description_width": "150px"}, W.Layout(width="300px")
        self.keys = tuple(k for k in CURATION_CONTROL_KEYS if k in SETTINGS)
        self.labels = W.Dropdown(options=self._choices("labels"), value=base.labels, description="Labels", style=st, layout=half)
        self.captions: W.Dropdown | None = None
        if "captions" in self.keys:  # the sidecar setting (issue 15's front end): a control once the registry has it
            value = getattr(base, "captions", None) or "none"
            self.captions = W.Dropdown(
                options=self._choices("captions") or ("none", "sidecar"),
                value=value,
                description="Captions",
                style=st,
                layout=half,
            )
        dedupe = [(_AUTO, "auto"), *((m, m) for m in self._choices("dedupe"))]
        self.dedupe = W.Dropdown(options=dedupe, value=base.dedupe or "auto", description="Duplicates", style=st, layout=half)
        self.near_distance = W.BoundedIntText(
            value=base.near_distance, min=0, max=64, description="Near distance (bits)", style=st, layout=half
        )
        boxes = {}
        for key, label in FILTERS.items():
            v = base.filters.get(key)
            boxes[key] = W.Text(
                value="" if v is None else number_text(v), description=label, placeholder="off", style=st, layout=half
            )
        self.min_side, self.max_aspect, self.min_sharpness = boxes["min_side"], boxes["max_aspect"], boxes["min_sharpness"]
        self.splits = W.Text(
            value=splits_text(base.splits),
            description="Splits",
            placeholder="train=0.8, val=0.1, test=0.1 (empty: no splits)",
            style=st,
            layout=W.Layout(width="560px"),
        )
        self.splits_error = W.HTML("")
        self.split_seed = W.IntText(value=base.split_seed, description="Split seed", style=st, layout=half)
        self.curation_error = W.HTML("")
        for key in self.keys:  # each control's tooltip: the registry's help (and its default, where it needs words)
            if key != "filters":
                help_, default = SETTINGS[key].help, SETTINGS[key].default_text
                getattr(self, key).tooltip = (help_ + (f" Default: {default}." if default else "")).replace("`", "")
        for key, text in FILTER_HELP.items():
            getattr(self, key).tooltip = text
        self.splits.tooltip = "Split names and fractions summing to 1, e.g. train=0.8, val=0.1, test=0.1. Empty: no splits."

    def _choices(self, key: str) -> tuple[str, ...]:
        return tuple(c for c in SETTINGS[key].choices) if key in SETTINGS else ()

    @property
    def widgets(self) -> list[W.Widget]:
        """Every control whose change is a change of a curation setting."""
        found = [self.labels, self.captions, self.dedupe, self.near_distance, self.min_side, self.max_aspect]
        return [w for w in (*found, self.min_sharpness, self.splits, self.split_seed) if w is not None]

    @property
    def names(self) -> dict[str, str]:
        """Setting key -> the label of its control (``filters.min_side`` -> "Min side (px)")."""
        out = {k: str(getattr(self, k).description) for k in self.keys if k != "filters"}
        out["filters"] = "Filters"
        out.update({f"filters.{k}": label for k, label in FILTERS.items()})
        return out

    def box(self) -> W.VBox:
        return W.VBox(
            [
                W.HTML(
                    "<b>Curation</b> <span style='font-size:12px;color:#555'>(after a build, changing these "
                    "re-curates it in seconds: nothing is decoded again)</span>"
                ),
                W.HBox([self.labels] + ([self.captions] if self.captions is not None else [])),
                W.HBox([self.dedupe, self.near_distance]),
                W.HBox([self.min_side, self.max_aspect]),
                W.HBox([self.min_sharpness, self.split_seed]),
                W.HBox([self.splits, self.splits_error]),
                self.curation_error,
            ],
            layout=W.Layout(border="1px solid #ddd", padding="4px", margin="4px 0"),
        ).add_class("dp-curation-controls")

    def settings(self) -> dict[str, Any]:
        """The curation keys as keyword settings (not yet validated; a splits text that reads as no
        table of fractions is a ConfigError naming `splits`)."""
        s: dict[str, Any] = {"labels": self.labels.value}
        if self.captions is not None:
            s["captions"] = self.captions.value
        s["dedupe"] = None if self.dedupe.value == "auto" else self.dedupe.value
        s["near_distance"] = int(self.near_distance.value)
        filters = {k: _read_number(getattr(self, k).value) for k in FILTERS}
        s["filters"] = {k: v for k, v in filters.items() if v is not None}
        s["splits"] = parse_splits_text(self.splits.value)
        s["split_seed"] = int(self.split_seed.value)
        return s

    def show_settings(self, settings: dict[str, Any]) -> None:
        """Set the controls to these curation settings (as a config holds them; keys absent stay)."""
        if "labels" in settings:
            self.labels.value = settings["labels"]
        if "captions" in settings and self.captions is not None:
            self.captions.value = settings["captions"] or "none"
        if "dedupe" in settings:
            self.dedupe.value = settings["dedupe"] or "auto"
        if "near_distance" in settings:
            self.near_distance.value = settings["near_distance"]
        if "filters" in settings:
            for key in FILTERS:
                v = (settings["filters"] or {}).get(key)
                getattr(self, key).value = "" if v is None else number_text(v)
        if "splits" in settings:
            self.splits.value = splits_text(settings["splits"] or {})
        if "split_seed" in settings:
            self.split_seed.value = settings["split_seed"]

    def check_splits(self, said: Callable[[str], str] | None = None) -> bool:
        """Check the splits box now and say beside it what is wrong (``said``: a message as HTML)."""
        try:
            parse_splits_text(self.splits.value)
        except ConfigError as exc:
            text = said(str(exc)) if said else str(exc)
            self.splits_error.value = f"<span class='dp-splits-error' style='color:#c00;font-size:12px'>{text}</span>"
            return False
        self.splits_error.value = ""
        return True

    def show_error(self, message_html: str) -> None:
        """Why the curation settings cannot work (escaped already), or nothing (``""``)."""
        self.curation_error.value = (
            f"<span class='dp-curation-error' style='color:#c00;font-size:12px'>{message_html}</span>" if message_html else ""
        )
