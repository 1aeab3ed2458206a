"""The resume index: ``OUTPUT/.dataprep/index.tsv``, what a resume compares a scan against.

One line per manifest row, sorted as the manifest: input folder (a number into the header's list),
``source_b64``, status, the reason's type, size, mtime_ns, settings key, kind, format, the sidecar
stamp (JSON; ``?`` when the row has a caption or metadata read without one) and the outputs (JSON).
The header (a JSON line) names the manifest it was made from by size, mtime_ns and inode: any
rewrite of the manifest (a build, ``toolkit.curate``) makes it stale, and a stale or missing index
is made again from the manifest (read once) by the next run. Reading it is splitting lines, not
parsing JSON: about 0.1 s for 100,000 rows (why a text file and not SQLite: docs/architecture.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ._fs import atomic_write, path_b64, path_text
from ._media import MediaItem

__all__ = ["Entry", "ResumeIndex", "INDEX"]

INDEX = ".dataprep/index.tsv"
VERSION = 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One input's last row, as far as a resume compares it."""

    status: str
    reason: str  # the error's type (or the first warning's), "" when none
    size: int
    mtime_ns: int
    settings: str
    kind: str  # from the scan that made the row; "" when unknown (an index made from a manifest)
    format: str
    sidecars: str  # JSON of the sidecar stamp, "" when none, "?" when read without a stamp
    outputs: str  # JSON list


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
    """``entries[input_root][source_b64]`` -> :class:`Entry`."""

    def __init__(self, entries: dict[str, dict[str, Entry]], *, from_manifest: bool = False):
        self.entries = entries
        self.from_manifest = from_manifest  # made from the manifest this run: written once the run knows the kinds

    def __len__(self) -> int:
        return sum(len(v) for v in self.entries.values())

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
        if not body.endswith(b"\n") and body:
            return None  # cut short: not trusted
        roots: list[str] = header.get("roots") or []
        entries: dict[str, dict[str, Entry]] = {r: {} for r in roots}
        tables = [entries[r] for r in roots]
        try:
            for line in body.decode("utf-8").splitlines():
                root, b64, st, reason, size, mtime, settings, kind, fmt, side, outs = line.split("\t")
                tables[int(root)][b64] = Entry(st, reason, int(size), int(mtime), settings, kind, fmt, side, outs)
        except (ValueError, IndexError):
            return None
        return cls(entries)

    @classmethod
    def from_rows(
        cls, rows: Iterable[Mapping[str, Any]], items: Iterable[MediaItem] = (), *, from_manifest: bool = False
    ) -> ResumeIndex:
        """From manifest rows (parsed), with the kind and format of the scanned ``items`` where known."""
        kinds = {(path_text(i.root), path_b64(i.rel)): (i.kind, i.format or "") for i in items}
        entries: dict[str, dict[str, Entry]] = {}
        for r in rows:
            root, b64 = r.get("input_root", ""), r["source_b64"]
            err = r.get("error") or {}
            warn = (r.get("warnings") or [{}])[0]
            kind, fmt = kinds.get((root, b64), ("", ""))
            entries.setdefault(root, {})[b64] = Entry(
                r["status"],
                err.get("type") or warn.get("type") or "",
                int(r.get("bytes_in") or 0),
                int(r.get("mtime_ns") or 0),
                r.get("settings") or "",
                kind,
                fmt,
                _sidecars(r),
                json.dumps(r.get("outputs") or [], ensure_ascii=True),
            )
        return cls(entries, from_manifest=from_manifest)

    # ------------------------------------------------------------------ writing
    def write(self, output: Path, manifest: Path) -> None:
        """Atomically, naming the manifest as it is now (call after its last write of the run)."""
        roots = sorted(self.entries)
        header = {"version": VERSION, "manifest": manifest_stamp(manifest), "roots": roots}
        lines = [json.dumps(header)]
        for n, root in enumerate(roots):
            for b64, e in sorted(self.entries[root].items()):
                fields = (e.status, e.reason, e.size, e.mtime_ns, e.settings, e.kind, e.format, e.sidecars, e.outputs)
                lines.append(f"{n}\t{b64}\t" + "\t".join(str(f) for f in fields))
        with atomic_write(output / INDEX, root=output) as fh:
            fh.write(("\n".join(lines) + "\n").encode("utf-8"))

    def with_kinds(self, items: Iterable[MediaItem]) -> ResumeIndex:
        """The same entries, with the scanned items' kind and format filled in."""
        for i in items:
            table = self.entries.get(path_text(i.root))
            e = table.get(path_b64(i.rel)) if table is not None else None
            if e is not None and not e.kind:
                table[path_b64(i.rel)] = Entry(  # type: ignore[index]
                    e.status, e.reason, e.size, e.mtime_ns, e.settings, i.kind, i.format or "", e.sidecars, e.outputs
                )
        return self

    def known(self) -> dict[str, dict[str, tuple[int, int, str, str]]]:
        """What the scan may take without sniffing: (size, mtime_ns, kind, format) of each file an
        earlier scan found to be media."""
        return {
            root: {b64: (e.size, e.mtime_ns, e.kind, e.format) for b64, e in table.items() if e.kind}
            for root, table in self.entries.items()
        }
