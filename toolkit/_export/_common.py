"""What every export shares: which split a sample is in, the class names, safe folder names."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from .._names import utf8_name

__all__ = ["Row", "DEFAULT_SPLIT", "sample_split", "class_names", "safe_name"]

Row = dict[str, Any]
#: the split of every sample of a build without ``splits`` (one split, as HF names a lone one)
DEFAULT_SPLIT = "train"


def sample_split(row: Row) -> str:
    return row.get("split") or DEFAULT_SPLIT


def class_names(output: str | os.PathLike, rows: Iterable[Row]) -> list[str] | None:
    """The class names by number (curation.json's frozen class index), or None without labels."""
    rows = list(rows)
    if not any(r.get("label") is not None for r in rows):
        return None
    try:
        doc = json.loads((Path(output) / "curation.json").read_text(encoding="utf-8"))
        names = doc["classes"]["classes"]
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return names
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return sorted({str(r["label"]) for r in rows if r.get("label") is not None})


def safe_name(label: str) -> str:
    """A folder name for a label: its exact text where a disk can hold it (bytes that are not
    UTF-8 as %XX, a leading dot, '/' and NUL escaped too), so odd names stay readable."""
    text = utf8_name(label.replace("%", "%25")).replace("/", "%2F").replace("\0", "%00")
    if text.startswith(".") or not text:
        text = "%2E" + text[1:] if text else "%00"
    return text
