"""Curation rules, pure: manifest rows in, curated rows out (labels, filters, dedupe, splits).

No Dask, no files: every function works on the rows and documents it is given, so the rules are
tested alone (tests/test_curate_*.py) and the build's ``Curator`` (toolkit/_stages.py) only reads
and writes. One module per job: _rows (marking and undoing), _labels (labels, class index),
_filters, _near (multi-index Hamming search), _groups (duplicate groups), _dedupe, _splits,
_leakage, _pipeline (all of them in order, with settings checks).
"""

from ._dedupe import DEDUPE_MODES, apply_dedupe
from ._filters import Filters, apply_filters
from ._labels import LABEL_MODES, apply_labels, class_index, label_of
from ._leakage import leakage_report
from ._pipeline import Curated, CurationSettings, curate_rows, parse_setting
from ._rows import reset
from ._splits import Conflict, assign_splits, check_splits

__all__ = [
    "Conflict",
    "DEDUPE_MODES",
    "LABEL_MODES",
    "Curated",
    "CurationSettings",
    "Filters",
    "apply_dedupe",
    "apply_filters",
    "apply_labels",
    "assign_splits",
    "check_splits",
    "class_index",
    "curate_rows",
    "label_of",
    "leakage_report",
    "parse_setting",
    "reset",
]
