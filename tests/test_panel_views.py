"""The panel's views draw the progress state, and its messages name settings by their controls' labels."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("ipywidgets")

from curate_rows import row  # noqa: E402
from toolkit import _synth as synth  # noqa: E402
from toolkit._config import BuildConfig  # noqa: E402
from toolkit._events import Event  # noqa: E402
from toolkit._state import ProgressState  # noqa: E402
from toolkit._widgets import Panel  # noqa: E402
from toolkit._widgets._controls import label_keys  # noqa: E402
from toolkit._widgets._curation_controls import parse_splits_text, splits_text  # noqa: E402
from toolkit._widgets._curation_view import duplicate_groups, duplicates_html, split_label_counts, split_table_html  # noqa: E402
from toolkit._widgets._views import Views  # noqa: E402


def test_a_setting_key_in_a_message_is_shown_as_its_controls_label():
    labels = Panel(inputs=["in"], output="out").controls.labels
    assert labels["memory_limit"] == "Worker memory" and labels["max_memory_percent"] == "Max memory %"
    shown = label_keys("raise `memory_limit` or use fewer `jobs` <now>; `timeout` has no control", labels)
    assert "<b class='dp-setting' title='memory_limit'>Worker memory</b>" in shown
    assert "Jobs (0 = auto)" in shown and "&lt;now&gt;" in shown and "<code>timeout</code>" in shown
    assert "`" not in shown
    assert label_keys("raise `memory_limit`", labels, as_html=False) == "raise Worker memory"


def test_views_draw_the_state_folded_from_events():
    state = ProgressState(max_memory_percent=70.0)
    for kind, at, data in [
        (
            "run-started",
            0.0,
            dict(files=4, bytes=4 * 2**20, batches=2, batch_size=2, budget_bytes=2**20, memory_limit=2**30, workers=1),
        ),
        ("batch-started", 1.0, dict(batch="b1", files=2, est_bytes=2**21)),
        ("item", 2.0, dict(row={"source": "a.jpg", "status": "ok", "bytes_in": 2**20})),
        (
            "item",
            2.0,
            dict(
                row={
                    "source": "b<\u202e>.jpg",
                    "status": "failed",
                    "bytes_in": 2**20,
                    "error": {"type": "decode-error", "message": "bad"},
                }
            ),
        ),
        ("settings-changed", 3.0, dict(batch_size=5, max_memory_percent=60.0)),
        (
            "resources",
            3.0,
            dict(system={"memory_percent": 55.0, "cpu_percent": 20.0}, workers={"w0": {"rss": 2**29, "limit": 2**30}}),
        ),
    ]:
        state.apply(Event.make(kind, at=at, **data))
    views = Views()
    views.draw(state)
    assert (views.progress.value, views.progress.max) == (2, 4)
    assert "50%" in views.progress_label.value and "2 / 4 files" in views.progress_label.value
    assert "2 MiB / 4 MiB" in views.progress_label.value and "ETA 2.0s" in views.progress_label.value  # 2 MiB in 2 s, 2 MiB left
    assert "dp-batch-size'>5<" in views.batch_label.value and "dp-last-batch'>2<" in views.batch_label.value
    assert "max 60 %" in views.gauges.value and "512 MiB / 1 GiB" in views.gauges.value
    assert "<b>1 failed</b>" in views.failed_table.value and "b&lt;\\u202e&gt;.jpg" in views.failed_table.value


def test_a_failed_files_message_names_settings_by_their_labels_and_leaves_names_alone():
    """The live failure table and the stop reason say "Worker memory" where the core says
    `memory_limit`, as the panel's other messages do; a file named `jobs`.jpg keeps its name."""
    p = Panel(inputs=["in"], output="out")
    state = ProgressState()
    message = "/in/`jobs`.jpg: ran out of memory; give workers more memory (`memory_limit`)"
    row = {"source": "`jobs`.jpg", "status": "failed", "error": {"type": "limit-exceeded", "message": message}}
    state.apply(Event.make("item", row=row))
    p.views.draw(state)
    table = p.failed_table.value
    assert "<b class='dp-setting' title='memory_limit'>Worker memory</b>" in table
    assert "/in/`jobs`.jpg: ran out" in table and "<td>`jobs`.jpg</td>" in table and "Jobs (0" not in table
    assert label_keys("see a/`output`/b and `jobs`.jpg", p.controls.labels, as_html=False) == "see a/`output`/b and `jobs`.jpg"


