"""Curation wired into builds: the build's :class:`BuildCurator`, and :func:`curate` for a finished build.

The rules are pure (toolkit/_curate); this module only reads and writes: the manifest's rows, the
rows of the manifest the build replaces, ``OUTPUT/curation.json`` (the class index and the split
settings the rows were made with) and ``OUTPUT/curation-splits.tsv`` (every file placed in a split
with those settings: carried forward whatever builds came between), each written atomically, in
the order :func:`curate_output` keeps. Curation reads facts only (sizes, hashes, sharpness), so
re-curating a build, with new settings or more files, decodes nothing: the build carries every
unchanged file (the curation keys are not part of the resume key) and this stage runs again over
all the rows. Only files the probe left out for their size are decoded, when looser filters take them.

With no curation asked for and no ``curation.json`` (no earlier build curated), nothing here runs:
the manifest is as it always was, with no curation field. A build with curation off after one that
curated gives every row back as the build made it (:func:`toolkit._curate.reset`).
"""

from __future__ import annotations

import gc
import json
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from ._curate import Curated, CurationSettings, curate_rows
from ._curate._carry import Assigned
from ._errors import InputError
from ._fs import atomic_write
from ._manifest import MANIFEST, SUMMARY, Manifest, read_rows
from ._runreport import needs_build_text, unhashed_text

if TYPE_CHECKING:
    from ._stages import StageContext

__all__ = ["BuildCurator", "curate", "STATE", "CURATION_KEYS"]

STATE = "curation.json"
ASSIGNED = "curation-splits.tsv"  # every file placed in a split, and the split settings (toolkit/_curate/_carry.py)
CURATION_KEYS = ("labels", "captions", "dedupe", "near_distance", "filters", "splits", "split_seed")
Row = dict[str, Any]


