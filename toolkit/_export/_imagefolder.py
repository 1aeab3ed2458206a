"""The ``imagefolder`` export: ``OUT/imagefolder/{split}/{label}/...`` with a ``metadata.jsonl`` per split.

Read by ``datasets.load_dataset("OUT/imagefolder")`` (the folder's own ``README.md`` names the
splits and makes ``label`` a ClassLabel), by ``datasets.load_dataset("imagefolder",
data_dir="OUT/imagefolder")`` (which reads no README: ``label`` is then the class name as text; measured
with datasets 5.2, where a ``metadata.jsonl`` also stops the class being taken from the folder), and
by torchvision's ``ImageFolder`` on one split folder (classes are its first-level folders).

Each image output of a file in the dataset (``status`` ok: duplicates and filtered files are left
out) is placed as a hard link to the built output (no second copy of the pixels); where the file
system refuses links (another device, no link support) it is copied. Video outputs that are
images (frames, posters, sheets) are samples of their video's label and split; video files
(clips, transcodes) are not images and are left out, counted in the figures (use the webdataset
export for them). A file already in place and identical (the same inode) is left as it is, so a
rerun does nearly nothing; files under ``imagefolder/`` that no row places any more (a re-split,
a file gone) are removed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from .._fs import atomic_write, make_folder, tmp_path_for, writing
from .._names import utf8_name
from ._samples import DEFAULT_SPLIT, IMAGE_EXTS, class_index, dataset_rows

__all__ = ["ImageFolderSink", "FOLDER", "safe_name"]

Row = dict[str, Any]

FOLDER = "imagefolder"
#: the row fields each metadata.jsonl line carries besides file_name, label, caption and meta
TEXT_COLUMNS = ("source", "content_hash", "phash")
NUMBER_COLUMNS = {"width": "int64", "height": "int64", "sharpness": "float64"}
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}


def safe_name(label: str) -> str:
    """A folder name for a label: its exact text where a disk can hold it (bytes that are not
    UTF-8 as %XX, a leading dot, '/', NUL and '%' itself escaped), so odd names stay readable."""
    text = utf8_name(label.replace("%", "%25")).replace("/", "%2F").replace("\0", "%00")
    return "%2E" + text[1:] if text.startswith(".") else text


def class_names(output: Path, rows: Sequence[Row]) -> list[str] | None:
    """The class names by number (curation.json's frozen class index; the labels sorted where there
    is none), or None without labels."""
    labelled = any(r.get("label") is not None for r in rows)
    if not labelled:
        return None
    return class_index(output, labelled) or sorted({str(r["label"]) for r in rows if r.get("label") is not None})


def plan(rows: Iterable[Row]) -> tuple[dict[str, list[tuple[str, str, Row]]], int]:
    """-> ({split: [(file_name under the split folder, output path under OUT, row)]}, video files left out)."""
    by_split: dict[str, list[tuple[str, str, Row]]] = defaultdict(list)
    videos = 0
    for r in dataset_rows(rows):
        label = r.get("label")
        for out in r["outputs"]:
            if os.path.splitext(out)[1].lower().lstrip(".") not in IMAGE_EXTS:
                videos += 1
                continue
            name = out if label is None else f"{safe_name(str(label))}/{out}"
            by_split[r.get("split") or DEFAULT_SPLIT].append((name, out, r))
    for items in by_split.values():
        items.sort(key=lambda t: t[0])
    return dict(by_split), videos


def metadata_line(name: str, row: Row, numbers: Sequence[str]) -> dict[str, Any]:
    """One metadata.jsonl line. Every split's file must give each column one type (HF compares
    them), and a column null on every line of a split is typed null: text columns are "" where a
    row has none, and ``numbers`` are the number columns that every row of the export has."""
    line: dict[str, Any] = {"file_name": name}
    if row.get("label") is not None:
        line["label"] = row["label"]
    line["caption"] = row.get("caption") or ""
    for k in TEXT_COLUMNS:
        line[k] = row.get(k) or ""
    line.update({k: row[k] for k in numbers})
    meta = row.get("meta")
    line["meta"] = "" if meta is None else json.dumps(meta, ensure_ascii=False, sort_keys=True)  # free-form: text
    return line


def card_yaml(splits: Sequence[str], names: list[str] | None, numbers: Sequence[str]) -> str:
    """The folder's README.md header: its splits, and ``label`` as a ClassLabel of the class index."""
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for s in splits:
        lines += [f"  - split: {s}", f"    path: {s}/**"]
    lines += ["  features:", "  - name: image", "    dtype: image"]
    if names is not None:
        lines += ["  - name: label", "    dtype:", "      class_label:", "        names:"]
        lines += [f"          '{i}': {json.dumps(n, ensure_ascii=False)}" for i, n in enumerate(names)]
    types = {"caption": "string", **dict.fromkeys(TEXT_COLUMNS, "string"), **{k: NUMBER_COLUMNS[k] for k in numbers}}
    for k, t in {**types, "meta": "string"}.items():
        lines += [f"  - name: {k}", f"    dtype: {t}"]
    lines += ["---", ""]
    return "\n".join(lines)


