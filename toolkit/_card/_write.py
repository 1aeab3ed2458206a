"""Writing the card: ``OUT/README.md`` and the pictures in ``OUT/card/``, each atomically.

:func:`write_card` needs no cluster (tests, re-curation, a notebook); :class:`toolkit._card.CardSink`
runs the same steps as tasks on the cluster (:func:`draw_picture` for each picture, side by side,
then :func:`write_readme`). A file that cannot be written (read-only, disk full) is an
``OutputWriteError`` naming it, as for any output. A picture whose digest (toolkit/_card/_digest.py)
says it would come out the same, and a README.md that would be the same text, are not written again.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, cast

from .._fs import write_bytes_atomic, writing
from ._digest import digest_of, drawn_digest
from ._facts import CardFacts, Row, card_facts, image_output
from ._grids import duplicate_data, grid_png, sample_data
from ._header import EXPORTS, header, header_text
from ._plots import label_data, label_plot, sharpness_data, sharpness_plot, size_data, size_plot
from ._prose import prose

__all__ = [
    "write_card",
    "draw_picture",
    "picture_plan",
    "place_picture",
    "write_readme",
    "shows",
    "README",
    "CARD_DIR",
    "PICTURES",
    "exports_on_disk",
]

README = "README.md"
CARD_DIR = "card"
Data = dict[str, Any]
#: the pictures, in the order the card shows them: name -> (what it draws, from the facts and the
#: output folder; how that is drawn, given its digest)
PICTURES: dict[str, tuple[Callable[[CardFacts, Path], Data | None], Callable[[Data, Path, str], bytes]]] = {
    "labels": (lambda f, out: label_data(f), label_plot),
    "sizes": (lambda f, out: size_data(f), size_plot),
    "sharpness": (lambda f, out: sharpness_data(f), sharpness_plot),
    "samples": (sample_data, grid_png),
    "duplicates": (duplicate_data, grid_png),
}


def shows(name: str, facts: CardFacts) -> bool:
    """Whether picture ``name`` has something to show (known before it is drawn: the README,
    written beside the pictures, names those that will be there)."""
    if name == "duplicates":
        return bool(facts.duplicate_groups)
    if name == "sharpness":
        return any(isinstance(v := r.get("sharpness"), (int, float)) and math.isfinite(v) for r in facts.samples)
    if name == "sizes":
        return any(r.get("width") and r.get("height") for r in facts.samples)
    if name == "samples":
        return any(image_output(r) for r in facts.samples)
    return bool(facts.samples)


def exports_on_disk(output: str | os.PathLike) -> list[str]:
    """The exports an output folder holds (their folders with files in them)."""
    out = Path(output)
    found = {
        "parquet": any(out.glob("parquet/*.parquet")),
        "imagefolder": (out / "imagefolder").is_dir() and any((out / "imagefolder").iterdir()),
        "webdataset": any(out.glob("webdataset/*.tar")),
    }
    return [e for e in EXPORTS if found[e]]


def picture_plan(output: Path, name: str, facts: CardFacts) -> tuple[Data, str] | None:
    """What picture ``name`` draws (its data) and that data's digest; None: nothing to show."""
    pick, _ = PICTURES[name]
    data = pick(facts, output) if shows(name, facts) else None
    return None if data is None else (data, digest_of(name, data))


def place_picture(output: Path, name: str, plan: tuple[Data, str] | None) -> str | None:
    """Put picture ``name`` as ``plan`` says in ``OUT/card/{name}.png`` -> ``name``, or None when
    it has nothing to show (a picture an earlier build drew is removed then). The picture there is
    left as it is when it carries the plan's digest; else it is drawn."""
    target = output / CARD_DIR / f"{name}.png"
    if plan is None:
        if target.exists():
            with writing(target):
                target.unlink()
        return None
    data, digest = plan
    if drawn_digest(target) != digest:
        png = PICTURES[name][1](data, output, digest)
        write_bytes_atomic(target, png, root=output)  # an output as any other (its fault hook included)
    return name


def draw_picture(
    output: str | os.PathLike,
    name: str,
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any] | None,
    facts: CardFacts | None = None,
) -> str | None:
    """Draw picture ``name`` into ``OUT/card/{name}.png`` unless it is there already
    (:func:`place_picture`) -> ``name``, or None when there is nothing to show. ``facts``: the
    rows' card facts when the caller has them (one drawing several pictures), else counted here."""
    out = Path(output)
    facts = facts if facts is not None else card_facts(_rows(rows), summary, leakage=False)
    return place_picture(out, name, picture_plan(out, name, facts))


def write_readme(
    output: str | os.PathLike,
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any] | None,
    drawn: Sequence[str | None] | None = None,
    *,
    exports: Sequence[str] | None = None,
    source: str | None = None,
    license: str | None = None,
    title: str | None = None,
    facts: CardFacts | None = None,
) -> dict[str, Any]:
    """Write ``OUT/README.md`` naming the pictures ``drawn`` (None: those :func:`shows` says will
    be drawn) -> the card's figures. ``facts``: the rows' card facts with the leakage check, when
    the caller has them. A README.md that holds this text already is left as it is."""
    out = Path(output)
    facts = facts if facts is not None else card_facts(_rows(rows), summary)
    if drawn is None:
        drawn = [n for n in PICTURES if shows(n, facts)]
    present = list(exports_on_disk(out) if exports is None else [e for e in EXPORTS if e in exports])
    shown = [n for n in drawn if n]
    name = title or out.resolve().name or "dataset"
    classes = None
    if present[:1] == ["parquet"]:  # the header names the parquet shards' features
        from .._export._sinks import class_index

        classes = class_index(out, any(r.get("label_index") is not None for r in facts.samples))
    text = header_text(header(facts, present, pretty_name=name, license=license, classes=classes))
    text += "\n" + prose(facts, present, shown, title=name, source=source, license=license)
    data = text.encode("utf-8")
    if _read(out / README) != data:  # a few kilobytes: compared as they are
        write_bytes_atomic(out / README, data, root=out)
    return {"readme": README, "pictures": [f"{CARD_DIR}/{n}.png" for n in shown], "samples": facts.total}


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
    facts = card_facts(_rows(rows), summary)
    plans = {n: picture_plan(out, n, facts) for n in PICTURES} if pictures else {}
    drawn = [place_picture(out, n, plan) for n, plan in plans.items()]
    figures = write_readme(
        output, rows, summary, drawn, exports=exports, source=source, license=license, title=title, facts=facts
    )
    return {**figures, "seconds": round(time.perf_counter() - t0, 3)}


def _rows(rows: Sequence[Mapping[str, Any]]) -> Sequence[Row]:
    """The rows as the facts read them (they only read: no copy is made)."""
    return cast("Sequence[Row]", rows)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
