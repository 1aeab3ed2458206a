"""The text view draws the progress state: the plan line, the bar, each decision as a line."""

from __future__ import annotations

import io

from toolkit._events import Event
from toolkit._progress import TextProgress


def test_text_progress_draws_the_folded_state():
    out = io.StringIO()
    view = TextProgress(file=out)
    mib = 2**20
    plan = dict(files=3, bytes=3 * mib, batches=2, batch_size=2, budget_bytes=mib, memory_limit=2**30, workers=2, carried=1)
    view(Event.make("run-started", **plan))
    view(Event.make("item", row={"source": "gone.jpg", "status": "skipped"}, left_out=True))  # decided before: no progress
    for i in range(3):
        view(Event.make("item", row={"source": f"{i}.jpg", "status": "ok", "bytes_in": mib}))
        assert view.bar.n == view.state.files_done == i + 1
    view(
        Event.make(
            "throttle",
            action="pause",
            memory_percent=91.0,
            max_memory_percent=80.0,
            batch_size=2,
            budget_bytes=mib,
            reason="memory high",
        )
    )
    view(Event.make("run-finished", report=None))
    text = out.getvalue()
    assert "dataprep: 3 files (3 MiB) in 2 batches of up to 2 files / 1 MiB; 2 workers x 1 GiB; 1 already done" in text
    assert "dataprep: pause: memory high (memory 91.0% of max 80%; batch size 2, budget 1 MiB)" in text
    assert "3/3" in text and "3 MiB/3 MiB" in text and view.bar is None


def test_one_view_for_two_builds_counts_each_from_zero():
    """A view handed to one build after another (``toolkit.build(progress=view)`` twice) draws each
    build's own files and bytes, as the view before the progress state did."""
    out = io.StringIO()
    view = TextProgress(file=out)
    mib = 2**20
    plan = dict(files=2, bytes=2 * mib, batches=1, batch_size=2, budget_bytes=mib, memory_limit=2**30, workers=1)
    for build in range(2):
        view(Event.make("run-started", **plan))
        for i in range(2):
            view(Event.make("item", row={"source": f"{build}-{i}.jpg", "status": "ok", "bytes_in": mib}))
            assert view.bar.n == view.state.files_done == i + 1
        assert view.state.bytes_done == 2 * mib
        view(Event.make("run-finished", report=None))
    assert out.getvalue().count("2/2") == 2 and "4/2" not in out.getvalue()
