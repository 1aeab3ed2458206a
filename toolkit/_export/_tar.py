"""One WebDataset shard, written on a worker: a POSIX tar of samples whose members are named
``<key>.<ext>``, byte-identical for the same samples (fixed order, mtime 0, uid/gid 0, no user or
group names, mode 0644), written under a temporary name and renamed into place."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any, Sequence

from .._fs import atomic_write
from ._members import facts_json, image_size, read_output
from ._samples import Sample

__all__ = ["write_tar", "JSON_TEXT"]

#: the ``.json``'s text fields that are in every sample when one sample of the export has them (HF's
#: webdataset loader types the ``.json`` from the first samples and drops the fields they lack):
#: the caption as "" where there is none (as the ``.txt``), the JSON texts as "null"
JSON_TEXT = {"caption": "", "meta": "null", "facts": "null"}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_tar(dest: str, samples: Sequence[Sample], root: str, options: dict[str, Any]) -> dict[str, Any]:
    """Write ``samples`` to the tar ``dest``; ``options``: ``cls`` / ``txt`` (whether every sample has
    a ``.cls`` / ``.txt`` member, so loaders see one set of fields), ``text``: the :data:`JSON_TEXT`
    fields every ``.json`` holds. -> ``samples`` written, ``bytes``,
    ``missing`` (outputs that could not be read: left out)."""
    missing: list[str] = []
    written = 0
    with atomic_write(Path(dest), root=root) as fh:
        with tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for s in samples:
                data = read_output(root, s)
                if data is None:
                    missing.append(s.output)
                    continue
                width, height = image_size(s, data)
                facts = {**s.facts, "width": width, "height": height}
                facts.update({k: JSON_TEXT[k] for k in options.get("text", ()) if facts.get(k) is None})
                _add(tar, f"{s.key}.{s.ext}", data)
                if options.get("cls") and s.label_index is not None:
                    _add(tar, f"{s.key}.cls", str(s.label_index).encode())
                _add(tar, f"{s.key}.json", facts_json(facts))
                if options.get("txt"):
                    _add(tar, f"{s.key}.txt", (s.caption or "").encode("utf-8", "surrogatepass"))
                written += 1
    return {"samples": written, "bytes": os.path.getsize(dest), "missing": missing}
