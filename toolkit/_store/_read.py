"""Reading an object on a worker: whole (the worker decodes and hashes the same bytes), or as a
seekable file read in ranges (the probe reads headers only). Errors are :class:`StoreError`s naming
the URL and the fix, which the image ops' ``classify`` turns into ``failed`` rows."""

from __future__ import annotations

from typing import Any

from ._url import StoreError, explain, filesystem, stamp

__all__ = ["read_object", "open_object", "read_small", "object_stamp"]

#: a ranged read's size: a header is almost always in the first 256 KiB, and a file past it costs one more request
BLOCK = 1 << 18


def _empty(url: str) -> StoreError:
    return StoreError("empty-file", f"{url} is empty (0 bytes); upload it again")


def read_object(url: str) -> bytes:
    """The whole object, in one request."""
    try:
        fs, path = filesystem(url)
        data = fs.cat_file(path)
    except Exception as exc:  # noqa: BLE001 - any store error: said in words, with the fix
        raise explain(exc, url) from None
    if not data:
        raise _empty(url)
    return bytes(data)


def open_object(url: str) -> Any:
    """A seekable binary file over the object (``.size`` is its size), read ahead in :data:`BLOCK` ranges."""
    try:
        fs, path = filesystem(url)
        fh = fs.open(path, "rb", block_size=BLOCK, cache_type="readahead")
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, url) from None
    if not fh.size:
        fh.close()
        raise _empty(url)
    return fh


def object_stamp(url: str) -> list[Any]:
    """``[name, size, stamp]`` of an object, as a sidecar's stamp holds a file's ``[name, size, mtime_ns]``."""
    try:
        fs, path = filesystem(url)
        info = fs.info(path)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, url) from None
    return [url.rsplit("/", 1)[-1], int(info.get("size") or 0), stamp(info)]


def read_small(url: str, limit: int) -> tuple[bytes, list[Any]]:
    """At most ``limit`` bytes of a small object (a sidecar) and its stamp (taken before the read)."""
    got = object_stamp(url)
    try:
        fs, path = filesystem(url)
        data = fs.cat_file(path, start=0, end=limit) if got[1] else b""
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, url) from None
    return bytes(data), got
