"""The plain-name fast path of ``assign_outputs`` gives exactly the names the full rule
(``fit_stem`` for every name) gives: for ASCII and non-ASCII names, names at and past the limits,
reserved top folders, case collisions, videos, one input or several."""

from __future__ import annotations

from unittest import mock

from hypothesis import given, settings, strategies as st

from toolkit import _names
from toolkit._media import MediaItem
from toolkit._names import NAME_RESERVE, PATH_RESERVE, NameLimits, assign_outputs

PART = st.one_of(
    st.text(alphabet="aAbB._-é\udcff", min_size=1, max_size=12),
    st.sampled_from(["card", "Parquet", "README.md", "webdataset", "x" * 60, "y" * 200]),
).filter(lambda p: p not in (".", ".."))
REL = st.lists(PART, min_size=1, max_size=6).map("/".join)
ITEMS = st.lists(
    st.tuples(st.sampled_from(["/in", "/other/in"]), REL, st.sampled_from(["image", "video"])),
    min_size=1,
    max_size=12,
    unique_by=lambda t: (t[0], t[1]),
)
LIMITS = st.builds(
    NameLimits,
    st.integers(min_value=NAME_RESERVE + 30, max_value=255),
    st.integers(min_value=PATH_RESERVE + 120, max_value=600),
    st.sampled_from(["", "/out", "/a/much/longer/output/folder"]),
)


@given(ITEMS, LIMITS)
@settings(max_examples=400, deadline=None)
def test_the_plain_name_fast_path_gives_the_full_rules_names(specs, limits):
    items = [MediaItem(path=f"{r}/{rel}", rel=rel, root=r, kind=k, format=None, size=1, mtime_ns=0) for r, rel, k in specs]
    multi = len({r for r, _, _ in specs}) > 1
    with mock.patch.object(NameLimits, "for_output", classmethod(lambda cls, output: limits)):
        fast = [i.out_rel for i in assign_outputs(items, multi_root=multi, output="/x")]
        with mock.patch.object(_names, "_plain", lambda *a: False):  # every name through fit_stem, as before the fast path
            full = [i.out_rel for i in assign_outputs(items, multi_root=multi, output="/x")]
    assert fast == full
