"""The panel and exports: export checkboxes, the curate and export stages' progress, the dataset card's pictures."""

from __future__ import annotations

import ast
import io
import tarfile
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("ipywidgets")

from curation_media import class_folders  # noqa: E402
from toolkit._config import BuildConfig  # noqa: E402
from toolkit._errors import Stopped  # noqa: E402
from toolkit._events import Event, EventBus, Stage  # noqa: E402
from toolkit._manifest import Manifest  # noqa: E402
from toolkit._progress import TextProgress  # noqa: E402
from toolkit._stages import Identity, StageContext, curate_and_export  # noqa: E402
from toolkit._state import ProgressState  # noqa: E402
from toolkit._widgets import Panel  # noqa: E402
from toolkit._widgets._card_view import card_view_html  # noqa: E402


def call_kwargs(code: str) -> dict:
    call = next(n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "build")
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}


# --------------------------------------------------------------------------- the stage event


def test_a_stage_event_is_typed_and_folded_into_the_state():
    ev = Event.make("stage", name="webdataset", state="started")
    assert ev.payload == Stage(name="webdataset", state="started", seconds=0.0)
    with pytest.raises(TypeError, match="stage_name"):
        Event.make("stage", stage_name="webdataset", state="started")
    s = ProgressState().apply(ev)
    assert s.stage == "webdataset" and s.stages == []
    s.apply(Event.make("stage", name="webdataset", state="finished", seconds=1.25))
    assert s.stage is None and s.stages == [("webdataset", "finished", 1.25)]


class _Sink:
    def __init__(self, name: str, stop_at: bool = False) -> None:
        self.name, self.stop_at, self.saw = name, stop_at, 0

    def export(self, rows, ctx):
        if self.stop_at:
            raise Stopped("stopped mid-export")
        self.saw = len(rows)
        return {"rows": len(rows)}


def test_curate_and_export_emits_a_stage_around_the_curators_and_each_sink_and_says_which_stopped(tmp_path):
    seen: list[Event] = []
    bus, asked = EventBus([seen.append]), {"stop": False}
    ctx = StageContext(tmp_path, BuildConfig(), Manifest(tmp_path), None, bus.emit, lambda: asked["stop"])
    figures = curate_and_export(ctx, [Identity(), Identity()], [_Sink("manifest_parquet"), _Sink("webdataset")])
    assert figures == {"manifest_parquet": {"rows": 0}, "webdataset": {"rows": 0}}
    assert [(e.payload.name, e.payload.state) for e in seen] == [
        ("curate", "started"),
        ("curate", "finished"),
        ("manifest_parquet", "started"),
        ("manifest_parquet", "finished"),
        ("webdataset", "started"),
        ("webdataset", "finished"),
    ]
    assert all(e.payload.seconds >= 0 for e in seen)
    seen.clear()
    asked["stop"] = True
    with pytest.raises(Stopped):
        curate_and_export(ctx, [], [_Sink("webdataset", stop_at=True), _Sink("parquet")])
    assert [(e.payload.name, e.payload.state) for e in seen] == [
        ("curate", "started"),
        ("curate", "finished"),  # no curators: the rows as they are
        ("webdataset", "started"),
        ("webdataset", "stopped"),
    ]


def test_the_text_progress_says_one_line_as_each_stage_ends():
    out = io.StringIO()
    view = TextProgress(file=out)
    view(Event.make("stage", name="webdataset", state="started"))
    view(Event.make("stage", name="webdataset", state="finished", seconds=1.23))
    view(Event.make("stage", name="card", state="stopped", seconds=0.4))
    assert out.getvalue().splitlines() == [
        "dataprep: writing webdataset shards: 1.2 s",
        "dataprep: drawing the dataset card: stopped after 0.4 s",
    ]


# --------------------------------------------------------------------------- the export controls


def test_export_checkboxes_read_as_the_exports_setting_and_copy_as_code_has_them(tmp_path):
    p = Panel(inputs=[str(tmp_path)], output=str(tmp_path / "out"), exports=["parquet"], card_source="my camera")
    checks = p.controls.export.checks
    assert {n: c.description for n, c in checks.items()} == {
        "webdataset": "WebDataset shards",
        "imagefolder": "HF imagefolder",
        "parquet": "Parquet shards",
    }
    assert [n for n, c in checks.items() if c.value] == ["parquet"] and p.card_source.value == "my camera"
    assert "exports" not in p.controls.extra
    checks["webdataset"].value = True
    p.card_license.value = "CC-BY-4.0"
    kw = call_kwargs(p.code_view.code.value)  # the code follows the controls
    assert kw["exports"] == ["webdataset", "parquet"] and kw["card_source"] == "my camera" and kw["card_license"] == "CC-BY-4.0"
    assert p.config().exports == ("webdataset", "parquet")
    checks["webdataset"].value = checks["parquet"].value = False
    assert "exports" not in call_kwargs(p.code_view.code.value) and p.config().exports == ()
    assert p.controls.labels["exports"] == "Exports" and p._said("`card_license`").count("Card: licence") == 1


