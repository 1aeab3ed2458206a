"""What a build did: :class:`RunReport` (returned by ``build``/``Run.result``, printed, shown as HTML)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from collections import Counter
from typing import Any, Callable, Iterable

from ._fs import printable
from ._manifest import MANIFEST
from ._units import format_bytes

__all__ = [
    "RunReport",
    "Counts",
    "Tally",
    "tally_rows",
    "ok_warning_types",
    "warnings_line",
    "stopped_report",
    "needs_build_text",
    "unhashed_text",
]


class Counts(dict):
    """A plain dict of counts in which a key that did not occur reads as 0 (``report.counts["failed"]``)."""

    def __missing__(self, key: str) -> int:
        return 0


@dataclass(frozen=True)
class RunReport:
    """What a build did. Prints as a table; renders as HTML in a notebook."""

    output: str
    manifest: str
    counts: dict[str, int]
    errors: dict[str, int]
    bytes_in: int
    bytes_out: int
    seconds: float
    cluster_seconds: float
    batches: int
    worker_restarts: int
    files_per_second: float
    failures: tuple[tuple[str, str, str], ...] = ()  # (source, code, message), first few
    stopped: bool = False
    peaks: dict[str, Any] = field(default_factory=dict)
    events: tuple[dict, ...] = ()
    #: files that finished ``ok`` with a warning, by warning type (``truncated``, ``fewer-frames``, ``exif``...)
    warnings: dict[str, int] = field(default_factory=dict)
    #: why the run stopped by itself (``{type, message, path, errno}``; ``output-write-failed``: the
    #: output could not be written), or None (it completed, or was stopped by its user)
    stop_reason: dict[str, Any] | None = None
    #: summary.json's ``curation`` section when curation was asked for (kept, filtered, duplicates,
    #: leakage with the files per split x label), else None
    curation: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("counts", "errors", "warnings"):
            object.__setattr__(self, name, Counts(getattr(self, name)))

    @property
    def ok(self) -> int:
        return self.counts.get("ok", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)

    @property
    def skipped(self) -> int:
        return self.counts.get("skipped", 0)

    @property
    def exit_code(self) -> int:
        return 1 if (self.failed or self.stopped) else 0

    def summary(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "errors": dict(self.errors),
            "warnings": dict(self.warnings),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "seconds": round(self.seconds, 3),
            "cluster_seconds": round(self.cluster_seconds, 3),
            "batches": self.batches,
            "worker_restarts": self.worker_restarts,
            "files_per_second": round(self.files_per_second, 2),
            "stopped": self.stopped,
            "stop_reason": self.stop_reason,
            "peaks": self.peaks,
            "output": self.output,
            "manifest": self.manifest,
            **({"curation": self.curation} if self.curation is not None else {}),
        }

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("ok", str(self.ok)),
            ("failed", str(self.failed)),
            ("skipped", str(self.skipped)),
            ("bytes in", format_bytes(self.bytes_in)),
            ("bytes out", format_bytes(self.bytes_out)),
            ("time", f"{self.seconds:.1f} s (cluster start {self.cluster_seconds:.1f} s)"),
            ("files / second", f"{self.files_per_second:.1f}"),
            ("batches", str(self.batches)),
            ("worker restarts", str(self.worker_restarts)),
        ]
        if self.peaks.get("system_memory_percent") is not None:
            rows.append(("peak system memory", f"{self.peaks['system_memory_percent']:.0f} %"))
        rows += [("outputs", self.output), ("manifest", self.manifest)]
        return rows

    def __str__(self) -> str:
        return self.text()

    def text(self, words: Callable[[str], str] | None = None) -> str:
        """The summary as text; ``words`` rewords the messages only (the CLI shows the settings they
        name as flags), never a file name."""
        reword = words or (lambda text: text)
        rows = self._rows()
        w = max(len(k) for k, _ in rows)
        title = "build stopped" if self.stopped else "build finished"
        lines = [title, "-" * len(title)] + [f"{k:<{w}}  {v}" for k, v in rows]
        if self.errors:
            lines.append("failures by type: " + ", ".join(f"{k}={v}" for k, v in sorted(self.errors.items())))
        if self.warnings:
            lines.append(warnings_line(self.warnings))
        for src, code, msg in self.failures[:10]:
            lines.append(f"  failed  {printable(src)}  [{code}] {printable(reword(msg))}")
        if self.failed > 10:
            lines.append(f"  ... {self.failed - 10} more in the manifest (status == 'failed')")
        lines += curation_lines(self.curation)
        if self.stop_reason:
            lines.append(f"stopped [{self.stop_reason['type']}]: {reword(self.stop_reason['message'])}")
        elif self.stopped:
            lines.append("stopped before the end: run the same command again to resume.")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.html()

    def html(self, words: Callable[[str], str] | None = None) -> str:
        """The summary as HTML; ``words`` shows a message as HTML (the panel names the settings in
        it by its controls' labels), else it is escaped as it is."""
        e = html.escape
        said = words or (lambda text: e(printable(text)))
        body = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in self._rows())
        fails = ""
        if self.failures:
            items = "".join(
                f"<tr><td>{e(printable(s))}</td><td><code>{e(c)}</code></td><td>{said(m)}</td></tr>"
                for s, c, m in self.failures[:20]
            )
            fails = f"<details><summary>{self.failed} failed</summary><table>{items}</table></details>"
        if self.warnings:
            fails += f"<p>{e(warnings_line(self.warnings))}</p>"
        title = "Build stopped (run again to resume)" if self.stopped else "Build finished"
        why = ""
        if self.stop_reason:
            why = (
                f"<p class='dp-stop-reason' style='color:#c00'><code>{e(self.stop_reason['type'])}</code> "
                f"{said(self.stop_reason['message'])}</p>"
            )
        return f"<div class='dataprep-report'><b>{e(title)}</b>{why}<table>{body}</table>{fails}</div>"

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2)


