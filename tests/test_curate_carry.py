"""The split assignment kept beside the manifest: a file placed once never moves while the split
settings stay the same, whatever builds come between (splits off, labels changed, files filtered
out, removed and added back); the kept file round-trips exactly and is not trusted when cut short."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from curate_rows import row
from toolkit._curate import CurationSettings, curate_rows
from toolkit._curate._carry import Assigned

SPLITS = {"train": 0.6, "val": 0.2, "test": 0.2}


def dataset(ids):
    return [
        row(f"{'cat' if i % 3 else 'dog'}/f{i}.jpg", content=i + 1, phash=(i + 1) * 0x9E3779B97F4A7C15 % 2**64, w=64 + i % 7)
        for i in ids
    ]


class Output:
    """A build output as curation sees it: the manifest's rows, curation.json and the kept assignment."""

    def __init__(self):
        self.rows, self.state, self.assigned = [], None, None

    def build(self, rows, **keys):
        done = curate_rows(rows, CurationSettings.from_settings(keys), self.rows, self.state, self.assigned)
        self.rows, self.state = done.rows, done.state
        if done.assigned is not None:  # as toolkit._curation.curate_output writes it
            self.assigned = Assigned.from_bytes(done.assigned.to_bytes())
        return {r["source"]: r.get("split") for r in done.rows}


between = st.sampled_from(["no-splits", "labels-off", "parent", "tight-filter", "remove", "add", "dedupe-off"])


@settings(max_examples=80, deadline=None)
@given(st.lists(between, min_size=1, max_size=5), st.integers(0, 3), st.data())
def test_a_placed_file_never_moves_whatever_builds_come_between(steps, seed, data):
    out = Output()
    ids = set(range(40))
    placed = {s: v for s, v in out.build(dataset(sorted(ids)), labels="folder", splits=SPLITS, split_seed=seed).items() if v}
    for step in steps:
        keys = {"labels": "folder"}
        if step == "labels-off":
            keys = {}
        elif step == "parent":
            keys = {"labels": "parent"}
        elif step == "tight-filter":
            keys = {"labels": "folder", "filters": {"min_side": 68}, "splits": SPLITS, "split_seed": seed}
        elif step == "remove":
            ids -= set(data.draw(st.lists(st.sampled_from(sorted(ids)), max_size=10)))
        elif step == "add":
            ids |= set(range(max(ids, default=0) + 1, max(ids, default=0) + 1 + data.draw(st.integers(1, 15))))
        elif step == "dedupe-off":
            keys = {"labels": "folder", "splits": SPLITS, "split_seed": seed, "dedupe": "off"}
        out.build(dataset(sorted(ids)), **keys)
        # the same split settings again, with files added back and new ones
        ids |= set(range(40)) | {200 + len(steps)}
        now = out.build(dataset(sorted(ids)), labels="folder", splits=SPLITS, split_seed=seed)
        moved = {s: (was, now[s]) for s, was in placed.items() if now.get(s) not in (None, was)}
        assert moved == {}
        placed |= {s: v for s, v in now.items() if v}


def test_another_seed_is_a_re_split_and_the_old_assignment_is_not_carried_back():
    out = Output()
    rows = dataset(range(300))
    zero = out.build(rows, splits=SPLITS, split_seed=0)
    one = out.build(rows, splits=SPLITS, split_seed=1)
    assert sum(zero[s] != one[s] for s in zero) > 30
    fresh_zero = Output().build(rows, splits=SPLITS, split_seed=0)
    assert out.build(rows, splits=SPLITS, split_seed=0) == fresh_zero  # made afresh, as on a first build


def test_a_build_without_splits_leaves_the_assignment_as_it_was():
    out = Output()
    out.build(dataset(range(20)), splits=SPLITS)
    kept = out.assigned
    done = curate_rows(dataset(range(20)), CurationSettings(), out.rows, out.state, kept)
    assert done.assigned is None and all("split" not in r for r in done.rows)


roots = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
names = st.from_regex(r"[A-Za-z0-9_]{1,8}", fullmatch=True)


@given(st.dictionaries(st.tuples(roots, st.from_regex(r"[A-Za-z0-9+/]{1,20}={0,2}", fullmatch=True)), names, max_size=30))
def test_the_kept_assignment_round_trips_and_a_cut_one_is_not_trusted(splits):
    a = Assigned({"fractions": {"a": 0.5, "b": 0.5}, "seed": 3}, splits)
    data = a.to_bytes()
    assert Assigned.from_bytes(data) == a
    assert Assigned.from_bytes(data[:-1]) is None  # a last line cut short: not trusted at all
    assert Assigned.from_bytes(b'{"format": "something else"}\n') is None


def test_a_million_files_take_about_fifty_bytes_each():
    a = Assigned({"fractions": SPLITS, "seed": 0}, {("/data/in", f"Y2F0L3t{i:08d}LmpwZw=="): "train" for i in range(10_000)})
    assert len(a.to_bytes()) < 10_000 * 40


def test_a_damaged_assignment_file_is_not_trusted_and_never_raises():
    head = b'{"format": "dataprep-splits", "names": ["test", "train"], "roots": ["/in"], "settings": {}, "version": 1}\n'
    for damaged in (b"\xff\xfe garbage\n", head + b"1\t0\tY2F0\xe9\n", head + b"-1\t0\tY2F0\n", head + b"1\t-1\tY2F0\n"):
        assert Assigned.from_bytes(damaged) is None
    assert Assigned.from_bytes(head + b"1\t0\tY2F0\n") == Assigned({}, {("/in", "Y2F0"): "train"})
