"""The panel's views draw the progress state, and its messages name settings by their controls' labels."""

from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")

from toolkit._events import Event  # noqa: E402
from toolkit._state import ProgressState  # noqa: E402
from toolkit._widgets import Panel  # noqa: E402
from toolkit._widgets._controls import label_keys  # noqa: E402
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
