"""The manifest's rows kept aside while a run redoes files: only what a crash could lose, and a
crash at any point of a run's start loses no earlier row."""

import pytest

import toolkit._manifest as manifest_mod
from toolkit._manifest import Manifest, read_rows


def row(name: str, settings: str = "s1", status: str = "ok") -> dict:
    from toolkit._fs import path_b64

    return {
        "source": name,
        "source_b64": path_b64(name),
        "input_root": "/in",
        "status": status,
        "error": None,
        "warnings": [],
        "outputs": [f"{name}.jpg"],
        "width": 4,
        "height": 3,
        "bytes_in": 10,
        "bytes_out": 5,
        "seconds": 0.1,
        "batch": "b1",
        "mtime_ns": 1,
        "settings": settings,
    }


def finished_run(out, rows):
    m = Manifest(out)
    m.start(rows)
    m.finish()
    m.settle()


def keys(rows):
    return {(r["input_root"], r["source_b64"]): r for r in rows}


def test_an_incremental_run_keeps_aside_only_the_rows_it_redoes(tmp_path):
    finished_run(tmp_path, [row(f"f{i}") for i in range(100)])
    m = Manifest(tmp_path)
    earlier = m.previous()
    m.start([r for r in earlier if r["source"] != "f7"], earlier=earlier)  # f7 is redone, 99 carried
    assert [r["source"] for r in read_rows(m.kept_path)] == ["f7"]
    assert keys(m.previous()) == keys(earlier)  # nothing lost meanwhile
    m.finish()


def test_a_run_that_carries_everything_keeps_nothing_aside(tmp_path):
    finished_run(tmp_path, [row("a"), row("b")])
    m = Manifest(tmp_path)
    m.kept_path.parent.mkdir(parents=True)
    m.kept_path.write_text("")  # left by an earlier run that died: all of it is in the manifest
    earlier = m.previous()
    m.start(earlier, earlier=earlier)
    assert not m.kept_path.exists()
    m.finish()


@pytest.mark.parametrize("redo", [set(), {"b"}, {"a", "b", "c"}])
def test_a_crash_while_a_run_starts_loses_no_earlier_row(tmp_path, monkeypatch, redo):
    """Kill the start after each of its writes: the earlier rows must all still be readable."""
    finished_run(tmp_path, [row("a"), row("b"), row("c")])
    m0 = Manifest(tmp_path)
    m0.kept_path.parent.mkdir(parents=True)
    m0.kept_path.write_text("")
    (tmp_path / ".dataprep" / "previous.jsonl").write_bytes(Manifest._dump([row("gone", "s0")]))  # a file removed since
    earlier = Manifest(tmp_path).previous()
    real, calls = manifest_mod.atomic_write, []

    for crash_at in (1, 2):
        calls.clear()

        def dying(path, **kw):
            calls.append(path)
            if len(calls) == crash_at:
                raise KeyboardInterrupt("power cut")
            return real(path, **kw)

        monkeypatch.setattr(manifest_mod, "atomic_write", dying)
        with pytest.raises(KeyboardInterrupt):
            Manifest(tmp_path).start([r for r in earlier if r["source"] not in redo], earlier=earlier)
        monkeypatch.setattr(manifest_mod, "atomic_write", real)
        assert keys(Manifest(tmp_path).previous()) == keys(earlier), crash_at


def test_a_row_holding_an_undecodable_name_is_written_not_fatal(tmp_path):
    """A lone surrogate (an undecodable file name's byte) in a row is escaped in its line; the other
    rows stay plain UTF-8 and everything reads back as written."""
    odd = dict(row("a.jpg"), outputs=["bad\udcff.jpg"])
    finished_run(tmp_path, [row("plain-é.jpg"), odd])
    assert "plain-é" in (tmp_path / "manifest.jsonl").read_text(encoding="utf-8")
    assert {r["outputs"][0] for r in read_rows(tmp_path / "manifest.jsonl")} == {"plain-é.jpg.jpg", "bad\udcff.jpg"}


def test_a_run_that_starts_removes_the_summary_of_the_last_one(tmp_path):
    """summary.json describes a run that ended: while a new one runs (or after it dies) there is none,
    so `dataprep report` can tell an unfinished build from a finished one."""
    finished_run(tmp_path, [row("a.jpg")])
    Manifest(tmp_path).write_summary({"stopped": False})
    Manifest(tmp_path).start([row("a.jpg"), row("b.jpg")])
    assert not (tmp_path / "summary.json").exists()
