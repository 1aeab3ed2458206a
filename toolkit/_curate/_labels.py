"""Labels from folders, and the class index that gives each label a number for good.

``folder``: a file's first folder under its input root (torchvision's ``ImageFolder``: ``cat/x.jpg``
and ``cat/indoor/y.jpg`` are both ``cat``). ``parent``: its immediate folder (``indoor`` for y).
The label is the folder's exact text (odd characters included); a safe name on disk is the
exporters' business. A file directly in its input root has no label (``None``), as ImageFolder
ignores it; asking for labels where *no* file has a folder is a settings error naming `labels`.

The class index is frozen once written: on the first build the sorted names get 0..n-1, later a
new name gets the next free number, and no number is ever reused or changed (a class whose files
are gone keeps its number), so models and shards made earlier keep their meaning. Another
``labels`` mode is another labelling: the index starts afresh.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from .._errors import ConfigError
from ._rows import Row

__all__ = ["LABEL_MODES", "label_of", "check_label_mode", "check_labels", "class_index", "apply_labels"]

LABEL_MODES = ("none", "folder", "parent")
INDEX_FORMAT = "dataprep-classes"


def label_of(source: str, mode: str) -> str | None:
    """The label of the file at ``source`` ('/'-separated, relative to its input root)."""
    parts = source.split("/")[:-1]
    if mode == "none" or not parts:
        return None
    return parts[0] if mode == "folder" else parts[-1]


def check_label_mode(mode: str) -> None:
    if mode not in LABEL_MODES:
        raise ConfigError(f"`labels` must be one of {', '.join(LABEL_MODES)}, not {mode!r}")


def check_labels(mode: str, sources: Iterable[str]) -> None:
    """Raise ConfigError naming `labels` for a mode that is not one, or labels on a flat folder."""
    check_label_mode(mode)
    if mode != "none" and not any("/" in s for s in sources):
        raise ConfigError(f"`labels` = {mode!r} needs class folders, but no input file is in a folder")


def class_index(names: Iterable[str], mode: str, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The class index document for these label names: ``{"format", "version", "labels": mode,
    "classes": [name, ...]}``, a class's number being its position. ``previous`` (the document an
    earlier build wrote, or None) is kept as it is and new names are appended in sorted order.
    A build with ``labels = "none"`` keeps the previous index untouched (:func:`apply_labels`), so
    turning labels off and on again never renumbers the classes."""
    old: list[str] = []
    if previous and previous.get("format") == INDEX_FORMAT and previous.get("labels") == mode:
        old = [c for c in previous.get("classes") or () if isinstance(c, str)]
    known = set(old)
    return {
        "format": INDEX_FORMAT,
        "version": 1,
        "labels": mode,
        "classes": old + sorted({n for n in names if n not in known}),
    }


def apply_labels(
    rows: Sequence[Row], mode: str, previous_index: dict[str, Any] | None = None
) -> tuple[list[Row], dict[str, Any]]:
    """-> (rows with ``label`` and ``label_index``, the class index to write beside the manifest).

    Every row gets its label (failed and skipped ones too: the label is a fact of the path, and
    the reports count left-out files by class). With ``mode="none"`` rows are returned as they are.
    """
    check_labels(mode, (r.get("source", "") for r in rows))
    if mode == "none":  # labels off for now: the frozen index is kept for when they come back
        if previous_index and previous_index.get("format") == INDEX_FORMAT and previous_index.get("labels") != "none":
            return list(rows), dict(previous_index)
        return list(rows), class_index((), mode, previous_index)
    labels = [label_of(r.get("source", ""), mode) for r in rows]
    index = class_index((lb for lb in labels if lb is not None), mode, previous_index)
    number = {name: i for i, name in enumerate(index["classes"])}
    out = []
    for r, lb in zip(rows, labels):
        row = dict(r)
        row["label"] = lb
        row["label_index"] = None if lb is None else number[lb]
        out.append(row)
    return out, index