def ok_warning_types(row: dict[str, Any]) -> set[str]:
    """The warning types of a manifest row that finished ``ok`` (each counted once per file)."""
    return {w["type"] for w in row.get("warnings") or ()} if row["status"] == "ok" else set()


@dataclass
class Tally:
    """Manifest rows counted as every report shows them: by status, failures by error type, files
    kept ``ok`` with a warning by type, bytes, and the failures themselves (source, type, message;
    the first ``keep`` of them, None: all). Counted once, here, for a run's report (the ledger)
    and for ``toolkit.report`` alike."""

    keep: int | None = None
    counts: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    warned: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    bytes_in: int = 0
    bytes_out: int = 0

    def add(self, rows: Iterable[dict[str, Any]]) -> "Tally":
        for r in rows:
            self.counts[r["status"]] += 1
            self.bytes_in += r.get("bytes_in") or 0
            self.bytes_out += r.get("bytes_out") or 0
            self.warned.update(ok_warning_types(r))
            if r["status"] == "failed" and r.get("error"):
                self.errors[r["error"]["type"]] += 1
                if self.keep is None or len(self.failures) < self.keep:
                    self.failures.append((r["source"], r["error"]["type"], r["error"]["message"]))
        return self


def tally_rows(rows: Iterable[dict[str, Any]], keep: int | None = None) -> Tally:
    """:class:`Tally` of ``rows``."""
    return Tally(keep).add(rows)


def warnings_line(warnings: dict[str, int]) -> str:
    """The files kept with a warning, by type, and where to find them."""
    return (
        "ok with a warning: "
        + ", ".join(f"{k}={v}" for k, v in sorted(warnings.items()))
        + " (the manifest's rows say which files and why)"
    )


def stopped_report(out: Path, seconds: float, cluster_seconds: float, stop_reason: dict[str, Any] | None) -> RunReport:
    """The report of a run stopped before any batch (by its user, or an output that takes nothing):
    the previous manifest stands."""
    return RunReport(
        output=str(out),
        manifest=str(out / MANIFEST),
        counts={},
        errors={},
        bytes_in=0,
        bytes_out=0,
        seconds=seconds,
        cluster_seconds=cluster_seconds,
        batches=0,
        worker_restarts=0,
        files_per_second=0.0,
        failures=(),
        stopped=True,
        peaks={},
        stop_reason=stop_reason,
    )


def curation_lines(curation: dict[str, Any] | None) -> list[str]:
    """The build summary's curation lines: kept / filtered / duplicates, and the files per split x
    label (a file without a label under ``-``)."""
    if not curation:
        return []
    filtered = curation.get("filtered") or {}
    kinds = ", ".join(f"{k}={v}" for k, v in filtered.items())
    lines = [
        f"curation: kept {curation.get('kept', 0)}, filtered {sum(filtered.values())}"
        + (f" ({kinds})" if kinds else "")
        + f", duplicates {curation.get('duplicates', 0)} in {curation.get('duplicate_groups', 0)} groups"
    ]
    leak = curation.get("leakage")
    if leak:
        table = leak.get("files") or {}
        labels = sorted({lb for per in table.values() for lb in per})
        rows = [[split, *(per.get(lb, 0) for lb in labels), sum(per.values())] for split, per in table.items()]
        head = ["split", *(lb or "-" for lb in labels), "total"]
        widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]  # a column as wide as its longest cell
        widths[1:] = [max(6, n) for n in widths[1:]]
        for cells in (head, *rows) if rows else ():
            lines.append("  " + "  ".join(f"{c:<{widths[0]}}" if i == 0 else f"{c:>{widths[i]}}" for i, c in enumerate(cells)))
        if not rows:
            lines.append("  no file is in the dataset: nothing to split")
        if leak.get("near_pairs_across_splits"):
            lines.append(f"  near-duplicate pairs across splits: {leak['near_pairs_across_splits']}")
    if curation.get("needs_build"):
        lines.append(f"  {needs_build_text(curation['needs_build'])}")
    if curation.get("unhashed"):
        lines.append(f"  {unhashed_text(curation['unhashed'])}")
    if curation.get("split_conflicts"):
        lines.append(f"  split conflicts: {len(curation['split_conflicts'])} (see summary.json)")
    return lines


def needs_build_text(n: int) -> str:
    """What to say of files the build's probe left out for their size that today's filters take."""
    return (
        f"{n} files need a build: the probe left them out before decoding under earlier `filters`, "
        "which no longer rule them out; they stay out of the dataset until a build makes their outputs"
    )


def unhashed_text(n: int) -> str:
    """What to say of files in the dataset built before content hashes were recorded."""
    return (
        f"{n} files have no content hash (built before hashes were recorded): duplicates and leaks among them "
        "cannot be found; build once with `force` to hash them"
    )
