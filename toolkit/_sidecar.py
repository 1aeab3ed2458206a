"""Captions and metadata from sidecar files: ``photo.txt`` beside ``photo.jpg`` is its caption,
``photo.json`` its extra metadata (``captions = "sidecar"``, the default).

The scan pairs a sidecar with the media file of the same name (minus the extension) in the same
folder (:func:`pair_sidecars`); the sidecar then has no row of its own. The worker that makes the
image's row reads it (:func:`read_sidecars`): small text files read where the row is made keep the
client light at scale. A sidecar that cannot be used is a warning on its image's row (type
``caption`` or ``meta``), never a failure of the image. A ``.txt``/``.json`` with no media file
beside it stays a ``skipped`` not-media row, as before.

A row records the sidecars it was read from in its ``sidecars`` field (:data:`Stamp`: each one's
name, size and modification time). A file carried by a rebuild keeps its row; its sidecars are read
again only when that stamp no longer matches them (edited, added, removed, renamed) or when they
had a problem (a permission fixed changes no stamp), so a rebuild with unchanged sidecars reads none.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any, NamedTuple, Sequence

from ._fs import path_b64, path_text
from ._media import ItemResult, MediaItem, Problem
from ._store import StoreError, is_url
from ._store._read import object_stamp, read_small

__all__ = [
    "CAPTIONS",
    "STAMP_FIELD",
    "Sidecars",
    "SIDECAR_EXT",
    "MAX_SIDECAR_BYTES",
    "pair_sidecars",
    "read_sidecars",
    "refresh_carried",
    "current_stamp",
    "sidecar_candidate",
]

#: the values of the ``captions`` setting
CAPTIONS = ("none", "sidecar")
#: the row field recording which sidecars the caption and meta were read from (:data:`Stamp`)
STAMP_FIELD = "sidecars"
#: {"caption": [file name, size, mtime_ns], "meta": [...]}: the sidecars as they were read
Stamp = dict[str, list[Any]]
#: sidecar extension -> the row field it fills
SIDECAR_EXT = {".txt": "caption", ".json": "meta"}
#: a larger sidecar is not read (a warning): captions and metadata are small; a big one is a mistake
MAX_SIDECAR_BYTES = 1 << 20
#: the scan's reasons for leaving a .txt/.json out that a media file beside it overrides: not media,
#: or unreadable (then the read on the worker says why, as a warning on the image's row). A special
#: file (FIFO, device) is never paired: it is never opened.
_PAIRABLE = {"not-media", "permission-denied", "corrupt", "not-found"}


def sidecar_candidate(rel: str, row: ItemResult) -> bool:
    """Whether a left-out file may be a sidecar (its image, if any, is known only after the walk)."""
    why = row.reason
    return os.path.splitext(rel)[1].lower() in SIDECAR_EXT and why is not None and why.type in _PAIRABLE


def pair_sidecars(
    items: Sequence[MediaItem], rows: Sequence[ItemResult], candidates: Sequence[tuple[str, str, ItemResult]]
) -> tuple[list[MediaItem], list[ItemResult]]:
    """Attach each candidate ``(root, rel, row)`` to the media files of the same stem in its folder
    and drop its row; -> (items, rows). Unpaired candidates keep their rows. Two media files of one
    stem (``a.jpg``, ``a.png``) share the sidecar; a sidecar that is itself media (``a.json`` holding
    a JPEG) is an item, never a candidate."""
    by_stem: dict[tuple[str, str], list[int]] = {}
    for i, it in enumerate(items):
        by_stem.setdefault((it.root, os.path.splitext(it.rel)[0]), []).append(i)
    found: dict[int, dict[str, str]] = {}  # item index -> {"caption_path": ..., "meta_path": ...}
    paired: set[int] = set()
    for root, rel, row in candidates:
        stem, ext = os.path.splitext(rel)
        key = f"{SIDECAR_EXT[ext.lower()]}_path"
        for i in by_stem.get((root, stem), ()):
            # two sidecars of one kind (a.TXT, a.txt): the first by name wins; the other keeps its row
            if key not in found.setdefault(i, {}):
                found[i][key] = os.path.join(root, rel)
                paired.add(id(row))
    out = list(items)
    for i, paths in found.items():  # one copy per item (replace costs microseconds; a scan may hold millions)
        out[i] = replace(out[i], caption_path=paths.get("caption_path"), meta_path=paths.get("meta_path"))
    return out, [r for r in rows if id(r) not in paired]


class Sidecars(NamedTuple):
    """What an item's sidecars say: its caption, its metadata, their problems, and their :data:`Stamp`
    (None: it has none)."""

    caption: str | None
    meta: dict[str, Any] | None
    warnings: list[Problem]
    stamp: Stamp | None


def read_sidecars(item: MediaItem) -> Sidecars:
    """-> the caption, meta, warnings and stamp of an item's sidecars. The caption is the text with
    surrounding whitespace stripped (a trailing newline is not part of it); ``meta`` must be a JSON
    object. The stamp is taken from each file as it is opened, before it is read: an edit made while
    it is read shows as a changed stamp at the next build, never as an old text kept."""
    warnings: list[Problem] = []
    stamp: Stamp = {}
    caption = meta = None
    if item.caption_path:
        text = _read_text(item.caption_path, "caption", item, warnings, stamp)
        caption = None if text is None else text.strip()
    if item.meta_path:
        text = _read_text(item.meta_path, "meta", item, warnings, stamp)
        if text is not None:
            meta = _parse_meta(text, item, warnings)
    return Sidecars(caption, meta, warnings, stamp or None)


def current_stamp(item: MediaItem) -> Stamp | None:
    """The stamp an item's sidecars have now, from ``stat`` alone (nothing is read); a kind whose
    file cannot be stat'ed is left out, so the stamp differs and the read says why."""
    stamp: Stamp = {}
    for kind, path in (("caption", item.caption_path), ("meta", item.meta_path)):
        if path:
            try:
                stamp[kind] = object_stamp(path) if is_url(path) else _stamp_of(path, os.stat(path))
            except (OSError, StoreError):
                pass
    return stamp or None


