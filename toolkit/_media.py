"""The data that flows through a build: items, their probed info, batches, results, the report.

All frozen dataclasses: cheap to pickle to workers, safe to share between threads.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

from ._fs import printable

Kind = Literal["image", "video", "other"]
Status = Literal["ok", "failed", "skipped"]

#: The manifest fields every row has, in order.
ROW_FIELDS = (
    "source",
    "source_b64",
    "input_root",
    "status",
    "error",
    "warnings",
    "outputs",
    "width",
    "height",
    "bytes_in",
    "bytes_out",
    "seconds",
    "batch",
)


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What a header-only probe learned. ``width``/``height`` are as displayed (after rotation)."""

    width: int
    height: int
    mode: str | None = None
    frames: int | None = None
    fps: float | None = None
    duration: float | None = None
    rotation: int = 0
    codec: str | None = None
    has_video: bool = True
    est_bytes: int = 0  # estimated peak memory of the planned ops on this file


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One input file. ``path`` is absolute; ``rel`` is '/'-separated, relative to ``root``."""

    path: str
    rel: str
    root: str
    kind: Kind
    format: str | None
    size: int
    mtime_ns: int
    out_rel: str = ""  # collision-free output stem (relative to OUTPUT, no extension)
    info: MediaInfo | None = None

    @property
    def est_bytes(self) -> int:
        return self.info.est_bytes if self.info else 0


@dataclass(frozen=True, slots=True)
class Batch:
    """A group of items processed by one task. ``id`` is a hash of its sources: stable across runs."""

    id: str
    items: tuple[MediaItem, ...]
    est_bytes: int
    oversized: bool = False  # a lone item whose estimate exceeds the budget

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True)
class Problem:
    """An error or warning attached to a row: a stable code and a message naming the file."""

    type: str
    message: str


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One manifest row."""

    source: str
    source_b64: str
    input_root: str
    status: Status
    error: Problem | None = None
    warnings: tuple[Problem, ...] = ()
    outputs: tuple[str, ...] = ()
    width: int | None = None
    height: int | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    batch: str | None = None
    # resume bookkeeping (extra fields; readers may ignore them)
    mtime_ns: int | None = None
    settings: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        row = {
            "source": self.source,
            "source_b64": self.source_b64,
            "input_root": self.input_root,
            "status": self.status,
            "error": asdict(self.error) if self.error else None,
            "warnings": [asdict(w) for w in self.warnings],
            "outputs": list(self.outputs),
            "width": self.width,
            "height": self.height,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "seconds": round(self.seconds, 6),
            "batch": self.batch,
            "mtime_ns": self.mtime_ns,
            "settings": self.settings,
        }
        row.update(self.extra)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ItemResult":
        known = set(ROW_FIELDS) | {"mtime_ns", "settings"}
        err = row.get("error")
        return cls(
            source=row["source"],
            source_b64=row["source_b64"],
            input_root=row["input_root"],
            status=row["status"],
            error=Problem(**err) if err else None,
            warnings=tuple(Problem(**w) for w in row.get("warnings") or ()),
            outputs=tuple(row.get("outputs") or ()),
            width=row.get("width"),
            height=row.get("height"),
            bytes_in=row.get("bytes_in") or 0,
            bytes_out=row.get("bytes_out") or 0,
            seconds=row.get("seconds") or 0.0,
            batch=row.get("batch"),
            mtime_ns=row.get("mtime_ns"),
            settings=row.get("settings"),
            extra={k: v for k, v in row.items() if k not in known},
        )


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


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
        }

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("ok", str(self.ok)),
            ("failed", str(self.failed)),
            ("skipped", str(self.skipped)),
            ("bytes in", _fmt_bytes(self.bytes_in)),
            ("bytes out", _fmt_bytes(self.bytes_out)),
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
        rows = self._rows()
        w = max(len(k) for k, _ in rows)
        title = "build stopped" if self.stopped else "build finished"
        lines = [title, "-" * len(title)] + [f"{k:<{w}}  {v}" for k, v in rows]
        if self.errors:
            lines.append("failures by type: " + ", ".join(f"{k}={v}" for k, v in sorted(self.errors.items())))
        if self.warnings:
            lines.append(warnings_line(self.warnings))
        for src, code, msg in self.failures[:10]:
            lines.append(f"  failed  {printable(src)}  [{code}] {printable(msg)}")
        if self.failed > 10:
            lines.append(f"  ... {self.failed - 10} more in the manifest (status == 'failed')")
        if self.stop_reason:
            lines.append(f"stopped [{self.stop_reason['type']}]: {self.stop_reason['message']}")
        elif self.stopped:
            lines.append("stopped before the end: run the same command again to resume.")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        body = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in self._rows())
        fails = ""
        if self.failures:
            items = "".join(
                f"<tr><td>{e(printable(s))}</td><td><code>{e(c)}</code></td><td>{e(printable(m))}</td></tr>"
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
                f"{e(self.stop_reason['message'])}</p>"
            )
        return f"<div class='dataprep-report'><b>{e(title)}</b>{why}<table>{body}</table>{fails}</div>"

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2)


def ok_warning_types(row: dict[str, Any]) -> set[str]:
    """The warning types of a manifest row that finished ``ok`` (each counted once per file)."""
    return {w["type"] for w in row.get("warnings") or ()} if row["status"] == "ok" else set()


def warnings_line(warnings: dict[str, int]) -> str:
    """The files kept with a warning, by type, and where to find them."""
    return (
        "ok with a warning: "
        + ", ".join(f"{k}={v}" for k, v in sorted(warnings.items()))
        + " (the manifest's rows say which files and why)"
    )


def left_out_lines(rows: Sequence[ItemResult], limit: int = 50) -> list[str]:
    """``N files left out:`` and a line per row (status, file, problem code and message), for printing."""
    if not rows:
        return []
    lines = [f"{len(rows)} files left out:"]
    for r in rows[:limit]:
        why = r.error or (r.warnings[0] if r.warnings else None)
        lines.append(
            f"  {r.status:<8} {printable(r.source)}  [{why.type if why else ''}] {printable(why.message) if why else ''}"
        )
    if len(rows) > limit:
        lines.append(f"  ... {len(rows) - limit} more")
    return lines


def problem_row(
    root: str, rel: str, status: Status, code: str, message: str, *, size: int = 0, mtime_ns: int | None = None, **fields: Any
) -> ItemResult:
    """A row for a file that was not processed: ``failed`` carries the problem as its error,
    ``skipped`` as its (only) warning, so every row says why."""
    from ._fs import path_b64, path_text

    problem = Problem(code, message)
    return ItemResult(
        source=path_text(rel),
        source_b64=path_b64(rel),
        input_root=path_text(root),
        status=status,
        error=problem if status == "failed" else None,
        warnings=(problem,) if status != "failed" else (),
        bytes_in=size,
        mtime_ns=mtime_ns,
        **fields,
    )
