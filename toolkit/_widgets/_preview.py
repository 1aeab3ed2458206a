"""The panel's preview: before/after thumbnails and contact sheets of a finished build's first outputs."""

from __future__ import annotations

import base64
import functools
import html
import json
import os

from .._config import BuildConfig
from .._fs import printable

__all__ = ["preview_html", "preview_rows", "name_html", "thumb_b64"]

_PREVIEW_PAIRS = 6
_PREVIEW_SHEETS = 4


def name_html(text: str) -> str:
    """A file name (or a message naming one) for HTML: controls and bidi overrides escaped as the
    manifest writes them (one name cannot reorder or break the table), then HTML-escaped."""
    return html.escape(printable(text))


@functools.lru_cache(maxsize=1024)
def _thumb(path: str, mtime_ns: int, px: int) -> str | None:
    try:
        from .._ops.image import encode, load_image, thumbnail

        im, _ = load_image(path, max_pixels=BuildConfig.max_pixels, draft_size=(px, px))
        return base64.b64encode(encode(thumbnail(im, (px, px)), "jpeg", 80)).decode("ascii")
    except Exception:  # noqa: BLE001 - a preview is best effort
        return None


def thumb_b64(path: str, px: int) -> str | None:
    """A JPEG thumbnail of ``path``, base64 (cached while the file stays the same), or None."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return None
    return _thumb(path, mtime, px)


def preview_rows(manifest: str, *, pairs: int = _PREVIEW_PAIRS, sheets: int = _PREVIEW_SHEETS) -> tuple[list[dict], list[dict]]:
    """First ``pairs`` image rows and ``sheets`` contact-sheet rows of a manifest (status ok)."""
    images: list[dict] = []
    videos: list[dict] = []
    try:
        fh = open(manifest, encoding="utf-8")  # noqa: SIM115
    except OSError:
        return images, videos
    with fh:
        for line in fh:
            if len(images) >= pairs and len(videos) >= sheets:
                break
            try:
                row = json.loads(line)
            except ValueError:
                continue
            outs = row.get("outputs") or []
            if row.get("status") != "ok" or not outs:
                continue
            contact = [o for o in outs if ".contact." in os.path.basename(o)]
            if contact:
                if len(videos) < sheets:
                    videos.append({**row, "_sheet": contact[0]})
            elif len(images) < pairs and not any(o.lower().endswith((".mp4", ".mov", ".webm")) for o in outs[:1]):
                images.append(row)
    return images, videos


def preview_html(output: str, manifest: str, *, px: int = 160) -> str:
    """A grid of before/after thumbnails and contact sheets (base64 ``<img>``, no file links)."""
    images, videos = preview_rows(manifest)
    cells = []
    for row in images:
        src = os.path.join(row.get("input_root") or "", row["source"])
        out = os.path.join(output, row["outputs"][0])
        before, after = thumb_b64(src, px), thumb_b64(out, px)
        if not after:
            continue
        b = (
            f"<img class='dp-before' src='data:image/jpeg;base64,{before}' title='{name_html(src)}'>"
            if before
            else "<span>?</span>"
        )
        a = f"<img class='dp-after' src='data:image/jpeg;base64,{after}' title='{name_html(out)}'>"
        cells.append(
            f"<figure class='dp-pair' style='margin:4px;display:inline-block;text-align:center'>"
            f"<div style='display:flex;gap:4px;align-items:center'>{b}<span>&rarr;</span>{a}</div>"
            f"<figcaption style='font-size:11px;max-width:{2 * px + 30}px;overflow:hidden'>{name_html(row['source'])}</figcaption></figure>"
        )
    sheets = []
    for row in videos:
        path = os.path.join(output, row["_sheet"])
        data = thumb_b64(path, 2 * px + 120)
        if data:
            sheets.append(
                f"<figure class='dp-sheet' style='margin:4px;display:inline-block'>"
                f"<img class='dp-contact' src='data:image/jpeg;base64,{data}' title='{name_html(path)}'>"
                f"<figcaption style='font-size:11px'>{name_html(row['source'])}</figcaption></figure>"
            )
    if not cells and not sheets:
        return "<div class='dp-preview'><i>no image outputs to preview</i></div>"
    parts = ["<div class='dp-preview'>"]
    if cells:
        parts.append("<b>Before / after</b><div class='dp-grid'>" + "".join(cells) + "</div>")
    if sheets:
        parts.append("<b>Contact sheets</b><div class='dp-sheets'>" + "".join(sheets) + "</div>")
    parts.append("</div>")
    return "".join(parts)