def test_the_report_and_stop_reason_name_settings_by_their_labels(tmp_path):
    from dataclasses import replace

    from toolkit._runreport import stopped_report

    p = Panel(inputs=["in"], output="out")
    report = stopped_report(tmp_path, 1.0, 0.0, {"type": "output-write-failed", "message": "no space left: free some (`output`)"})
    failed = ("`jobs`.jpg", "limit-exceeded", "`jobs`.jpg: give workers more memory (`memory_limit`)")
    p.views.show_report(replace(report, counts={"failed": 1}, failures=(failed,)))
    output = "(<b class='dp-setting' title='output'>Output folder</b>)"
    assert f"no space left: free some {output}" in p.status.value
    shown = p.report_view.value
    assert f"no space left: free some {output}" in shown and "<td>`jobs`.jpg</td>" in shown
    assert "`jobs`.jpg: give workers more memory (<b class='dp-setting' title='memory_limit'>Worker memory</b>)" in shown
    assert "`memory_limit`" in report.html() + replace(report, failures=(failed,))._repr_html_()  # Python's view keeps the key


# --------------------------------------------------------------------------- curation: controls and views


def test_curation_controls_come_from_the_registry_and_name_keys_as_their_labels():
    p = Panel(inputs=["in"], output="out", labels="folder", filters={"min_side": 64}, splits={"train": 0.8, "test": 0.2})
    assert (p.labels.value, p.min_side.value, p.max_aspect.value, p.splits.value) == ("folder", "64", "", "train=0.8, test=0.2")
    assert p.dedupe.value == "auto" and p.near_distance.value == 8
    s = p.settings()
    assert s["filters"] == {"min_side": 64} and s["splits"] == {"train": 0.8, "test": 0.2} and s["dedupe"] is None
    labels = p.controls.labels
    assert labels["filters.min_side"] == "Min side (px)" and labels["labels"] == "Labels" and labels["splits"] == "Splits"
    said = label_keys("`filters.min_side` must be a whole number >= 1; `split_seed` too", labels, as_html=False)
    assert said == "Min side (px) must be a whole number >= 1; Split seed too"
    from toolkit._settings import SETTINGS

    assert ("captions" in SETTINGS) == (getattr(p, "captions", None) is not None)  # a control once the registry has the key
    # "copy as code" carries them: the JSON config and the call make the same build
    assert BuildConfig.create(**json.loads(p.config_json.value)) == p.config()
    assert "labels='folder'" in p.code.value and "splits={'train': 0.8, 'test': 0.2}" in p.code.value
    p.split_seed.value = 7
    assert "split_seed=7" in p.code.value and p.config().split_seed == 7


def test_a_captions_control_appears_when_the_registry_has_the_key(monkeypatch):
    from toolkit import _settings
    from toolkit._widgets._curation_controls import CurationControls

    caps = _settings.Setting("captions", lambda k, v: v, "Captions.", "choice", choices=("none", "sidecar"))
    monkeypatch.setitem(_settings.SETTINGS, "captions", caps)
    with_key = CurationControls(BuildConfig())
    assert with_key.captions is not None and with_key.captions.options == ("none", "sidecar")
    assert with_key.names["captions"] == "Captions" and with_key.captions in with_key.widgets
    monkeypatch.delitem(_settings.SETTINGS, "captions")
    without = CurationControls(BuildConfig())
    assert without.captions is None and "captions" not in without.names and "captions" not in without.settings()


@pytest.mark.parametrize(
    "text, fractions",
    [
        ("", {}),
        ("train=0.8, val=0.1, test=0.1", {"train": 0.8, "val": 0.1, "test": 0.1}),
        (" a = 0.5 ; b=0.5 ", {"a": 0.5, "b": 0.5}),
    ],
)
def test_splits_text_reads_as_fractions(text, fractions):
    assert parse_splits_text(text) == fractions
    assert parse_splits_text(splits_text(fractions)) == fractions


