"""The card's text under the header: what is in the dataset, what was left out and why, the
leakage check, the pictures, how to build it again, and where it comes from."""

from __future__ import annotations

from typing import Any, Sequence

from .._units import format_bytes
from ._facts import REASONS, CardFacts
from ._header import EXPORTS, data_files
from ._recipe import cli_line, toml_text

__all__ = ["prose", "TITLES"]

TITLES = {
    "labels": "Files per label and split",
    "sizes": "Image sizes",
    "sharpness": "Sharpness",
    "samples": "Samples per class",
    "duplicates": "Largest duplicate groups (kept file marked)",
}


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a ``|`` or a line break would end it."""
    return " ".join(text.split()).replace("|", "\\|")


def _table(facts: CardFacts) -> list[str]:
    labels = facts.labels or [""]
    head = ["split", *(_cell(lb) or "(no label)" for lb in labels), "total"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in facts.splits:
        per = facts.table[s]
        lines.append("| " + " | ".join([_cell(s), *(str(per.get(lb, 0)) for lb in labels), str(sum(per.values()))]) + " |")
    if len(facts.splits) > 1:
        cols = [sum(facts.table[s].get(lb, 0) for s in facts.splits) for lb in labels]
        lines.append("| " + " | ".join(["**all**", *map(str, cols), str(facts.total)]) + " |")
    return lines


def _sizes(facts: CardFacts) -> list[str]:
    z = facts.sizes
    lines = [f"- {facts.total} files, {format_bytes(z['bytes_out'])} of outputs (from {format_bytes(z['bytes_in'])} of inputs)."]
    if z["short_side"]:
        lo, med, hi = z["short_side"]
        common = ", ".join(f"{d} ({n})" for d, n in z["most_common"])
        lines.append(f"- Inputs' short side: {lo} to {hi} px, median {med} px; most common sizes: {common}.")
    return lines


def _removed(facts: CardFacts) -> list[str]:
    lines = []
    if facts.removed:
        lines.append("Curation left these files out (outputs made before it did stay on disk, outside the dataset):")
        lines.append("")
        lines += [f"- **{k}**: {n}, {REASONS.get(k, k)}" for k, n in facts.removed.items()]
    else:
        lines.append("Curation left no file out (no filter or dedupe removed anything).")
    if facts.not_built:
        lines += ["", "Not in the dataset because the build did not make them (see `manifest.jsonl`):", ""]
        lines += [f"- {k}: {n}" for k, n in facts.not_built.items()]
    if facts.duplicate_groups:
        big = max(len(c) + 1 for _, c in facts.duplicate_groups)
        lines += [
            "",
            f"Dedupe found {len(facts.duplicate_groups)} duplicate groups (the largest has {big} files); one file of each is kept.",
        ]
    return lines


def _leakage(facts: CardFacts) -> list[str]:
    if facts.leakage is None:
        return ["No splits were made, so there is nothing to leak between them."]
    n = facts.leakage.get("near_pairs_across_splits", 0)
    near = facts.settings.get("near_distance", 8)
    lines = [
        f"Near-duplicate pairs (phash within {near} bits) that sit in two different splits: **{n}**."
        + (" No image of one split has a copy in another." if n == 0 else "")
    ]
    for a, b in facts.leakage.get("examples") or ():
        lines.append(f"- `{a}` and `{b}`")
    if facts.split_conflicts:
        lines.append(
            f"- {len(facts.split_conflicts)} split conflicts: files a new file joined whose splits differed (see `summary.json`)."
        )
    return lines


def _pictures(pictures: Sequence[str]) -> list[str]:
    out = []
    for name in pictures:
        out += [f"![{TITLES.get(name, name)}](card/{name}.png)", ""]
    return out


def _loading(exports: Sequence[str], splits: Sequence[str]) -> list[str]:
    present = [e for e in EXPORTS if e in exports]
    if not present:
        return ["No export was asked for: the outputs are in the mirror tree, listed by `manifest.jsonl` and `manifest.parquet`."]
    lines = ["Files, per split:", ""]
    for e in present:
        lines.append(f"- {e}: " + ", ".join(f"`{d['path']}`" for d in data_files(e, splits)))
    lines += ["", "```python", "from datasets import load_dataset", ""]
    lines.append(f'ds = load_dataset("path/to/this/folder")  # the {present[0]} files (the header\'s config)')
    for e in present[1:]:  # datasets loads a folder's configs with one builder: the others by their own
        if e == "imagefolder":
            lines.append('ds = load_dataset("path/to/this/folder/imagefolder")  # its own README.md names the splits')
        else:
            files = ", ".join(f'"{d["split"]}": "path/to/this/folder/{d["path"]}"' for d in data_files(e, splits))
            lines.append(f'ds = load_dataset("webdataset", data_files={{{files}}})')
    lines.append("```")
    return lines


def prose(
    facts: CardFacts, exports: Sequence[str], pictures: Sequence[str], *, title: str, source: str | None, license: str | None
) -> str:
    cli, left = cli_line(facts.settings)
    parts: list[Any] = [
        f"# {title}",
        "",
        f"Built with dataprep-toolkit: {facts.total} files in {len(facts.splits)} split(s)"
        + (f", {len(facts.labels)} classes." if facts.labels else "."),
        "",
        "## Contents",
        "",
        *_table(facts),
        "",
        "### Sizes",
        "",
        *_sizes(facts),
        "",
        "## What was left out, and why",
        "",
        *_removed(facts),
        "",
        "## Leakage check",
        "",
        *_leakage(facts),
        "",
        "## Pictures",
        "",
        *_pictures(pictures),
        "## Loading",
        "",
        *_loading(exports, facts.splits),
        "",
        "## Building it again",
        "",
        "```sh",
        cli if not left else cli + " --config build.toml",
        "```",
        "",
        ("The settings without a flag (" + ", ".join(f"`{k}`" for k in left) + ") are in this config file; it holds all of them:")
        if left
        else "or, as a config file (`dataprep build --config build.toml`):",
        "",
        "```toml",
        toml_text(facts.settings).rstrip("\n"),
        "```",
        "",
        "## Source and licence",
        "",
        f"- Source: {source or 'unknown'}",
        f"- Licence: {license or 'unknown'}",
        "",
    ]
    return "\n".join(parts)
