"""The card's YAML header, in the Hugging Face dataset-card form.

``configs`` names the data files of the first export that exists, of parquet, imagefolder and
webdataset (parquet carries the ClassLabel), as the ``default`` config: ``datasets`` 5.2 loads every
config of a folder with the builder of the first config's files, so a second format's config would
not load. ``dataset_info`` holds the features of the parquet config (the columns its shards are
written with: ``datasets`` casts the files to them); none without a parquet export.
The YAML is emitted here, every string JSON-quoted (a valid YAML double-quoted scalar), so no YAML
library is needed at run time.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from ._facts import CardFacts

__all__ = ["header", "to_yaml", "hf_license", "EXPORTS", "data_files"]

EXPORTS = ("parquet", "imagefolder", "webdataset")
#: Hugging Face's licence identifiers for datasets most often met; any other text is ``other``
HF_LICENSES = frozenset(
    "apache-2.0 mit bsd-2-clause bsd-3-clause cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 "
    "cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 "
    "odbl odc-by pddl gpl-2.0 gpl-3.0 lgpl-3.0 agpl-3.0 afl-3.0 artistic-2.0 cdla-permissive-1.0 cdla-permissive-2.0 "
    "cdla-sharing-1.0 c-uda openrail other unknown unlicense".split()
)
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORDS = frozenset("y n yes no true false on off null".split())  # YAML 1.1 reads them as booleans or null


#: what YAML may not hold raw in a quoted string (outside its printable set, or a line break it
#: would fold: NEL, LS, PS; and the byte order mark): written as a \u escape, which it reads back
_UNSAFE = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]")


def _quoted(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return _quoted(str(v))


def _bare(key: str) -> bool:
    """Whether a key may go unquoted: a name YAML reads as that text (not ``yes``, ``null``...)."""
    return bool(_BARE.fullmatch(key)) and key.lower() not in _WORDS


def _leaf(v: Any) -> str:
    """A scalar, or an empty list or table."""
    return ("{}" if isinstance(v, dict) else "[]") if isinstance(v, (dict, list)) else _scalar(v)


def to_yaml(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML lines for nested dicts, lists and scalars."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            key = str(k) if _bare(str(k)) else _quoted(str(k))
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{key}:")
                lines += to_yaml(v, indent + 2)
            else:
                lines.append(f"{pad}{key}: {_leaf(v)}")
    elif isinstance(value, list):
        for v in value:
            sub = to_yaml(v, indent + 2) if isinstance(v, (dict, list)) and v else [" " * (indent + 2) + _leaf(v)]
            lines.append(f"{pad}- {sub[0].lstrip()}")
            lines += sub[1:]
    else:
        lines.append(pad + _scalar(value))
    return lines


def hf_license(text: str | None) -> tuple[str, str | None]:
    """-> (the header's ``license``, a ``license_name`` when it is ``other``)."""
    t = (text or "unknown").strip() or "unknown"
    slug = re.sub(r"[^a-z0-9.]+", "-", t.lower()).strip("-")
    if slug in HF_LICENSES:
        return slug, None
    return "other", slug or "other"


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M" if n < 10_000_000 else "n>1M"


def data_files(export: str, splits: Sequence[str]) -> list[dict[str, str]]:
    """Each split's files of one export, as the header's ``data_files`` name them."""
    pattern = {"parquet": "parquet/{}-*.parquet", "imagefolder": "imagefolder/{}/**", "webdataset": "webdataset/{}-*.tar"}[export]
    return [{"split": s, "path": pattern.format(s)} for s in splits]


def header(
    facts: CardFacts,
    exports: Sequence[str],
    *,
    pretty_name: str,
    license: str | None,
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The header's fields (:func:`to_yaml` writes them). ``classes``: the parquet shards' class
    index (their ``label`` ClassLabel), None when they have no ``label``."""
    lic, lic_name = hf_license(license)
    meta: dict[str, Any] = {"license": lic}
    if lic_name:
        meta["license_name"] = lic_name
    meta["pretty_name"] = pretty_name
    meta["size_categories"] = [_size_category(facts.total)]
    if facts.labels:
        meta["task_categories"] = ["image-classification"]
    elif any(r.get("caption") for r in facts.samples):
        meta["task_categories"] = ["image-to-text"]
    present = [e for e in EXPORTS if e in exports]
    if present:  # one config: datasets loads every config of a folder with the builder of the first one's files
        meta["configs"] = [{"config_name": "default", "data_files": data_files(present[0], facts.splits)}]
    if present[:1] == ["parquet"]:  # the features of what the default config loads: datasets casts the files to them
        from .._export._pq import card_features

        # no ``splits``: datasets 5.2 ignores them without each split's ``num_bytes`` (and warns on every load)
        meta["dataset_info"] = {"features": card_features(classes)}
    meta["tags"] = ["dataprep-toolkit"]
    return meta


def header_text(meta: dict[str, Any]) -> str:
    return "---\n" + "\n".join(to_yaml(meta)) + "\n---\n"
