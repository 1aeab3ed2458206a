"""What a worker reads for one sample: its output's bytes, and an image's size from its header."""

from __future__ import annotations

import io
import json
import os
from typing import Any

from ._samples import Sample

__all__ = ["read_output", "facts_json", "image_size"]


def read_output(root: str, sample: Sample) -> bytes | None:
    """The sample's output file, or None when it cannot be read (gone since it was planned): a read,
    never an output-side fault, so it is caught here, outside the shard's write."""
    try:
        with open(os.path.join(root, sample.output), "rb") as fh:
            return fh.read()
    except OSError:
        return None


def image_size(sample: Sample, data: bytes) -> tuple[int | None, int | None]:
    """(width, height) of an image sample as a loader decodes it (from the header only)."""
    if not sample.is_image:
        return None, None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:  # noqa: BLE001 - a file Pillow cannot open still goes in as it is
        return None, None


def facts_json(facts: dict[str, Any]) -> bytes:
    """The ``.json`` member: keys sorted, compact, UTF-8 (the same bytes for the same facts); a field
    with no value is left out rather than written ``null`` (HF's loader types each field from the
    first samples it reads: a null there would type it null and fail on the first real value)."""
    text = json.dumps(
        {k: v for k, v in facts.items() if v is not None},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
        default=str,
    )
    return text.encode("utf-8", "surrogatepass")
