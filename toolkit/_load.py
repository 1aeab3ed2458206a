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


def _need(folder: Path, what: str, output: Path) -> None:
    if not folder.is_dir() or not any(folder.iterdir()):
        raise InputError(
            f"{output} has no {what} export (no {folder.name}/): build with `exports` including {what!r} "
            f"(--export {what}), e.g. the classifier recipe"
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
    if kind == "parquet" or (out / "parquet").is_dir():
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
