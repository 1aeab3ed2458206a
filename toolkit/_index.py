"""The resume index: ``OUTPUT/.dataprep/index.tsv``, what a resume compares a scan against.

One line per manifest row, sorted: input folder (a number into the header's list), ``source_b64``,
then the fields of :data:`FIELDS`: size, mtime_ns, kind, format (from the scan that made the row;
empty when unknown), status, the reason's type, settings key, the sidecar stamp (JSON; ``?`` when
the row's sidecars must be read again) and the outputs (JSON). The header (a JSON line) names the
manifest it was made from by size, mtime_ns and inode: any rewrite of the manifest (a build,
``toolkit.curate``, an editor) makes it stale, and a stale or missing index is made again from the
manifest (read once) by the next run. A line is kept as text after its key, split only where it is
compared (the scan takes size, mtime, kind and format; the comparison status, settings and
sidecars): reading 100,000 is one split each. Why a text file and not SQLite: docs/architecture.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ._fs import atomic_write, path_b64, path_text
from ._media import MediaItem

__all__ = ["Entry", "ResumeIndex", "INDEX", "Known", "sidecar_text"]

INDEX = ".dataprep/index.tsv"
VERSION = 2
#: ``{input folder: {source_b64: the line after its key}}``: what the scan is given (``scan(known=...)``)
Known = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Entry:
    """One input's last row, as far as a resume compares it (a line of the index, split)."""

    size: int
    mtime_ns: int
    kind: str  # "" when unknown (an index made from a manifest)
    format: str
    status: str
    reason: str  # the error's type (or the first warning's), "" when none
    settings: str
    sidecars: str  # JSON of the sidecar stamp, "" when none, "?" when its sidecars must be read again
    outputs: str  # JSON list

    @classmethod
    def parse(cls, tail: str) -> Entry:
        size, mtime, kind, fmt, status, reason, settings, sidecars, outputs = tail.split("\t")
        return cls(int(size), int(mtime), kind, fmt, status, reason, settings, sidecars, outputs)

    def text(self) -> str:
        fields = (self.size, self.mtime_ns, self.kind, self.format, self.status, self.reason, self.settings, self.sidecars)
        return "\t".join(str(f) for f in fields) + "\t" + self.outputs


def manifest_stamp(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _sidecars(row: Mapping[str, Any]) -> str:
    """A row's sidecar stamp as text; ``?`` (never a match: its sidecars are read again) for a row
    whose sidecar had a problem or was read without a stamp."""
    stamp = row.get("sidecars")
    if any(w.get("type") in ("caption", "meta") for w in row.get("warnings") or ()):
        return "?"
    if stamp is not None:
        return json.dumps(stamp, sort_keys=True)
    return "?" if (row.get("caption") is not None or row.get("meta") is not None) else ""


def sidecar_text(stamp: Any) -> str:
    """A stamp as :class:`Entry` ``sidecars`` holds it (``current_stamp(item)`` compared as text)."""
    return "" if stamp is None else json.dumps(stamp, sort_keys=True)


class ResumeIndex:
    """``lines[input_root][source_b64]`` -> the line after its key (:meth:`Entry.parse` splits it)."""

    def __init__(self, lines: dict[str, dict[str, str]], *, from_manifest: bool = False):
        self.lines = lines
        self.from_manifest = from_manifest  # made from the manifest this run: written once the run knows the kinds

    def __len__(self) -> int:
        return sum(len(v) for v in self.lines.values())

    def entry(self, root: str, b64: str) -> Entry | None:
        tail = self.lines.get(root, {}).get(b64)
        return None if tail is None else Entry.parse(tail)

    def entries(self) -> Iterable[Entry]:
        return (Entry.parse(tail) for table in self.lines.values() for tail in table.values())

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, output: Path, manifest: Path) -> ResumeIndex | None:
        """The index, if it describes ``manifest`` as it is now; else None."""
        try:
            data = (output / INDEX).read_bytes()
        except OSError:
            return None
        head, _, body = data.partition(b"\n")
        try:
            header = json.loads(head)
        except ValueError:
            return None
        if not isinstance(header, dict) or header.get("version") != VERSION or header.get("manifest") != manifest_stamp(manifest):
            return None
        if body and not body.endswith(b"\n"):
            return None  # cut short: not trusted
        roots: list[str] = header.get("roots") or []
        lines: dict[str, dict[str, str]] = {r: {} for r in roots}
        tables = [lines[r] for r in roots]
        try:
            for line in body.decode("utf-8").splitlines():
                root, b64, tail = line.split("\t", 2)
                tables[int(root)][b64] = tail
        except (ValueError, IndexError):
            return None
        return cls(lines)

    @classmethod
    def from_rows(
        cls, rows: Iterable[Mapping[str, Any]], items: Iterable[MediaItem] = (), *, from_manifest: bool = False
    ) -> ResumeIndex:
        """From manifest rows (parsed), with the kind and format of the scanned ``items`` where known."""
        kinds = {(path_text(i.root), path_b64(i.rel)): (i.kind, i.format or "") for i in items}
        lines: dict[str, dict[str, str]] = {}
        for r in rows:
            root, b64 = r.get("input_root", ""), r["source_b64"]
            err = r.get("error") or {}
            warn = (r.get("warnings") or [{}])[0]
            kind, fmt = kinds.get((root, b64), ("", ""))
            # a file toolkit.curate's looser filters took back but could not decode: work for the next build
            needs_build = any(w.get("type") == "needs-build" for w in r.get("warnings") or ())
            lines.setdefault(root, {})[b64] = Entry(
                int(r.get("bytes_in") or 0),
                int(r.get("mtime_ns") or 0),
                kind,
                fmt,
                "needs-build" if needs_build else r["status"],
                err.get("type") or warn.get("type") or "",
                r.get("settings") or "",
                _sidecars(r),
                json.dumps(r.get("outputs") or [], ensure_ascii=True),
            ).text()
        return cls(lines, from_manifest=from_manifest)

    # ------------------------------------------------------------------ writing
    def write(self, output: Path, manifest: Path) -> None:
        """Atomically, naming the manifest as it is now (call after its last write of the run)."""
        roots = sorted(self.lines)
        header = {"version": VERSION, "manifest": manifest_stamp(manifest), "roots": roots}
        out = [json.dumps(header)]
        for n, root in enumerate(roots):
            out += [f"{n}\t{b64}\t{tail}" for b64, tail in sorted(self.lines[root].items())]
        with atomic_write(output / INDEX, root=output) as fh:
            fh.write(("\n".join(out) + "\n").encode("utf-8"))

    def with_kinds(self, items: Iterable[MediaItem]) -> ResumeIndex:
        """The same entries, with the scanned items' kind and format filled in."""
        for i in items:
            table = self.lines.get(path_text(i.root))
            b64 = path_b64(i.rel)
            tail = table.get(b64) if table is not None else None
            if table is not None and tail is not None:
                size, mtime, kind, _, rest = tail.split("\t", 4)
                if not kind:
                    table[b64] = "\t".join((size, mtime, i.kind, i.format or "", rest))
        return self