def read_state(output: str | os.PathLike) -> dict[str, Any] | None:
    """The ``curation.json`` an earlier curation wrote, or None (none, or not ours)."""
    try:
        doc = json.loads((Path(output) / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == "dataprep-curation" else None


def write_state(output: str | os.PathLike, state: Mapping[str, Any]) -> None:
    with atomic_write(Path(output) / STATE, durable=True, root=output) as fh:
        fh.write(json.dumps(state, indent=2).encode())


def write_before(output: str | os.PathLike, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
    """Written before the manifest: a state true of both the manifest on disk and the one about to
    replace it, so a stop between the two writes loses nothing. Its class index is the new one (a
    superset of the old: numbers only ever added), so a class number the new manifest shows is never
    given to another class; its splits are the old ones only where they are the new ones too (else
    none: the next build re-splits, as this one did)."""
    same = (old or {}).get("splits") == new.get("splits")
    write_state(output, {**new, "splits": new.get("splits") if same else None})


def read_assigned(output: str | os.PathLike) -> Assigned | None:
    """The split assignment kept beside the manifest (:mod:`toolkit._curate._carry`), or None."""
    try:
        return Assigned.from_bytes((Path(output) / ASSIGNED).read_bytes())
    except OSError:
        return None


def curate_output(
    output: str | os.PathLike,
    rows: Sequence[Row],
    settings: CurationSettings,
    previous: Iterable[Row],
    write_rows: Callable[[list[Row]], None],
) -> Curated:
    """Curate ``rows`` and write the result, in an order a stop between any two writes survives:
    curation.json as :func:`write_before` says, the split assignment (a superset of the one the
    manifest on disk was split with: new files only added), the manifest (``write_rows``), then
    curation.json as it is now. The assignment is read only with splits, written only when it changed."""
    old = read_state(output)
    assigned = read_assigned(output) if settings.splits else None
    done = curate_rows(rows, settings, previous, old, assigned)
    write_before(output, done.state, old)
    if done.assigned is not None and done.assigned != assigned:
        with atomic_write(Path(output) / ASSIGNED, durable=True, root=output) as fh:
            fh.write(done.assigned.to_bytes())
    write_rows(done.rows)
    write_state(output, done.state)
    return done


def asked(settings: CurationSettings) -> bool:
    """Whether these settings ask for any curation at all."""
    f = settings.filters
    return (
        settings.labels != "none"
        or settings.dedupe != "off"
        or bool(settings.splits)
        or any(v is not None for v in (f.min_side, f.max_aspect, f.min_sharpness))
    )


def wanted(settings: CurationSettings, output: str | os.PathLike) -> bool:
    """Whether curation runs: asked for, or an earlier build curated (its verdicts are undone)."""
    return asked(settings) or (Path(output) / STATE).exists()


def report_of(done: Curated, settings: CurationSettings) -> dict[str, Any]:
    """The ``curation`` section of summary.json (the rules' report, and the settings it used)."""
    return {
        **done.report,
        "settings": {
            **settings.filters.__dict__,
            "labels": settings.labels,
            "captions": settings.captions,
            "dedupe": settings.dedupe,
            "near_distance": settings.near_distance,
            "splits": dict(settings.splits),
            "split_seed": settings.split_seed,
        },
    }


class BuildCurator:
    """The build's curator: every row of the manifest in, curated rows out (written back to the
    manifest and ``curation.json``). ``previous``: the rows of the manifest this build replaces,
    read before it was rewritten (``Files.earlier``). ``report`` holds summary.json's ``curation``
    section once it has run (None if it did not run: curation neither asked for nor done before)."""

    def __init__(self, settings: CurationSettings, previous: Iterable[Row]):
        self.settings = settings
        self.previous = list(previous)
        self.report: dict[str, Any] | None = None

    def curate(self, rows: Sequence[Row], ctx: StageContext) -> Sequence[Row]:
        if not wanted(self.settings, ctx.output):
            return rows

        def write_rows(curated: list[Row]) -> None:
            ctx.manifest.append(curated)  # the run's appending is over: this only replaces its rows
            ctx.manifest.finish()  # rewritten atomically, as at the end of the batches

        done = curate_output(ctx.output, rows, self.settings, self.previous, write_rows)
        # {} when only undoing an earlier curation: the counts are recounted, no section is written
        self.report = report_of(done, self.settings) if asked(self.settings) else {}
        return done.rows


def curate(output: str | os.PathLike, **settings: Any) -> dict[str, Any]:
    """Re-curate a finished build from Python, without a cluster (nothing is decoded): read its
    manifest and ``curation.json``, curate with ``settings`` (the curation keys: labels, captions,
    dedupe, near_distance, filters, splits, split_seed; a key not given keeps the value the build's
    ``summary.json`` records), write both back atomically, and return the report (summary.json's
    ``curation`` section, also written there with the new counts), then writes the card,
    ``manifest.parquet`` and the build's exports again from the new rows (toolkit/_reexport.py: in
    this process, of the outputs on disk). Holds the output's lock. A new
    ``captions`` reads the sidecars again from the input folders (toolkit/_recaption.py).
    A build that was stopped is refused (InputError): build again to finish it.
    Files the build's probe left out for their size have no outputs: when today's filters would
    take them, they stay ``skipped`` (``needs-build``), counted in ``needs_build``, and a warning
    says to build again."""
    from ._config import BuildConfig
    from ._preflight import lock_output

    out = Path(output)
    unknown = sorted(set(settings) - set(CURATION_KEYS))
    if unknown:
        raise InputError(f"unknown curation setting {unknown[0]!r} (known: {', '.join(CURATION_KEYS)})")
    if not (out / MANIFEST).is_file():
        raise InputError(f"no build in {out}: it has no {MANIFEST}")
    summary = _read_json(out / SUMMARY)
    if summary.get("stopped"):  # its manifest lacks the files it had not reached: curated, they would be left out
        raise InputError(
            f"the build in {out} was stopped before every file had its row: build again to finish it, then re-curate "
            "(nothing was changed)"
        )
    before = {k: v for k, v in (summary.get("settings") or {}).items() if k in CURATION_KEYS}
    cfg = BuildConfig.create(**{**before, **settings})  # each key checked, errors naming it
    chosen = cfg.curation
    lock = lock_output(str(out))
    collecting = gc.isenabled()
    # the collector's passes over every row's dicts and lists cost a fifth of the call (10,000 rows); the
    # few cycles made here (the card's figures) are collected once it is back on
    gc.disable()
    try:
        manifest = Manifest(out)
        rows = read_rows(manifest.path)
        if chosen.captions != before.get("captions", "sidecar"):  # read from the inputs again, not decoded
            from ._recaption import recaption

            rows = recaption(rows, chosen.captions, out)
        done = curate_output(out, rows, chosen, rows, manifest.write_all)
        report = report_of(done, chosen)
        if report["needs_build"]:  # the probe left them out unbuilt: curation has nothing to add
            warnings.warn(needs_build_text(report["needs_build"]), stacklevel=2)
        if report["unhashed"]:
            warnings.warn(unhashed_text(report["unhashed"]), stacklevel=2)
        if summary:
            from ._reexport import reexport

            summary["counts"] = dict(Counter(r["status"] for r in done.rows))
            summary["curation"] = report
            summary["decoded"] = 0
            summary.setdefault("settings", {}).update({k: getattr(cfg, k) for k in CURATION_KEYS})
            summary["exports"] = {}  # listed again once written: until then toolkit.load takes no export for this curation's
            Manifest(out).write_summary(summary)  # the new counts stand even if an export cannot be written
            summary["exports"] = reexport(out, summary["settings"], done.rows, lambda: report)
            Manifest(out).write_summary(summary)
        return report
    finally:
        if collecting:
            gc.enable()
        lock.release()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