@pytest.mark.parametrize(
    "text, says",
    [
        ("train=0.8, test", "give each split as name=fraction"),
        ("train=0.8, test=0.1", "must sum to 1"),
        ("train=lots, test=0.2", "must be a number like 0.8"),
        ("tr-ain=0.5, test=0.5", "letters, digits and _ only"),
        ("a=0.5, a=0.5", "given twice"),
    ],
)
def test_a_bad_splits_text_is_said_beside_the_control_and_stops_a_start(text, says, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    p = Panel(inputs=[str(src)], output=str(tmp_path / "out"))
    p.splits.value = text
    assert says in p.splits_error.value and "<b class='dp-setting' title='splits'>Splits</b>" in p.splits_error.value
    p.start_button.click()  # before any work: no run, no output folder
    assert says in p.status.value and p.run is None and not p.running and not (tmp_path / "out").exists()
    p.splits.value = "train=0.5, test=0.5"
    assert p.splits_error.value == ""


def test_a_filter_that_cannot_work_is_said_beside_the_controls_by_its_label():
    p = Panel(inputs=["in"], output="out")
    p.min_side.value = "tiny"
    assert "Min side (px)</b> must be a whole number" in p.curation_error.value
    p.min_side.value = "32"
    p.max_aspect.value = "0.5"
    assert "Max aspect</b> must be a number &gt;= 1" in p.curation_error.value
    p.max_aspect.value = ""
    assert p.curation_error.value == "" and p.settings()["filters"] == {"min_side": 32}


@given(
    st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), st.integers(1, 1000), min_size=1, max_size=5)
)
def test_any_valid_splits_round_trip_through_the_text_box(weights):
    total = sum(weights.values())
    fractions = {k: w / total for k, w in weights.items()}
    if abs(sum(fractions.values()) - 1) > 1e-9:
        return
    assert parse_splits_text(splits_text(fractions)) == fractions


def test_split_table_has_totals_per_split_per_label_and_overall():
    shown = split_table_html({"test": {"cat": 1, "dog": 2}, "train": {"cat": 5, "": 1}})
    cells = re.findall(r"<t[hd][^>]*>(?:<b>)?([^<]*)", shown)
    assert cells[:5] == ["split \\ label", "–", "cat", "dog", "total"]
    assert cells[5:10] == ["test", "0", "1", "2", "3"] and cells[10:15] == ["train", "1", "5", "0", "6"]
    assert cells[15:] == ["total", "1", "6", "2", "9"]
    assert split_table_html({}) == ""
    # from the rows: files in the dataset only; labels without splits count under the split "–"
    rows = [row("a"), row("b"), row("c", status="failed"), row("d", status="skipped")]
    for r, label in zip(rows, ("cat", "dog", "cat", "cat")):
        r["label"] = label
    assert split_label_counts(rows) == {"–": {"cat": 1, "dog": 1}}
    rows[0]["split"] = rows[1]["split"] = "train"
    assert split_label_counts(rows) == {"train": {"cat": 1, "dog": 1}}
    assert split_label_counts([row("e")]) == {}


def _dup_rows(tmp_path, n_groups: int) -> list[dict]:
    """Curated rows of real pictures: group g has g % 4 + 2 members (its outputs on disk), pure curation."""
    from toolkit._curate import CurationSettings, curate_rows

    rows = []
    for g in range(n_groups):
        base = int.from_bytes(hashlib.blake2b(str(g).encode(), digest_size=8).digest(), "big") & ~0xF  # groups far apart
        for m in range(g % 4 + 2):
            name = f"g{g:02d}/m{m}.jpg"
            synth.write_photo(tmp_path / "out" / name, 96 - 8 * m, 72 - 6 * m, g)
            r = row(f"g{g:02d}/m{m}", w=96 - 8 * m, h=72 - 6 * m, content=1000 * g + max(m, 1), phash=base | m)
            r["outputs"] = [name]
            rows.append(r)
    return curate_rows(rows, CurationSettings(dedupe="near", near_distance=2)).rows


