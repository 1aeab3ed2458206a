"""``toolkit.load``: a built dataset as the library's own object, a convenience over the exports.

``"hf"`` -> a ``datasets.DatasetDict`` (from the parquet export when there is one: images and a
ClassLabel ``label``; else the imagefolder export), ``"parquet"`` -> the same from the parquet
shards, ``"webdataset"`` -> a ``webdataset.WebDataset`` over a split's shards, decoded to PIL. No
dataset class of our own: what you get is what those libraries document.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from ._errors import InputError

__all__ = ["load"]

KINDS = ("hf", "parquet", "webdataset")


def _written(output: Path) -> set[str] | None:
    """The exports the last build (or re-curation) wrote, as its summary.json lists them; None when
    it does not say (no summary, or one from before exports)."""
    try:
        doc = json.loads((output / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    exports = doc.get("exports") if isinstance(doc, dict) else None
    return set(exports) if isinstance(exports, dict) else None


def _need(folder: Path, what: str, output: Path) -> None:
    if not folder.is_dir() or not any(folder.iterdir()):
        raise InputError(
            f"{output} has no {what} export (no {folder.name}/): build with `exports` including {what!r} "
            f"(--export {what}), e.g. the classifier recipe"
        )
    written = _written(output)
    if written is not None and what not in written:  # shards of another dataset than the manifest's
        raise InputError(
            f"{folder} is not from the last build of {output} (its summary.json lists no {what} export: a build "
            f"without it, or one stopped before it was written): build with `exports` including {what!r} "
            f"(--export {what}) to write it again"
        )


def _library(name: str, kind: str) -> Any:
    """The loader's library, imported by name (mypy would take the clone's datasets/ folder for HF's
    ``datasets``); not installed (neither is a dependency of the toolkit): an error that says so."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise ImportError(f"toolkit.load(..., {kind!r}) needs the {name!r} package: pip install {name}") from None


def _datasets() -> Any:
    return _library("datasets", "hf")


def _parquet(out: Path, **kwargs: Any) -> Any:
    datasets = _datasets()

    files: dict[str, list[str]] = {}
    for p in sorted((out / "parquet").glob("*.parquet")):
        files.setdefault(p.name.rsplit("-", 1)[0], []).append(str(p))
    return datasets.load_dataset("parquet", data_files=files, **kwargs)


def load(output: str | os.PathLike, kind: str = "hf", *, split: str = "train", **kwargs: Any) -> Any:
    """Load a built dataset from ``output``. ``kind``: ``"hf"`` (a DatasetDict), ``"parquet"`` (the
    same, from the parquet shards only) or ``"webdataset"`` (a WebDataset over ``split``'s shards,
    samples decoded to PIL). ``kwargs`` go to ``datasets.load_dataset`` / ``webdataset.WebDataset``.

    >>> # ds = toolkit.load("build/pets", "hf"); ds["train"][0]["image"]
    """
    out = Path(output)
    if kind not in KINDS:
        raise InputError(f"toolkit.load: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not (out / "manifest.jsonl").is_file():
        raise InputError(f"no build in {out}: it has no manifest.jsonl")
    if kind == "webdataset":
        wds = _library("webdataset", kind)
        _need(out / "webdataset", "webdataset", out)
        index = out / "webdataset" / f"{split}.index.json"
        if not index.is_file():
            have = sorted(p.name.split(".")[0] for p in (out / "webdataset").glob("*.index.json"))
            raise InputError(f"{out} has no split {split!r} in its webdataset export (splits: {', '.join(have)})")
        shards = [str(out / "webdataset" / s["name"]) for s in json.loads(index.read_text())["shards"]]
        kwargs.setdefault("shardshuffle", False)
        return wds.WebDataset(shards, **kwargs).decode("pil")
    written = _written(out)
    if kind == "parquet" or ((out / "parquet").is_dir() and (written is None or "parquet" in written)):
        _need(out / "parquet", "parquet", out)
        return _parquet(out, **kwargs)
    if not (out / "imagefolder").is_dir():
        raise InputError(
            f"{out} has neither a parquet nor an imagefolder export for 'hf' to load: build with `exports` "
            "including 'parquet' (--export parquet), e.g. the classifier recipe"
        )
    _need(out / "imagefolder", "imagefolder", out)
    datasets = _datasets()
    return datasets.load_dataset(str(out / "imagefolder"), **kwargs)