class ImageFolderSink:
    """Places the dataset as an image folder (see the module's docstring); figures for summary.json."""

    name = FOLDER

    def export(self, rows: Sequence[Row], ctx: Any) -> dict[str, Any]:
        out = Path(ctx.output)
        root = out / FOLDER
        by_split, videos = plan(rows)
        figures: dict[str, Any] = {"files": 0, "linked": 0, "copied": 0, "kept": 0, "missing": [], "videos_left_out": videos}
        wanted: set[Path] = set()
        for split, items in by_split.items():
            for name, rel, _ in items:
                dst = root / split / name
                wanted.add(dst)
                how = _place(out / rel, dst, out)
                if how is None:
                    figures["missing"].append(rel)
                else:
                    figures[how] += 1
                    figures["files"] += 1
        missing = set(figures["missing"])
        names = class_names(out, rows)
        placed = [r for items in by_split.values() for _, rel, r in items if rel not in missing]
        numbers = [k for k in NUMBER_COLUMNS if all(isinstance(r.get(k), (int, float)) for r in placed)]
        for split, items in by_split.items():
            lines = [metadata_line(name, r, numbers) for name, rel, r in items if rel not in missing]
            meta = root / split / "metadata.jsonl"
            wanted.add(meta)
            with atomic_write(meta, root=out) as fh:
                fh.write("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode())
        readme = root / "README.md"
        wanted.add(readme)
        with atomic_write(readme, root=out) as fh:
            fh.write(card_yaml(sorted(by_split), names, numbers).encode())
        figures["splits"] = {s: len(v) for s, v in sorted(by_split.items())}
        figures["stale_removed"] = _remove_unwanted(root, wanted)
        if missing:
            ctx.emit(
                "warning",
                message=f"imagefolder: {len(missing)} output(s) the manifest lists are not on disk (left out): "
                + ", ".join(sorted(missing)[:3]),
            )
        return figures


def _place(src: Path, dst: Path, out: Path) -> str | None:
    """Put ``src`` at ``dst`` (a hard link, else a copy) -> "linked", "copied", "kept" or None (no ``src``)."""
    try:
        s = src.stat()
    except FileNotFoundError:
        return None
    try:
        d = dst.stat()
        if (d.st_dev, d.st_ino) == (s.st_dev, s.st_ino):
            return "kept"
    except FileNotFoundError:
        pass
    make_folder(dst.parent, out)
    tmp = tmp_path_for(dst)
    with writing(dst):
        try:
            os.link(src, tmp)
            how = "linked"
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
            shutil.copyfile(src, tmp)
            how = "copied"
        try:
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return how


def _remove_unwanted(root: Path, wanted: set[Path]) -> int:
    """Remove the files under ``root`` (our own folder) that this export did not place; -> how many."""
    removed = 0
    for folder, dirs, files in os.walk(root, topdown=False):
        for f in files:
            p = Path(folder) / f
            if p not in wanted:
                with writing(p):
                    p.unlink(missing_ok=True)
                removed += 1
        if folder != str(root) and not os.listdir(folder):
            with writing(folder):
                os.rmdir(folder)
    return removed
