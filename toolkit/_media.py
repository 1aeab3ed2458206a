"""The data that flows through a build: items, their probed info, batches, results.

All frozen dataclasses: cheap to pickle to workers, safe to share between threads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal, Sequence

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
    # from the file's sidecars (``_sidecar.py``): None when it has none, or when they could not be used
    "caption",
    "meta",
    # facts (``_facts.py``): None on a failed row, and on a row written before they existed
    "content_hash",
    "phash",
    "sharpness",
    "output_bytes",
)
#: The facts of a file: not settings (never in the resume key), so a row without them is carried as it is.
FACT_FIELDS = ROW_FIELDS[-4:]


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
    # sidecars the scan paired with this file (``_sidecar.py``): its caption (.txt) and metadata (.json)
    caption_path: str | None = None
    meta_path: str | None = None

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
    # facts: ``content_hash`` of the source bytes (XXH3-128, hex), ``phash`` (64-bit DCT hash, 16 hex
    # digits) and ``sharpness`` of the decoded pixels (a video: of its poster frame, when one was
    # decoded), ``output_bytes`` the size of each of ``outputs``, in the same order
    content_hash: str | None = None
    phash: str | None = None
    sharpness: float | None = None
    output_bytes: tuple[int, ...] | None = None
    # the text of the file's caption sidecar and the JSON object of its metadata sidecar
    caption: str | None = None
    meta: dict[str, Any] | None = None
    # resume bookkeeping (extra fields; readers may ignore them)
    mtime_ns: int | None = None
    settings: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> Problem | None:
        """Why the file is not ``ok``, as reports show it: its error, else its first warning."""
        return self.error or (self.warnings[0] if self.warnings else None)

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
            "content_hash": self.content_hash,
            "phash": self.phash,
            "sharpness": self.sharpness,
            "output_bytes": None if self.output_bytes is None else list(self.output_bytes),
            "caption": self.caption,
            "meta": self.meta,
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
            content_hash=row.get("content_hash"),
            phash=row.get("phash"),
            sharpness=row.get("sharpness"),
            output_bytes=None if row.get("output_bytes") is None else tuple(row["output_bytes"]),
            caption=row.get("caption"),
            meta=row.get("meta"),
            mtime_ns=row.get("mtime_ns"),
            settings=row.get("settings"),
            extra={k: v for k, v in row.items() if k not in known},
        )


def left_out_lines(rows: Sequence[ItemResult], limit: int = 50, words: Callable[[str], str] | None = None) -> list[str]:
    """``N files left out:`` and a line per row (status, file, problem code and message), for printing;
    ``words`` rewords the messages only (the CLI shows the settings they name as flags), never a name."""
    if not rows:
        return []
    reword = words or (lambda text: text)
    lines = [f"{len(rows)} files left out:"]
    for r in rows[:limit]:
        why = r.reason
        lines.append(
            f"  {r.status:<8} {printable(r.source)}  [{why.type if why else ''}] {printable(reword(why.message)) if why else ''}"
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
