"""What an export holds: the dataset's samples, planned on the client from the rows alone (pure).

Only *dataset* rows are exported: ``status == "ok"`` (duplicates and filtered files are ``skipped``
by curation, failed files have no outputs). A row without a ``split`` belongs to :data:`DEFAULT_SPLIT`.
An image row gives one sample per output (one, for a build of one image op); a video row gives one
sample per output too, keyed ``<video key>_<n>`` (``n``: the output's position in the row), each
frame, poster or contact sheet an image sample and each clip or transcode an ``.mp4`` sample, with
its timestamp(s) in its facts. Keys are built from the source's relative path (letters, digits,
``_`` and ``-`` only: no dots, no folders), unique within the export and the same on every run.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import xxhash

__all__ = ["DEFAULT_SPLIT", "Sample", "class_index", "dataset_rows", "plan_samples", "IMAGE_EXTS"]

Row = dict[str, Any]

#: the split of every sample when the build made no splits (the name HF gives a dataset of one split)
DEFAULT_SPLIT = "train"
IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "avif"})
VIDEO_EXTS = frozenset({"mp4", "webm", "mov", "mkv"})
MAX_KEY = 64
#: the row's fields a sample's facts carry: what the file is, never where the build put it, how long
#: it took, which run or worker made it
ROW_FACTS = ("source", "label", "label_index", "caption", "meta", "content_hash", "phash", "sharpness", "split", "facts")


@dataclass(frozen=True)
class Sample:
    """One sample: ``output`` (relative to the output folder) is its media file, ``ext`` the member
    extension it is stored under; ``facts`` the ``.json`` document (the image's own size is added
    where the shard is written, from the file's header)."""

    key: str
    split: str
    output: str
    ext: str
    size: int
    label_index: int | None
    caption: str | None
    facts: dict[str, Any] = field(compare=False)
    #: what makes the sample's bytes: the input's hash and the settings that made its outputs
    origin: str = ""

    @property
    def is_image(self) -> bool:
        return self.ext in IMAGE_EXTS


def class_index(output: str | os.PathLike[str], labelled: bool) -> list[str] | None:
    """The class names by label index (curation.json's class index), if the samples are ``labelled``
    (the parquet shards' ClassLabel, the imagefolder's, and the card's, which names their features)."""
    from .._curation import read_state

    classes = ((read_state(output) or {}).get("classes") or {}).get("classes")
    return list(classes) if classes and labelled else None


def dataset_rows(rows: Iterable[Row]) -> list[Row]:
    """The rows of the dataset: ``ok`` ones (curation marks what it leaves out ``skipped``)."""
    return [r for r in rows if r.get("status") == "ok" and r.get("outputs")]


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def _short_hash(text: str) -> str:
    return xxhash.xxh3_64_hexdigest(text.encode("utf-8", "surrogatepass"))[:8]


def row_key(row: Row, *, with_root: bool) -> str:
    """The key of a row's sample(s): its relative path made safe (``cat/0.jpg`` -> ``cat_0_jpg``,
    accents dropped: ``été.jpg`` -> ``ete_jpg``),
    with its input folder's name in front when the build has several inputs; a long one is cut and
    told apart by a short hash of the whole name."""
    name = str(row.get("source") or "")
    if with_root:
        name = f"{str(row.get('input_root') or '').rstrip('/').rpartition('/')[2]}/{name}"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # été -> ete
    key = _UNSAFE.sub("_", ascii_name).strip("_")
    if not re.search("[A-Za-z0-9]", ascii_name.rpartition(".")[0] or ascii_name):  # nothing readable but the extension
        return f"file-{_short_hash(name)}"
    if len(key) > MAX_KEY:
        key = f"{key[: MAX_KEY - 9]}-{_short_hash(name)}"
    return key


def _kind(row: Row, output: str, ext: str) -> dict[str, Any]:
    """A video output's kind and its span in the video, ``t`` to ``t_end`` seconds (one instant for a
    frame or a poster; a clip's start and end; a contact sheet's first and last tile; a whole transcode),
    from the row's ``frames``, ``clips``, ``poster_t``, ``contact_sheet_t`` and ``video``."""
    for f in row.get("frames") or ():
        if f.get("output") == output:
            return {"kind": "frame", "t": f.get("t"), "t_end": f.get("t")}
    for c in row.get("clips") or ():
        if c.get("output") == output:
            return {"kind": "clip", "t": c.get("start"), "t_end": c.get("end")}
    if ext in VIDEO_EXTS:
        return {"kind": "transcode", "t": 0.0, "t_end": (row.get("video") or {}).get("duration")}
    if ".poster." in output.rpartition("/")[2]:
        return {"kind": "poster", "t": row.get("poster_t"), "t_end": row.get("poster_t")}
    tiles = row.get("contact_sheet_t") or []
    if tiles:
        return {"kind": "contact-sheet", "t": min(tiles), "t_end": max(tiles)}
    return {"kind": "image"}


def _text(v: Any) -> str | None:
    """A free-form field (a sidecar's object, an op's facts) as JSON text: one type in every sample."""
    return None if v is None else json.dumps(v, sort_keys=True, ensure_ascii=False)


def _samples_of(row: Row, key: str, split: str, sizes: dict[str, int]) -> list[Sample]:
    outs = [o for o in row.get("outputs") or () if o.rpartition(".")[2].lower() in IMAGE_EXTS | VIDEO_EXTS]
    video = row.get("video") is not None or bool(row.get("frames") or row.get("clips"))
    facts = {k: row.get(k) for k in ROW_FACTS}
    facts["meta"], facts["facts"] = _text(row.get("meta")), _text(row.get("facts"))
    facts["split"] = split
    facts["source_width"], facts["source_height"] = row.get("width"), row.get("height")
    origin = f"{row.get('content_hash')}|{row.get('settings')}"
    made = []
    for n, out in enumerate(outs):
        ext = out.rpartition(".")[2].lower()
        ext = "jpg" if ext == "jpeg" else ext
        own_key = key if (len(outs) == 1 and not video) else f"{key}_{n}"
        own = {**facts, "key": own_key}
        if video:
            own.update(video=key, index=n, **_kind(row, out, ext))
        made.append(
            Sample(
                own_key,
                split,
                out,
                ext,
                sizes.get(out, -1),
                row.get("label_index"),
                row.get("caption"),
                own,
                f"{origin}|{out}",
            )
        )
    return made


def plan_samples(rows: Sequence[Row], sizes: dict[str, int]) -> list[Sample]:
    """Every sample of the dataset ``rows`` (see :func:`dataset_rows`), in row order. ``sizes``: each
    output's size on disk as found now (an output missing from it has size -1: see
    :func:`toolkit._export._shards.present`)."""
    kept = dataset_rows(rows)
    with_root = len({r.get("input_root") for r in kept}) > 1
    taken: set[str] = set()
    samples: list[Sample] = []
    for r in kept:
        key = row_key(r, with_root=with_root)
        if key in taken:  # two names that are made the same (``a b.jpg``, ``a_b.jpg``): told apart by a hash
            key = f"{key[: MAX_KEY - 9]}-{_short_hash(str(r.get('input_root')) + '/' + str(r.get('source_b64')))}"
        taken.add(key)
        samples.extend(_samples_of(r, key, str(r.get("split") or DEFAULT_SPLIT), sizes))
    return samples
