"""Walk input folders into a sorted list of MediaItems, by content sniffing; no decoding.

Every file met gets exactly one outcome: a :class:`MediaItem` to process, or a row saying why
not (``skipped`` for junk and non-media on purpose, ``failed`` for special files, loops,
unreadable or empty media). Special files (FIFOs, devices, sockets) are never opened.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from ._errors import InputError, Stopped
from ._fs import path_b64, path_text, printable
from ._index import Known
from ._media import ItemResult, Kind, MediaItem, left_out_lines, problem_row
from ._sidecar import CAPTIONS, pair_sidecars, sidecar_candidate
from ._store import is_url
from ._store._list import scan_url
from ._sniff import JUNK_DIRS, LeftOut, classify_file, is_junk
from ._units import format_bytes

__all__ = ["scan", "ScanResult"]


@dataclass
class ScanResult:
    """Items to process plus a row for every file left out, with the reason."""

    roots: tuple[str, ...]
    items: list[MediaItem] = field(default_factory=list)
    rows: list[ItemResult] = field(default_factory=list)
    #: (root, rel) -> the rest of the resume index's line (status onwards) of each file with the
    #: size and mtime it has there (``known``): what a resume compares
    seen: dict[tuple[str, str], str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def total_bytes(self) -> int:
        return sum(i.size for i in self.items)

    def counts(self) -> dict[str, Counter]:
        by_kind = Counter(i.kind for i in self.items)
        by_format = Counter(f"{i.kind}/{i.format or '?'}" for i in self.items)
        problems = Counter(f"{r.status}:{r.reason.type if r.reason else ''}" for r in self.rows)
        return {"kind": by_kind, "format": by_format, "left_out": problems}

    def summary(self) -> dict:
        """Counts as plain data (``dataprep scan --json``): files, bytes, by kind, by format, left out."""
        c = self.counts()
        return {
            "files": len(self),
            "bytes": self.total_bytes,
            "by_kind": c["kind"],
            "by_format": c["format"],
            "left_out": [r.to_row() for r in self.rows],
            "sidecars": self.sidecars(),
        }

    def sidecars(self) -> dict[str, int]:
        """How many media files have a caption (.txt) and a metadata (.json) sidecar."""
        return {
            "caption": sum(i.caption_path is not None for i in self.items),
            "meta": sum(i.meta_path is not None for i in self.items),
        }

    def __str__(self) -> str:
        c = self.counts()
        lines = [f"{len(self.items)} media files, {format_bytes(self.total_bytes)}, in {printable(', '.join(self.roots))}"]
        for k, n in sorted(c["format"].items()):
            lines.append(f"  {k:<16} {n:>7}")
        if any(self.sidecars().values()):
            lines.append("with a caption: {caption}, with metadata: {meta} (sidecar files)".format(**self.sidecars()))
        return "\n".join(lines + left_out_lines(self.rows))

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(str(self)) + "</pre>"


def _row(root: str, rel: str, status: str, code: str, message: str, size: int = 0) -> ItemResult:
    return problem_row(root, rel, status, code, message, size=size)  # type: ignore[arg-type]


def scan(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    exclude: Iterable[str | os.PathLike] = (),
    follow_symlinks: bool = True,
    cancel: Callable[[], bool] | None = None,
    captions: str = "sidecar",
    known: Known | None = None,
) -> ScanResult:
    """Walk folders (or single files) into a deterministic, sorted :class:`ScanResult`.

    ``exclude``: folders never entered (the build passes its output folder), nor anything inside them,
    also through a link; output folders dataprep wrote are left out without being named
    (:class:`toolkit._exclude.OutputExclusion`, shared with the build).
    ``cancel``: asked before each folder; when it returns true the scan raises :class:`Stopped`.
    ``captions``: ``"sidecar"`` pairs ``photo.txt`` / ``photo.json`` with ``photo.jpg`` beside them
    (:mod:`toolkit._sidecar`): they have no row of their own then; ``"none"``: they are not-media rows.
    ``known``: the resume index's lines (:class:`toolkit._index.ResumeIndex`): a file with the same
    size and mtime as there is not sniffed again when an earlier scan found it to be media, and the
    rest of its line goes to ``ScanResult.seen``.
    """
    if captions not in CAPTIONS:
        raise ValueError(f"captions must be one of {', '.join(CAPTIONS)}, not {captions!r}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    roots: list[str] = []
    for p in paths:
        if is_url(p):  # an object store: listed through fsspec (toolkit/_store)
            roots.append(os.fspath(p).rstrip("/"))
            continue
        ap = os.path.abspath(os.fspath(p))
        if not os.path.exists(ap):
            raise InputError(f"input {path_text(p)} does not exist; check the path")
        roots.append(ap)
    excluded = [os.fspath(e) for e in exclude]
    result = ScanResult(roots=tuple(path_text(r) for r in roots))
    sidecars: list[tuple[str, str, ItemResult]] = []  # left-out files that may be sidecars: known after the walk
    for root in roots:
        if is_url(root):
            pairing = sidecars if captions == "sidecar" else None
            table = (known or {}).get(path_text(root))
            items, rows = scan_url(root, exclude=excluded, cancel=cancel, sidecars=pairing, known=table, seen=result.seen)
            result.items, result.rows = result.items + items, result.rows + rows
            continue
        if os.path.isfile(root):
            parent, name = os.path.split(root)
            _scan_one(result, parent, name, os.stat(root))
            continue
        table = (known or {}).get(path_text(root))
        _walk(result, root, excluded, follow_symlinks, cancel, sidecars if captions == "sidecar" else None, table)
    if sidecars:
        result.items, result.rows = pair_sidecars(result.items, result.rows, sidecars)
    return result


def _walk(
    result: ScanResult,
    root: str,
    excluded: list[str],
    follow: bool,
    cancel: Callable[[], bool] | None,
    sidecars: list[tuple[str, str, ItemResult]] | None = None,
    known: Mapping[str, str] | None = None,
) -> None:
    from ._exclude import OutputExclusion

    outputs = OutputExclusion(root, excluded)
    root_st = os.stat(root)
    # depth-first with an explicit stack; ancestors tracked to detect loops
    stack: list[tuple[str, tuple[tuple[int, int], ...]]] = [("", ((root_st.st_dev, root_st.st_ino),))]
    seen_dirs = {(root_st.st_dev, root_st.st_ino)}
    while stack:
        rel_dir, ancestors = stack.pop()
        if cancel is not None and cancel():
            raise Stopped(f"stopped while scanning {path_text(root)}")
        abs_dir = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with os.scandir(abs_dir) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except PermissionError:
            result.rows.append(
                _row(
                    root,
                    rel_dir or ".",
                    "failed",
                    "permission-denied",
                    f"cannot list folder {path_text(abs_dir)}: permission denied; its files were not scanned",
                )
            )
            continue
        except OSError as exc:
            result.rows.append(
                _row(root, rel_dir or ".", "failed", "not-found", f"cannot list folder {path_text(abs_dir)}: {exc.strerror}")
            )
            continue
        subdirs = []
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                is_link = e.is_symlink()
                st = os.stat(e.path) if (is_link and follow) else e.stat(follow_symlinks=False)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    result.rows.append(
                        _row(root, rel, "failed", "symlink-loop", f"{path_text(e.path)} is a symbolic link loop; not followed")
                    )
                elif exc.errno == errno.ENOENT:
                    result.rows.append(
                        _row(
                            root,
                            rel,
                            "failed",
                            "not-found",
                            f"{path_text(e.path)} is a broken symbolic link (its target is missing)",
                        )
                    )
                else:
                    result.rows.append(
                        _row(root, rel, "failed", "permission-denied", f"cannot stat {path_text(e.path)}: {exc.strerror}")
                    )
                continue
            if stat.S_ISDIR(st.st_mode):
                if e.name.lower() in JUNK_DIRS or e.name.startswith("."):
                    continue
                if outputs.skips(e.path, is_link=is_link):  # an output folder, or a link into one
                    continue
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    result.rows.append(
                        _row(
                            root,
                            rel,
                            "failed",
                            "symlink-loop",
                            f"{path_text(e.path)} links back to a folder above it; not followed",
                        )
                    )
                    continue
                if key in seen_dirs:
                    result.rows.append(
                        _row(
                            root,
                            rel,
                            "skipped",
                            "duplicate",
                            f"{path_text(e.path)} is a folder already scanned through another path",
                        )
                    )
                    continue
                seen_dirs.add(key)
                subdirs.append((rel, ancestors + (key,)))
            elif is_link and follow and outputs.skips(e.path, is_link=True):  # a file in an output folder
                continue
            elif is_link and not follow:
                result.rows.append(
                    _row(root, rel, "skipped", "symlink", f"{path_text(e.path)} is a symbolic link; links are not followed")
                )
            else:
                _scan_one(result, root, rel, st, sidecars, known, e.path)
        stack.extend(reversed(subdirs))
    # files before sub-folders, each level sorted: already deterministic; sort rows/items for stable output
    result.items.sort(key=lambda i: (i.root, os.fsencode(i.rel)))


def _scan_one(
    result: ScanResult,
    root: str,
    rel: str,
    st: os.stat_result,
    sidecars: list[tuple[str, str, ItemResult]] | None = None,
    known: Mapping[str, str] | None = None,
    abspath: str = "",  # os.path.join(root, rel), when the caller has it already (DirEntry.path)
) -> None:
    name = rel.rsplit("/", 1)[-1]
    abspath = abspath or os.path.join(root, rel)
    if not stat.S_ISREG(st.st_mode):
        why = f"{path_text(abspath)} is a special file (FIFO, socket or device); it was not opened"
        result.rows.append(_row(root, rel, "failed", "not-regular-file", why))
        return
    if is_junk(name):
        result.rows.append(
            _row(
                root, rel, "skipped", "junk", f"{path_text(abspath)} is system junk (e.g. .DS_Store, ._*, Thumbs.db)", st.st_size
            )
        )
        return
    line = known.get(path_b64(rel)) if known else None
    found: LeftOut | tuple[Kind, str | None] | None = None
    if line is not None:
        size, mtime, was_kind, was_format, rest = line.split("\t", 4)
        if size == str(st.st_size) and mtime == str(st.st_mtime_ns):  # unchanged since the index's row
            result.seen[(root, rel)] = rest
            found = (was_kind, was_format or None) if was_kind else None  # type: ignore[assignment]
    if found is None:
        found = classify_file(abspath, st)
    if isinstance(found, LeftOut):
        row = _row(root, rel, found.status, found.code, found.message, st.st_size)
        result.rows.append(row)
        if sidecars is not None and sidecar_candidate(rel, row):
            sidecars.append((root, rel, row))
        return
    kind, fmt = found
    item = MediaItem(path=abspath, rel=rel, root=root, kind=kind, format=fmt, size=st.st_size, mtime_ns=st.st_mtime_ns)
    result.items.append(item)
