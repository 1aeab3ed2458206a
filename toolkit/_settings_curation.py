"""The curation keys of the settings registry: labels, captions, dedupe, filters, splits.

Curation settings decide which rows are in the dataset and what they say, never what an output
holds: none is part of the resume key (``Setting.output`` is False), so changing one redoes no file.
``filters`` is a table; its keys have flags of their own (:data:`TABLE_FLAGS`, ``--min-side``), and
``splits`` is given on the CLI one split at a time (``--split train=0.8``).
"""

from __future__ import annotations

from typing import Any

from ._curate import DEDUPE_MODES, LABEL_MODES, parse_setting as _curation
from ._errors import ConfigError
from ._settings_base import Setting
from ._sidecar import CAPTIONS

__all__ = ["CURATION_SETTINGS", "TABLE_FLAGS", "parse_split", "parse_split_flags"]


def _captions(key: str, v: Any) -> str:
    text = v.strip().lower() if isinstance(v, str) else v
    if text not in CAPTIONS:
        raise ConfigError(f"`{key}` must be one of {', '.join(CAPTIONS)}, not {v!r}")
    return text


CURATION_SETTINGS = (
    Setting("labels", _curation, "Labels from class folders: none, folder or parent.", "choice", choices=LABEL_MODES),
    Setting(
        "captions",
        _captions,
        "sidecar: photo.txt is photo.jpg's caption, photo.json its metadata; none: they are files of their own.",
        "choice",
        choices=CAPTIONS,
    ),
    Setting(
        "dedupe",
        _curation,
        "Duplicates: off, exact or near.",
        "choice",
        choices=DEDUPE_MODES,
        default_text="near with `splits`, else off",
    ),
    Setting("near_distance", _curation, "Near duplicates: the most phash bits that may differ (0-64).", "int"),
    Setting("filters", _curation, "Quality filters: a table of min_side, max_aspect, min_sharpness.", ""),
    Setting(
        "splits",
        _curation,
        "A split as name=fraction, e.g. train=0.8; repeat for each (the fractions sum to 1).",
        "split",
        flag="--split",
    ),
    Setting("split_seed", _curation, "Seed of the split assignment.", "int"),
)

#: the flags of ``filters``' keys: key -> (flag, how the flag reads a value, help)
TABLE_FLAGS: dict[str, tuple[str, str, str]] = {
    "min_side": ("--min-side", "int", "Filter: skip images whose short side is under N px."),
    "max_aspect": ("--max-aspect", "float", "Filter: skip images more elongated than this ratio."),
    "min_sharpness": ("--min-sharpness", "float", "Filter: skip images less sharp than this."),
}


def parse_split(text: str) -> tuple[str, float]:
    """``train=0.8`` -> ("train", 0.8); anything else a ConfigError naming `splits`."""
    name, _, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        pass
    raise ConfigError(f"`splits`: give each split as name=fraction (train=0.8), not {text!r}")


def parse_split_flags(texts: Any) -> dict[str, float]:
    """The fractions of ``--split`` flags (``train=0.8``, one flag a split); a name given twice is a
    ConfigError naming `splits`, not a silent override."""
    out: dict[str, float] = {}
    for text in texts:
        name, fraction = parse_split(text)
        if name in out:
            raise ConfigError(f"`splits`: {name!r} is given twice")
        out[name] = fraction
    return out