def test_the_card_view_shows_the_cards_pictures_and_where_its_readme_is(tmp_path):
    assert card_view_html(str(tmp_path)) == ""  # no card yet: nothing to show
    (tmp_path / "README.md").write_text("---\n---\n# card\n")
    (tmp_path / "card").mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "card" / "labels.png")
    shown = card_view_html(str(tmp_path))
    assert "<b>Files per label and split</b>" in shown and shown.count("data:image/png;base64,") == 1
    assert f"{tmp_path / 'README.md'}</code>" in shown and shown.startswith("<details class='dp-card' open>")


# --------------------------------------------------------------------------- a real build from the panel


def _stages(run) -> list[tuple[str, str]]:
    return [(e.payload.name, e.payload.state) for e in run.events.history if e.kind == "stage"]


@pytest.mark.integration
def test_a_panel_build_with_webdataset_checked_shows_the_stages_and_the_card(tmp_path, client):
    import toolkit

    src, out = tmp_path / "in", tmp_path / "out"
    class_folders(src)
    p = Panel(client=client, inputs=[str(src)], output=str(out), op="thumbnail", size=64, labels="folder")
    p.splits.value = "train=0.5, test=0.5"
    p.controls.export.checks["webdataset"].value = True
    statuses: list[str] = []
    p.status.observe(lambda ch: statuses.append(ch["new"]), names="value")
    p.start()
    assert p.wait(180) and p.error is None, p.error
    assert not p.report.stopped and "done:" in p.status.value
    shards = sorted(x.name for x in (out / "webdataset").glob("*.tar"))
    assert shards == ["test-000000.tar", "train-000000.tar"]
    with tarfile.open(out / "webdataset" / "train-000000.tar") as tar:
        assert (
            sum(n.endswith(".cls") for n in tar.getnames())
            == p.report.curation["leakage"]["files"]["train"]["cat"] + (p.report.curation["leakage"]["files"]["train"]["dog"])
        )
    # each stage started and ended in order: curate, the mirror, manifest.parquet, the card, the shards, the card collected
    names = ["curate", "mirror", "manifest_parquet", "card", "webdataset", "card_wait"]
    assert _stages(p.run) == [(n, s) for n in names for s in ("started", "finished")]
    said = " ".join(statuses)
    assert said.index("curating…") < said.index("writing webdataset shards…") < said.index("finishing the dataset card…")
    # the card's pictures under the curation view, and in the notebook report
    card = p.card_view.value
    assert "<b>Dataset card</b>" in card and card.count("data:image/png;base64,") >= 3 and str(out / "README.md") in card
    assert "dataprep-card-pictures" in toolkit.report(out)._repr_html_()


@pytest.mark.integration
def test_stop_during_the_export_shows_stopped_and_the_same_build_writes_the_rest(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    class_folders(src)
    p = Panel(client=client, inputs=[str(src)], output=str(out), op="thumbnail", size=64, labels="folder")
    p.controls.export.checks["webdataset"].value = True

    def stop_at_shards(change: dict) -> None:
        if "data-stage='webdataset'" in change["new"]:
            p.stop()  # as the Stop button does, while the shards are being written

    statuses: list[str] = []
    p.status.observe(lambda ch: statuses.append(ch["new"]), names="value")
    p.status.observe(stop_at_shards, names="value")
    p.start()
    assert p.wait(180) and p.error is None, p.error
    assert p.report.stopped and "stopped:" in p.status.value
    assert any("stopping writing webdataset shards: the pieces being written finish" in s for s in statuses)
    assert ("webdataset", "stopped") in _stages(p.run) and ("webdataset", "finished") not in _stages(p.run)
    p.status.unobserve(stop_at_shards, names="value")
    p.start()  # the same command: every file carried over, the shards written
    assert p.wait(180) and p.error is None and not p.report.stopped, p.error
    assert ("webdataset", "finished") in _stages(p.run) and list(Path(out / "webdataset").glob("*.tar"))
