"""A damaged video's warnings reach its row whichever op found the damage: the poster frame is
searched for early (for its facts), and what ffmpeg said while seeking it is part of the file's
damage record, shared with the video ops (it was lost for builds with a poster or image ops only)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from toolkit import _synth_video as sv
from toolkit._ops import OpSpec
from toolkit._probe import probe_items
from toolkit._scan import scan
from toolkit._worker import JobSpec, process_item


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    src = tmp_path_factory.mktemp("damaged")
    sv.make_cut_video(src / "cut.mp4", seconds=4, keep=0.1)  # data for the first ~0.4 s: the poster seeks past it
    sv.make_damaged_video(src / "zeroed.mp4", seconds=4, zeroed=(0.08, 0.15))  # the 10 % poster seek lands in it
    items, bad = probe_items(scan(src).items, ops=(OpSpec.make("poster"),))
    assert not bad
    return {i.rel: replace(i, out_rel=i.rel.rsplit(".", 1)[0]) for i in items}


@pytest.mark.parametrize("ops", [("poster",), ("thumbnail",), ("poster", "contact-sheet")], ids="+".join)
@pytest.mark.parametrize("name, warning", [("cut.mp4", "truncated"), ("zeroed.mp4", "decode-errors")])
def test_damage_seen_while_seeking_the_poster_is_on_the_row(probed, tmp_path, ops, name, warning):
    job = JobSpec(ops=tuple(OpSpec.make(o) for o in ops), output=str(tmp_path))
    row = process_item(probed[name], job)
    types = [w.type for w in row.warnings]
    assert row.status == "ok" and warning in types, (row.status, row.error, types)
    assert len(types) == len(set(types))  # one warning per type, however many ffmpeg calls saw it
