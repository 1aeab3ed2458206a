"""Pure, typed image functions (Pillow only): probe headers, load safely, fit/fill/pad/exact, convert, encode.

One module per job: :mod:`.formats` (which formats are opened), :mod:`.load` (decoding safely: bombs,
truncation, Pillow's global switches), :mod:`.probe` (header facts and the memory estimate),
:mod:`.modes` (colour modes), :mod:`.geometry` (resizing), :mod:`.encode` (outputs), :mod:`.errors`
(exceptions to manifest error types). This package's names are the ones the rest of the toolkit uses.

Every geometry or conversion function returns a new image and leaves its argument alone.
Opening is restricted to :data:`ALLOWED_FORMATS`, so PostScript/EPS never reaches Ghostscript;
decompression bombs are refused from the header, before any pixel is decoded.
"""

from __future__ import annotations

from .encode import encode, prepare_for
from .errors import classify
from .formats import ALLOWED_FORMATS
from .geometry import REDUCING_GAP, combined_draft, draft_hint, render, resize, thumbnail
from .load import load_image, read_source
from .probe import estimate_bytes, probe_image

__all__ = [
    "ALLOWED_FORMATS",
    "probe_image",
    "load_image",
    "read_source",
    "thumbnail",
    "resize",
    "render",
    "draft_hint",
    "combined_draft",
    "prepare_for",
    "encode",
    "classify",
    "estimate_bytes",
    "REDUCING_GAP",
]
