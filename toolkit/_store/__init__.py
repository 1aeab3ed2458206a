"""Object stores (``s3://``, ``gs://``, ``az://`` ... any fsspec URL) as inputs and outputs.

One package owns what differs from a local folder: telling a URL from a path (:mod:`._url`), listing
a prefix into the scan's items and rows (:mod:`._list`), reading an object on a worker
(:mod:`._read`), and writing outputs as single-object puts (:mod:`._stage`; the lock object:
:mod:`._hold`). Everything else in the toolkit keeps handling plain paths; it asks :func:`is_url`
where the two part.
"""

from __future__ import annotations

from ._url import StoreError, filesystem, is_url, join, stamp

__all__ = ["StoreError", "filesystem", "is_url", "join", "stamp"]