def test_duplicates_view_shows_each_group_as_a_strip_kept_first_largest_groups_first(tmp_path):
    rows = _dup_rows(tmp_path, 3)  # groups of 2, 3 and 4 members
    shown = duplicates_html(rows, str(tmp_path / "out"))
    strips = shown.split("class='dp-dup-group'")[1:]
    assert [s.count("<figure") for s in strips] == [4, 3, 2]
    for strip, g in zip(strips, ("g02", "g01", "g00")):
        first = strip.split("<figure")[1]
        assert "dp-dup-kept" in first and "3px solid" in first and ">kept</b>" in first and f"{g}/m0" in first
        assert strip.count(">kept</b>") == 1
    # m1 has m0's content hash: an exact copy; the others are near, their phash 1-3 bits from m0's
    assert "g02/m1<br><span class='dp-distance'>exact</span>" in strips[0]
    assert "g02/m2<br><span class='dp-distance'>1 bit</span>" in strips[0]
    assert "g02/m3<br><span class='dp-distance'>2 bits</span>" in strips[0]
    assert shown.count("data:image/jpeg;base64,") == 9 and "· <i>source</i>" not in shown
    assert "6 files in 3 groups" in shown


def test_duplicates_view_caps_the_groups_and_says_where_a_picture_comes_from(tmp_path):
    rows = _dup_rows(tmp_path, 23)
    shown = duplicates_html(rows, str(tmp_path / "out"), max_groups=20)
    assert shown.count("class='dp-dup-group'") == 20
    left = duplicate_groups(rows)[20:]
    assert f"… 3 more groups ({sum(len(g.others) for g in left)} duplicates) in the manifest" in shown
    # an output gone: the source stands in (said so); neither there: a grey box, "no picture"
    dup = next(r for r in rows if r["source"] == "g03/m1")
    (tmp_path / "out" / dup["outputs"][0]).rename(tmp_path / "m1-source.jpg")
    dup["input_root"], dup["source"] = str(tmp_path), "m1-source.jpg"
    other = next(r for r in rows if r["source"] == "g03/m2")
    (tmp_path / "out" / other["outputs"][0]).unlink()
    shown = duplicates_html(rows, str(tmp_path / "out"))
    strip = next(s for s in shown.split("class='dp-dup-group'") if "g03/m0" in s)
    assert "m1-source.jpg<br><span class='dp-distance'>exact</span> · <i>source</i>" in strip
    assert "g03/m2<br><span class='dp-distance'>1 bit</span> · <i>no picture</i>" in strip


def test_no_duplicates_is_said():
    assert "no duplicate groups" in duplicates_html([row("a"), row("b")], "/nowhere")


def test_duplicates_view_marks_the_kept_file_of_its_own_input_folder_when_names_repeat_across_inputs():
    """Two input folders both hold IMG_1.jpg (cameras repeat names): ``duplicate_of`` names only the
    source, so the view must find the kept file by its hashes, not take another folder's IMG_1.jpg."""
    from toolkit._curate import CurationSettings, curate_rows

    def at(root, source, **kw):
        r = row(source, **kw)
        r["input_root"] = root
        return r

    rows = [
        at("/a", "IMG_1", w=96, h=72, content=1, phash=0x00FF00FF00FF0000),  # kept: the largest
        at("/a", "IMG_2", w=48, h=36, content=2, phash=0x00FF00FF00FF0001),  # its near copy, in the same folder
        at("/b", "IMG_1", w=96, h=72, content=3, phash=0x0F0F0F0F0F0F0F00),  # another picture of the same name...
        at("/b", "IMG_3", w=48, h=36, content=4, phash=0x0F0F0F0F0F0F0F01),  # ...with a copy of its own
        at("/b", "IMG_4", w=48, h=36, content=1, phash=0x00FF00FF00FF0000),  # an exact copy of /a's IMG_1
    ]
    curated = curate_rows(rows, CurationSettings(dedupe="near", near_distance=2)).rows
    groups = duplicate_groups(curated)
    kept = sorted(
        (g.kept["input_root"], g.kept["source"], sorted((o["input_root"], o["source"]) for o in g.others)) for g in groups
    )
    assert kept == [
        ("/a", "IMG_1", [("/a", "IMG_2"), ("/b", "IMG_4")]),
        ("/b", "IMG_1", [("/b", "IMG_3")]),
    ]
