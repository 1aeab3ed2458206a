"""Typed events: ``bus.emit("kind", **fields)`` builds the kind's payload, so a wrong kind or field fails where it is emitted."""

from __future__ import annotations

import pytest

from toolkit._events import PAYLOADS, BatchStarted, EventBus, Item


def test_emit_builds_the_typed_payload_and_keeps_the_dict():
    seen = []
    bus = EventBus([seen.append])
    ev = bus.emit("batch-started", batch="b-1", files=4, est_bytes=1024)
    assert seen == [ev]
    assert ev.payload == BatchStarted(batch="b-1", files=4, est_bytes=1024, oversized=False)
    assert ev.kind == "batch-started" and ev.data == {"batch": "b-1", "files": 4, "est_bytes": 1024, "oversized": False}
    assert bus.history == [ev]
    item = bus.emit("item", row={"status": "ok"}, left_out=True)
    assert isinstance(item.payload, Item) and item.payload.left_out and item not in bus.history  # items are not kept


def test_emit_rejects_an_unknown_kind_or_field_before_any_sink_sees_it():
    seen = []
    bus = EventBus([seen.append])
    with pytest.raises(ValueError, match="unknown event kind 'batch-begun'"):
        bus.emit("batch-begun", batch="b", files=1, est_bytes=1)
    with pytest.raises(TypeError, match="est_byte"):
        bus.emit("batch-started", batch="b", files=1, est_byte=1)
    with pytest.raises(TypeError, match="files"):
        bus.emit("batch-started", batch="b", est_bytes=1)  # a missing field too
    assert seen == [] and bus.history == []


def test_a_failing_sink_does_not_stop_the_others():
    seen = []

    def broken(_ev):
        raise RuntimeError("display gone")

    bus = EventBus([broken, seen.append])
    bus.emit("warning", message="hello")
    assert [e.data["message"] for e in seen] == ["hello"]


def test_every_kind_has_a_payload_named_by_its_kind():
    assert set(PAYLOADS) == {
        "run-started",
        "batch-started",
        "item",
        "batch-finished",
        "batch-retried",
        "resources",
        "throttle",
        "settings-changed",
        "stage",
        "warning",
        "run-finished",
    }
    assert all(cls.kind == kind for kind, cls in PAYLOADS.items())