def _stamp_of(path: str, st: os.stat_result) -> list[Any]:
    return [os.path.basename(path), st.st_size, st.st_mtime_ns]


def refresh_carried(rows: Sequence[ItemResult], items: Sequence[MediaItem]) -> list[ItemResult]:
    """Carried rows with today's caption and metadata. A sidecar written, edited or removed since
    its image was built does not change the image (the resume key), so the row is carried and not
    redone; its sidecars are read again here instead, else the row would keep the old text for good.
    Only rows whose sidecars changed since (their stamp), or had a problem, are read (small files,
    on the client); unchanged ones are only stat'ed."""
    by_key = {(path_text(i.root), path_b64(i.rel)): i for i in items}
    out = []
    for r in rows:
        item = by_key.get((r.input_root, r.source_b64))
        had = r.extra.get(STAMP_FIELD)
        troubled = any(w.type in _KINDS for w in r.warnings)
        before = r.caption is not None or r.meta is not None or troubled or had is not None
        if item is None or not (before or item.caption_path or item.meta_path):
            out.append(r)
            continue
        if had is not None and not troubled and had == current_stamp(item):
            out.append(r)  # the sidecars it was read from, unchanged: nothing to read
            continue
        read = read_sidecars(item)
        kept = tuple(w for w in r.warnings if w.type not in _KINDS)
        extra = {k: v for k, v in r.extra.items() if k != STAMP_FIELD}
        if read.stamp is not None:
            extra[STAMP_FIELD] = read.stamp
        out.append(replace(r, caption=read.caption, meta=read.meta, warnings=kept + tuple(read.warnings), extra=extra))
    return out


_KINDS = frozenset(SIDECAR_EXT.values())  # the warning types a sidecar's problem has


def _read_text(path: str, kind: str, item: MediaItem, warnings: list[Problem], stamp: Stamp) -> str | None:
    shown, owner = path_text(path), path_text(item.path)
    try:
        if is_url(path):  # an object store (toolkit/_store)
            data, stamp[kind] = read_small(path, MAX_SIDECAR_BYTES + 1)
        else:
            with open(path, "rb") as f:
                stamp[kind] = _stamp_of(path, os.fstat(f.fileno()))
                data = f.read(MAX_SIDECAR_BYTES + 1)
    except (OSError, StoreError) as exc:
        why = exc.message if isinstance(exc, StoreError) else exc.strerror
        warnings.append(Problem(kind, f"cannot read the {kind} file {shown} of {owner}: {why}; it was left out"))
        return None
    if len(data) > MAX_SIDECAR_BYTES:
        warnings.append(
            Problem(kind, f"the {kind} file {shown} of {owner} is larger than {MAX_SIDECAR_BYTES >> 20} MiB; it was not read")
        )
        return None
    try:
        return data.decode("utf-8-sig")  # a byte order mark some editors write is not part of the text
    except UnicodeDecodeError as exc:
        warnings.append(
            Problem(kind, f"the {kind} file {shown} of {owner} is not UTF-8 (byte {exc.start}); save it as UTF-8 to use it")
        )
        return None


#: the deepest nesting of a meta object kept: a deeper one (valid JSON) could not be read back from the
#: manifest by every reader (Python's JSON parser stops at its recursion limit, less the caller's depth)
MAX_META_DEPTH = 100
_TOO_DEEP = object()


def _depth(value: Any) -> int:
    """How deeply ``value`` nests (a scalar 0, ``{}`` 1), counted without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        items = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        if items is not None:
            deepest = max(deepest, d)
            todo.extend((x, d + 1) for x in items)
    return deepest


_JSON_NAMES = {list: "array", str: "string", int: "number", float: "number", bool: "true/false", type(None): "null"}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_meta(text: str, item: MediaItem, warnings: list[Problem]) -> dict[str, Any] | None:
    shown = f"the meta file {path_text(item.meta_path or '')} of {path_text(item.path)}"
    try:
        # NaN / Infinity are refused: the manifest is strict JSON, and they would not survive it
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        warnings.append(Problem("meta", f"{shown} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"))
        return None
    except ValueError as exc:
        warnings.append(Problem("meta", f"{shown} is not valid JSON ({exc})"))
        return None
    except RecursionError:  # valid JSON, nested deeper than Python parses
        value = _TOO_DEEP
    if value is _TOO_DEEP or _depth(value) > MAX_META_DEPTH:
        warnings.append(Problem("meta", f"{shown} is nested more than {MAX_META_DEPTH} levels deep; it was left out"))
        return None
    if not isinstance(value, dict):
        warnings.append(
            Problem("meta", f"{shown} holds a JSON {_JSON_NAMES.get(type(value), 'value')}, not an object; it was left out")
        )
        return None
    return value
