"""A resume with nothing to do, decided before any cluster starts.

A finished build is compared to what is on disk now: the scan (files whose size and mtime the
resume index (:mod:`toolkit._index`) knows are not sniffed again) against the index, and the
settings against ``summary.json``'s (the stamp of what the stages last saw: it is written at the end
of every run, and says whether that run stopped). When every input is there with the same size,
mtime, settings key and sidecars, no other file came or went, the last run completed with these same
settings (writing every export they name, none with an error or missing outputs) and no earlier
run left rows aside or journals behind, there is nothing to do: no cluster, no manifest write, no
curation, export or card; only ``summary.json`` says that this run carried every file. Earlier
outputs are trusted then; ``verify`` lists their folders once and checks every one, and every file
of the exports (a missing one sends the build the long way, which redoes its file or export).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from ._config import BuildConfig
from ._index import ResumeIndex, sidecar_text
from ._manifest import MANIFEST, SUMMARY, Manifest, existing_files, read_rows
from ._runreport import RunReport, tally_rows
from ._scan import ScanResult

__all__ = ["load_index", "may_be_unchanged", "unchanged", "report_unchanged"]


def load_index(out: Path) -> ResumeIndex | None:
    """The output's resume index; made from the manifest (read once) when it is missing or stale."""
    manifest = out / MANIFEST
    index = ResumeIndex.load(out, manifest)
    if index is None and manifest.exists():
        index = ResumeIndex.from_rows(read_rows(manifest), from_manifest=True)
    return index


def _summary(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out / SUMMARY).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def may_be_unchanged(cfg: BuildConfig, out: Path, index: ResumeIndex | None, salvaged: list) -> dict[str, Any] | None:
    """``summary.json`` when a scan may find nothing to do: the last run completed with these very
    settings, nothing is kept aside or salvaged, and ``force`` is off; else None."""
    if cfg.force or salvaged or index is None or (out / ".dataprep" / "previous.jsonl").exists():
        return None
    summary = _summary(out)
    if summary is None or summary.get("stopped") or summary.get("stop_reason") or not _exports_stand(cfg, summary):
        return None
    if _making(summary.get("settings") or {}) != _making(json.loads(json.dumps(cfg.to_dict()))):
        return None
    return summary


def _exports_stand(cfg: BuildConfig, summary: dict[str, Any]) -> bool:
    """Whether the last run wrote ``manifest.parquet`` and every export these settings name, none
    with an error (a card that could not be drawn) or outputs it found missing: else the stages run
    again. (``toolkit.curate`` lists its exports only once they are written: a re-export that failed
    leaves none.)"""
    exports = summary.get("exports")
    if not isinstance(exports, dict) or "manifest_parquet" not in exports or any(n not in exports for n in cfg.exports):
        return False
    return not any(not isinstance(f, dict) or f.get("error") or f.get("missing") for f in exports.values())


