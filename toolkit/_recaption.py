"""``captions`` changed on a finished build (``toolkit.curate(output, captions=...)``), without decoding.

Captions are read from the inputs, not from the pixels: a finished build's rows name their input
folder (``input_root``), so the sidecars can be looked at again where they are. The input folders
are scanned again (names and file headers only; nothing is decoded, no output is touched) with the
new setting, and the manifest's rows change only as ``captions`` decides:

- each media row's ``caption`` / ``meta`` (and its ``sidecars`` stamp, its sidecar warnings) are
  those of today's sidecars (``sidecar``; read only where the stamp changed), or gone (``none``);
- a sidecar paired now loses its ``skipped`` not-media row; one no longer paired (``none``) gets it back.

Files added to the inputs since the build are not built here (that is a build's work), and a media
row whose file is gone keeps its row as it was. An input folder that is gone (moved, deleted,
unmounted) is an error naming the key and the fix: rebuild from where the inputs are now.
"""

from __future__ import annotations

import os
from typing import Any

from ._errors import InputError
from ._fs import path_b64, path_text
from ._media import ItemResult
from ._sidecar import SIDECAR_EXT, refresh_carried

__all__ = ["recaption"]

Row = dict[str, Any]


def recaption(rows: list[Row], captions: str, output: str | os.PathLike) -> list[Row]:
    """``rows`` (a manifest's) as a build with ``captions`` would have made them; see the module."""
    from ._scan import scan

    roots = sorted({r["input_root"] for r in rows if r.get("input_root")})
    gone = [root for root in roots if not os.path.isdir(root)]
    if gone:
        raise InputError(
            f"`captions`: the sidecars cannot be read again: the input folder {gone[0]} is gone (moved or deleted); "
            f"rebuild from where the inputs are now with the `captions` you want (nothing was changed)"
        )
    scanned = scan(roots, exclude=[output], captions=captions) if roots else None
    items = scanned.items if scanned else []
    key = {(path_text(i.root), path_b64(i.rel)): i for i in items}
    paired = set()  # the sidecars that belong to an image now
    for i in items:
        folder = os.path.dirname(i.rel)
        for side in (i.caption_path, i.meta_path):
            if side:
                paired.add(
                    (
                        path_text(i.root),
                        path_b64(os.path.join(folder, os.path.basename(side)) if folder else os.path.basename(side)),
                    )
                )
    stems = {(r["input_root"], os.path.splitext(r["source"])[0]) for r in rows if (r["input_root"], r["source_b64"]) in key}
    known = {(r["input_root"], r["source_b64"]) for r in rows}
    out: list[Row] = []
    for r in rows:
        k = (r["input_root"], r["source_b64"])
        if k in paired and k not in key:
            continue  # a sidecar row: its text is its image's now
        if k in key:
            (fresh,) = refresh_carried([ItemResult.from_row(r)], [key[k]])
            r = {**r, **_sidecar_fields(fresh.to_row())}
            if "sidecars" not in fresh.extra:
                r.pop("sidecars", None)
        out.append(r)
    for left in scanned.rows if scanned else ():  # a sidecar no longer paired: its not-media row again
        k = (left.input_root, left.source_b64)
        ext = os.path.splitext(left.source)[1].lower()
        if k not in known and ext in SIDECAR_EXT and (left.input_root, os.path.splitext(left.source)[0]) in stems:
            out.append(left.to_row())
    return out


def _sidecar_fields(row: Row) -> Row:
    return {k: row.get(k) for k in ("caption", "meta", "warnings", "sidecars") if k in row}
