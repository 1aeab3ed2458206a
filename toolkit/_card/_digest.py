"""Each picture of the card carries the digest of exactly what it draws, so one that would come
out the same is not drawn again (a re-split redraws the label and size plots, not the others; a
rebuild that changed nothing draws nothing and never imports matplotlib).

The digest is of the picture's data (the plain lists and numbers its ``*_data`` function picks from
the rows: toolkit/_card/_plots.py, _grids.py), of the drawing code (the source of those modules) and
of the versions of matplotlib and Pillow. It is kept in the PNG itself, a ``tEXt`` chunk under
:data:`DIGEST_KEY`, written with the picture in one atomic rename: a picture and its digest can never
disagree, and a picture drawn by an older version (no digest) or replaced by hand is drawn again.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["DIGEST_KEY", "digest_of", "drawn_digest"]

DIGEST_KEY = "dataprep-digest"
#: the modules whose code decides a picture's pixels
SOURCES = ("_plots.py", "_grids.py", "_digest.py")


@functools.lru_cache(maxsize=1)
def _drawing() -> bytes:
    """What decides the pixels besides the data: the drawing code and the libraries' versions."""
    here = Path(__file__).parent
    parts = [(here / name).read_bytes() for name in SOURCES]
    for dist in ("matplotlib", "Pillow"):
        try:
            parts.append(metadata.version(dist).encode())
        except metadata.PackageNotFoundError:  # pragma: no cover - both are dependencies
            parts.append(b"?")
    return b"\0".join(parts)


def digest_of(name: str, data: Any) -> str:
    """The digest of picture ``name`` drawn from ``data`` (lists, dicts, numbers and text)."""
    import xxhash

    text = json.dumps([name, data], sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    h = xxhash.xxh3_128(_drawing())
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def drawn_digest(path: str | os.PathLike) -> str | None:
    """The digest the PNG at ``path`` carries (read from its header, not decoded), or None: no such
    file, not a PNG, or drawn without one."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            value = im.info.get(DIGEST_KEY) if im.format == "PNG" else None
    except (OSError, ValueError, SyntaxError):  # absent, unreadable, or not an image Pillow knows
        return None
    return value if isinstance(value, str) else None
