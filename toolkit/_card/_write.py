"""Writing the card: ``OUT/README.md`` and the pictures in ``OUT/card/``, each atomically.

:func:`write_card` needs no cluster (tests, re-curation, a notebook); :class:`toolkit._card.CardSink`
runs it on a worker during a build. A file that cannot be written (read-only, disk full) is an
``OutputWriteError`` naming it, as for any output.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .._fs import write_bytes_atomic, writing
from ._facts import CardFacts, card_facts
from ._grids import duplicate_grid, sample_grid
from ._header import EXPORTS, header, header_text
from ._plots import label_plot, sharpness_plot, size_plot
from ._prose import prose

__all__ = ["write_card", "README", "CARD_DIR", "PICTURES", "exports_on_disk"]

README = "README.md"
CARD_DIR = "card"
#: the pictures, in the order the card shows them: name -> how it is drawn
PICTURES: dict[str, Callable[[CardFacts, Path], bytes | None]] = {
    "labels": lambda f, out: label_plot(f),
    "sizes": lambda f, out: size_plot(f),
    "sharpness": lambda f, out: sharpness_plot(f),
    "samples": sample_grid,
    "duplicates": duplicate_grid,
}


def exports_on_disk(output: str | os.PathLike) -> list[str]:
    """The exports an output folder holds (their folders with files in them)."""
    out = Path(output)
    found = {
        "parquet": any(out.glob("parquet/*.parquet")),
        "imagefolder": (out / "imagefolder").is_dir() and any((out / "imagefolder").iterdir()),
        "webdataset": any(out.glob("webdataset/*.tar")),
    }
    return [e for e in EXPORTS if found[e]]


def _put(path: Path, data: bytes, root: Path) -> None:
    write_bytes_atomic(path, data, root=root)  # an output as any other (its fault hook included)


def write_card(
    output: str | os.PathLike,
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any] | None = None,
    *,
    exports: Sequence[str] | None = None,
    source: str | None = None,
    license: str | None = None,
    title: str | None = None,
    pictures: bool = True,
) -> dict[str, Any]:
    """Write ``OUT/README.md`` (a Hugging Face dataset card) and its pictures in ``OUT/card/``.

    ``rows``: every row of the build (``read_rows(OUT / "manifest.jsonl")``), curated;
    ``summary``: summary.json's content (its ``settings``, and ``curation`` if written);
    ``exports``: the exports the card names (None: those on disk); ``source``, ``license``: the
    settings ``card_source``, ``card_license`` (``unknown`` when None); ``pictures=False`` writes
    the text alone. Returns the figures for summary.json (``exports["card"]``)."""
    t0 = time.perf_counter()
    out = Path(output)
    facts = card_facts([dict(r) for r in rows], summary)
    present = list(exports_on_disk(out) if exports is None else [e for e in EXPORTS if e in exports])
    drawn: list[str] = []
    if pictures:
        for name, draw in PICTURES.items():
            target = out / CARD_DIR / f"{name}.png"
            data = draw(facts, out)
            if data is not None:
                _put(target, data, out)
                drawn.append(name)
            elif target.exists():  # drawn by an earlier build, nothing to show now
                with writing(target):
                    target.unlink()
    name = title or out.resolve().name or "dataset"
    text = header_text(header(facts, present, pretty_name=name, license=license))
    text += "\n" + prose(facts, present, drawn, title=name, source=source, license=license)
    _put(out / README, text.encode("utf-8"), out)
    return {
        "readme": README,
        "pictures": [f"{CARD_DIR}/{n}.png" for n in drawn],
        "samples": facts.total,
        "seconds": round(time.perf_counter() - t0, 3),
    }
