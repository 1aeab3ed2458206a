"""Manifest rows for the curation tests, as the build writes them (plus the facts the workers add)."""

from __future__ import annotations

from toolkit._fs import path_b64


def row(source: str, *, status: str = "ok", w: int = 64, h: int = 48, size: int = 1000, content=None, phash=None, sharpness=None):
    r = {
        "source": source,
        "source_b64": path_b64(source),
        "input_root": "/in",
        "status": status,
        "error": {"type": "decode", "message": "bad"} if status == "failed" else None,
        "warnings": [],
        "outputs": [source + ".jpg"] if status == "ok" else [],
        "width": w,
        "height": h,
        "bytes_in": size,
        "bytes_out": 10,
        "seconds": 0.1,
        "batch": "b1",
        "mtime_ns": 1,
        "settings": "s",
    }
    if content is not None:
        r["content_hash"] = f"{content:032x}"
    if phash is not None:
        r["phash"] = f"{phash:016x}"
    if sharpness is not None:
        r["sharpness"] = sharpness
    return r
