"""The split assignment carried across builds: every file ever placed, and the split it is in.

The manifest's ``split`` fields say where today's files are, but only while splits are on and the
file is in the dataset: a build without splits clears them, a file filtered out for a while or
removed from the input has none. So the assignment is kept on its own, beside the manifest
(``OUTPUT/curation-splits.tsv``), with the split settings it was made with, and carried forward
whenever a build asks for the same settings, whatever builds came between. It only grows while the
settings stay the same (a file once placed keeps its entry); other settings start it afresh.

Why its own file and this form: a build of a million files would hold a million entries. As JSON
inside ``curation.json`` that is a large document parsed by every reader of the class index; as
rows it is one short line per file (``name index TAB input index TAB source_b64``, the names and
input folders listed once in the first line), about 50 bytes a file, read and written only when
splits are asked for, and written only when it changed. ``source_b64`` is base64: no tab, no newline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ._rows import Row, key

__all__ = ["Assigned", "FORMAT"]

FORMAT = "dataprep-splits"
Key = tuple[str, str]


@dataclass(frozen=True)
class Assigned:
    """``splits``: (input folder, source_b64) -> split name, made with ``state`` (the settings'
    :meth:`CurationSettings.split_state`: fractions and seed)."""

    state: Mapping[str, Any]
    splits: Mapping[Key, str] = field(default_factory=dict)

    def for_state(self, state: Mapping[str, Any] | None) -> Mapping[Key, str]:
        """The assignment if it was made with these settings, else nothing (a re-split)."""
        return self.splits if state is not None and dict(self.state) == dict(state) else {}

    def grown(self, state: Mapping[str, Any], rows: Iterable[Row]) -> "Assigned":
        """This assignment (if made with ``state``) plus every row's split: the next one to keep.
        A row's split is its carried one when it has an entry (carried files never move)."""
        out = dict(self.for_state(state))
        out.update((key(r), r["split"]) for r in rows if r.get("split") is not None)
        return Assigned(dict(state), out)

    def to_bytes(self) -> bytes:
        names = sorted(set(self.splits.values()))
        roots = sorted({root for root, _ in self.splits})
        head = {"format": FORMAT, "version": 1, "settings": dict(self.state), "names": names, "roots": roots}
        n, r = {s: i for i, s in enumerate(names)}, {s: i for i, s in enumerate(roots)}
        lines = [json.dumps(head, ensure_ascii=False, sort_keys=True)]
        lines += [f"{n[s]}\t{r[root]}\t{b64}" for (root, b64), s in sorted(self.splits.items())]
        return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")

    @classmethod
    def from_bytes(cls, data: bytes) -> "Assigned | None":
        """The assignment written by :meth:`to_bytes`, or None for anything else (another file,
        one cut short: every line must be whole, or the file is not trusted at all)."""
        try:
            text = data.decode("utf-8", "surrogatepass")  # (a damaged file may not be UTF-8 at all)
            if not text.endswith("\n"):
                return None
            first, _, body = text.partition("\n")
            head = json.loads(first)
            if not isinstance(head, dict) or head.get("format") != FORMAT or not isinstance(head.get("settings"), dict):
                return None
            names, roots = list(head["names"]), list(head["roots"])
            splits = {}
            for line in body.splitlines():
                i, j, b64 = line.split("\t")
                if not (i.isdigit() and j.isdigit()):  # (a negative index would name another entry)
                    return None
                splits[(roots[int(j)], b64)] = names[int(i)]
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        return cls(head["settings"], splits)