def _making(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that make the dataset (not those that only run the build: ``RUN_ONLY``)."""
    from ._settings import RUN_ONLY

    return {k: v for k, v in settings.items() if k not in RUN_ONLY}


def unchanged(index: ResumeIndex, scanned: ScanResult, settings: str, out: Path, verify: bool) -> bool:
    """Whether every scanned file is as the index has it (and no other): nothing to do."""
    from ._sidecar import current_stamp

    if len(scanned.items) + len(scanned.rows) != len(index):
        return False
    seen = scanned.seen
    for it in scanned.items:
        rest = seen.get((it.root, it.rel))  # None: not in the index, or another size or mtime
        if rest is None:
            return False
        status, _, key, sidecars, _ = rest.split("\t", 4)
        if status not in ("ok", "skipped") or key != settings:
            return False
        if sidecars != (sidecar_text(current_stamp(it)) if (it.caption_path or it.meta_path) else ""):
            return False
    for r in scanned.rows:  # left out by the scan: the same verdict as before
        e = index.entry(r.input_root, r.source_b64)
        if e is None or e.status != r.status or e.reason != (r.reason.type if r.reason else ""):
            return False
    return not verify or not missing_outputs(index, out)


def missing_outputs(index: ResumeIndex, out: Path) -> list[str]:
    """Outputs the index lists that are not on disk (each folder listed once, not each file stat'ed)."""
    listed = [o for e in index.entries() if e.outputs != "[]" for o in json.loads(e.outputs)]
    there = existing_files(out, listed)
    return [o for o in listed if o not in there]


def missing_exports(out: Path, exports: dict[str, Any]) -> list[str]:
    """The files of the last run's exports (``summary.json``'s ``exports``) that are not on disk:
    ``manifest.parquet``, the card and its pictures, each split's shard index and the shards it
    names, the image folder's files as its ``metadata.jsonl`` lists them."""
    from ._export._runner import index_name, read_index

    listed = ["manifest.parquet"]
    for name, fig in exports.items():
        if name == "card":
            listed += ["README.md", *(fig.get("pictures") or ())]
        for split, made in (fig.get("splits") or {}).items() if name in ("webdataset", "parquet") else ():
            shards = [e["name"] for e in read_index(out / name, split, name).get("shards") or () if "name" in e]
            if not isinstance(made, dict) or len(shards) != made.get("shards"):
                listed.append(f"{name}/{index_name(split, name)}")  # (an index missing or not the one written)
            listed += [f"{name}/{s}" for s in shards]
        if name == "imagefolder":
            listed += ["imagefolder/README.md", *_placed(out / name, fig.get("files"))]
    there = existing_files(out, listed)
    return [o for o in listed if o not in there]


def _placed(folder: Path, files: Any) -> list[str]:
    """The image folder's files, as each split's ``metadata.jsonl`` names them; a name that is never
    a file (``*/metadata.jsonl``) when they are not the ``files`` the export placed, or unreadable."""
    listed = []
    try:
        for meta in folder.glob("*/metadata.jsonl"):
            lines = meta.read_text(encoding="utf-8").splitlines()
            listed += [f"{folder.name}/{meta.parent.name}/{json.loads(line)['file_name']}" for line in lines if line]
    except (OSError, ValueError, KeyError, TypeError):
        return [f"{folder.name}/*/metadata.jsonl"]
    return listed if len(listed) == files else [*listed, f"{folder.name}/*/metadata.jsonl"]


def report_unchanged(
    cfg: BuildConfig, out: Path, summary: dict[str, Any], index: ResumeIndex, scanned: ScanResult, t_start: float, emit: Callable
) -> RunReport:
    """The run's events and report, ``summary.json`` for this run, and the index if it was made
    from the manifest; nothing else is written."""
    left_out = [r.to_row() for r in scanned.rows]
    emit(
        "run-started",
        files=0,
        bytes=0,
        batches=0,
        batch_size=0,
        budget_bytes=0,
        memory_limit=0,
        workers=0,
        output=str(out),
        carried=len(scanned.items),
        left_out=len(left_out),
    )
    for r in left_out:
        emit("item", row=r, left_out=True)
    from ._ledger import MAX_FAILURES_KEPT

    failed = tally_rows((r for r in left_out if r["status"] == "failed"), keep=MAX_FAILURES_KEPT)
    seconds = time.perf_counter() - t_start
    report = RunReport(
        output=str(out),
        manifest=str(out / MANIFEST),
        counts=summary.get("counts") or {},
        errors=summary.get("errors") or {},
        warnings=summary.get("warnings") or {},
        bytes_in=summary.get("bytes_in") or 0,
        bytes_out=summary.get("bytes_out") or 0,
        seconds=seconds,
        cluster_seconds=0.0,
        batches=0,
        worker_restarts=0,
        files_per_second=0.0,
        failures=tuple(failed.failures),
        curation=summary.get("curation"),
    )
    if index.from_manifest:  # an output from before the index: made once, so the next resume reads it
        index.with_kinds(scanned.items).write(out, out / MANIFEST)
    keep: dict[str, Any] = {k: summary[k] for k in ("exports", "curation") if k in summary}
    manifest = Manifest(out)
    manifest.write_summary(
        {
            **report.summary(),
            **keep,
            "resumed": len(scanned.items),
            "decoded": 0,
            "stale_outputs_removed": 0,
            "unchanged": True,
            "throttle": [],
            "settings": cfg.to_dict(),
        }
    )
    emit("run-finished", report=report)
    return report


def try_unchanged(
    cfg: BuildConfig,
    out: Path,
    index: ResumeIndex | None,
    salvaged: list,
    emit: Callable,
    stopped: Callable[[], bool],
    t_start: float,
) -> tuple[RunReport | None, ScanResult | None]:
    """(the report, None) when there is nothing to do; else (None, the scan if one was made, for the
    build to go on with)."""
    summary = may_be_unchanged(cfg, out, index, salvaged)
    if summary is None or index is None:
        return None, None
    from ._curate._labels import check_labels
    from ._scan import scan

    scanned = scan(cfg.inputs, exclude=[out], cancel=stopped, captions=cfg.captions, known=index.lines)
    check_labels(cfg.labels, [*(i.rel for i in scanned.items), *(r.source for r in scanned.rows)])
    if not unchanged(index, scanned, cfg.settings_key, out, cfg.verify):
        return None, scanned
    if cfg.verify and missing_exports(out, summary["exports"]):  # (may_be_unchanged: a dict of dicts)
        return None, scanned
    return report_unchanged(cfg, out, summary, index, scanned, t_start, emit), None
