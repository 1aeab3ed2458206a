"""A URL prefix listed into the scan's outcomes: one paginated listing, the first 64 bytes of each
object read in concurrent ranged requests, the same verdicts as a disk's files (:func:`classify_head`).

The listing is all or nothing: a listing that fails (a bucket that does not exist, no credentials,
a page refused midway) raises :class:`~toolkit._errors.InputError` before anything is built, so the
same command, run again, starts from a whole listing. An object that cannot be read gets a ``failed``
row naming its URL. Folders whose names start with ``.`` and junk folders are left out as on a disk.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Mapping, Sequence

from .._errors import InputError, Stopped
from .._fs import path_b64
from .._media import ItemResult, MediaItem, problem_row
from .._sidecar import sidecar_candidate
from .._sniff import JUNK_DIRS, LeftOut, classify_head, is_junk
from ._url import explain, filesystem, join, stamp

__all__ = ["scan_url"]

#: objects whose heads are read in one call (concurrent requests inside it); cancel is asked between calls
CHUNK = 512
NO_VIDEO = "{url} is a video; videos are not read from object stores yet: copy them to a local folder and build from there"


def _listing(url: str) -> tuple[Any, str, dict[str, tuple[int, int]]]:
    """-> (file system, the prefix's path in it, every object under it: path -> (size, stamp)).
    Raises InputError. Only the size and the stamp of each object are kept while the pages come."""
    try:
        fs, base = filesystem(url, fresh=True)
        base = base.rstrip("/")
        objects = dict(_s3_pages(fs, base) if hasattr(fs, "call_s3") else _found(fs, base))
        if not objects and hasattr(fs, "call_s3") and "/" in base and fs.isfile(base):  # one object
            objects = dict(_found(fs, base))
    except Exception as exc:  # noqa: BLE001 - any store error: said in words, with the fix
        raise InputError(f"{explain(exc, url, 'list').message} (`inputs`)") from None
    if not objects:
        raise InputError(f"no objects under {url}; check the bucket and the prefix (`inputs`)")
    return fs, base, objects


def _s3_pages(fs: Any, base: str) -> Iterator[tuple[str, tuple[int, int]]]:
    """S3's listing page by page (1,000 objects each), as compact entries: a bucket of millions is
    never held as the library's dictionaries all at once."""
    bucket, _, key = base.partition("/")
    kw = {"Bucket": bucket, "Prefix": f"{key}/" if key else ""}
    while True:
        page = fs.call_s3("list_objects_v2", **kw)
        for c in page.get("Contents", ()):
            if not c["Key"].endswith("/"):  # a folder marker, not an object
                yield f"{bucket}/{c['Key']}", (int(c.get("Size") or 0), stamp(c))
        if not page.get("IsTruncated"):
            return
        kw["ContinuationToken"] = page["NextContinuationToken"]


def _found(fs: Any, base: str) -> Iterator[tuple[str, tuple[int, int]]]:
    """Any other store: fsspec's ``find``."""
    for path, info in fs.find(base, detail=True).items():
        if info.get("type", "file") != "directory" and not path.endswith("/"):
            yield path, (int(info.get("size") or 0), stamp(info))


def _left_out(rel: str) -> bool:
    """A folder the local walk never enters: hidden, or junk (``__MACOSX``, ``@eaDir``...)."""
    return any(d.startswith(".") or d.lower() in JUNK_DIRS for d in rel.split("/")[:-1])


def scan_url(
    url: str,
    *,
    exclude: Sequence[str] = (),
    cancel: Callable[[], bool] | None = None,
    sidecars: list[tuple[str, str, ItemResult]] | None = None,
    known: Mapping[str, str] | None = None,
    seen: dict[tuple[str, str], str] | None = None,
) -> tuple[list[MediaItem], list[ItemResult]]:
    """List ``url`` (a prefix, or one object) -> (items, rows), items sorted as a disk's.
    ``sidecars``: gets the left-out objects that may be an item's caption or metadata, as the walk's.
    ``known``, ``seen``: the resume index's lines for ``url`` and the scan's ``seen``, as for a folder
    (:func:`toolkit.scan`): an object with the size and ETag of an earlier scan's media is not read again."""
    url = url.rstrip("/")
    if cancel is not None and cancel():
        raise Stopped(f"stopped while listing {url}")
    fs, base, objects = _listing(url)
    root = url
    if list(objects) == [base]:  # the URL names one object: its root is the prefix above it
        root, base = url.rsplit("/", 1)[0], base.rsplit("/", 1)[0]
    skip = tuple(e.rstrip("/") + "/" for e in exclude)
    items: list[MediaItem] = []
    rows: list[ItemResult] = []
    wanted: list[tuple[str, str, tuple[int, int]]] = []  # (path in fs, rel, (size, stamp)) of objects to sniff
    for path, info in sorted(objects.items()):
        rel = path[len(base) :].lstrip("/")
        where = join(root, rel)
        if _left_out(rel) or (skip and where.startswith(skip)):  # an output under the input prefix is not input
            continue
        size = info[0]
        if is_junk(rel.rsplit("/", 1)[-1]):
            rows.append(problem_row(root, rel, "skipped", "junk", f"{where} is system junk (e.g. .DS_Store, ._*)", size=size))
        elif size == 0:
            rows.append(_verdict(root, rel, info, b"", items))
        elif not _known(root, rel, info, known, seen, items):
            wanted.append((path, rel, info))
    for start in range(0, len(wanted), CHUNK):
        if cancel is not None and cancel():
            raise Stopped(f"stopped while listing {url}")
        chunk = wanted[start : start + CHUNK]
        heads = fs.cat_ranges([p for p, _, _ in chunk], 0, 64, on_error="return")
        for (_, rel, info), head in zip(chunk, heads):
            if isinstance(head, BaseException):
                problem = explain(head, join(root, rel))
                rows.append(problem_row(root, rel, "failed", problem.code, problem.message, size=info[0]))
            else:
                row = _verdict(root, rel, info, bytes(head), items)
                if row is not None:
                    rows.append(row)
                    if sidecars is not None and sidecar_candidate(rel, row):
                        sidecars.append((root, rel, row))
    items.sort(key=lambda i: os.fsencode(i.rel))
    return items, rows


def _known(root: str, rel: str, info: tuple[int, int], known: Any, seen: Any, items: list[MediaItem]) -> bool:
    """An object the index has as media with this size and stamp: an item, not sniffed again."""
    line = known.get(path_b64(rel)) if known and seen is not None else None
    if line is None:
        return False
    size, version, kind, fmt, rest = line.split("\t", 4)
    if kind != "image" or size != str(info[0]) or version != str(info[1]):  # videos are rows (NO_VIDEO): sniffed
        return False
    seen[(root, rel)] = rest
    items.append(
        MediaItem(path=join(root, rel), rel=rel, root=root, kind="image", format=fmt or None, size=info[0], mtime_ns=info[1])
    )
    return True


def _verdict(root: str, rel: str, info: tuple[int, int], head: bytes, items: list[MediaItem]) -> Any:
    """Add the object to ``items``, or -> the row saying why it is left out."""
    where, (size, version) = join(root, rel), info
    found = classify_head(where, size, head)
    if isinstance(found, LeftOut):
        return problem_row(root, rel, found.status, found.code, found.message, size=size)
    kind, fmt = found
    if kind == "video":
        return problem_row(root, rel, "failed", "unsupported-format", NO_VIDEO.format(url=where), size=size)
    items.append(MediaItem(path=where, rel=rel, root=root, kind=kind, format=fmt, size=size, mtime_ns=version))
    return None
