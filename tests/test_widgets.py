"""The notebook panel, headless: set widget values, click buttons, against a real cluster."""

import ast
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")

from toolkit import _synth as synth  # noqa: E402
from toolkit._config import BuildConfig  # noqa: E402
from toolkit._manifest import read_rows  # noqa: E402
from toolkit._dashboard import dashboard_urls  # noqa: E402
from toolkit._widgets import Panel, build_code  # noqa: E402

from curation_media import class_folders  # noqa: E402
from helpers import bookkeeping_left, wait_until  # noqa: E402

pytestmark = pytest.mark.integration


def photos(folder: Path, n: int, size=(320, 240)) -> list[Path]:
    return [synth.write_photo(folder / f"img{i:04d}.jpg", size[0], size[1], i) for i in range(n)]


def call_kwargs(code: str) -> dict:
    call = next(n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "build")
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}


# --------------------------------------------------------------------------- pure parts


def test_dashboard_urls_follow_the_link_template():
    assert dashboard_urls("/user/ann/proxy/8787/status") == {
        "status": "/user/ann/proxy/8787/status",
        "progress": "/user/ann/proxy/8787/individual-progress",
        "workers_memory": "/user/ann/proxy/8787/individual-workers-memory",
        "task_stream": "/user/ann/proxy/8787/individual-task-stream",
        "health": "/user/ann/proxy/8787/health",
    }
    assert dashboard_urls("https://h:1/x/status?token=t")["progress"] == "https://h:1/x/individual-progress?token=t"
    assert dashboard_urls(None) == {}


def test_copy_as_code_round_trips(tmp_path):
    p = Panel(
        inputs=[str(tmp_path / "in"), str(tmp_path / "in2")],
        output=str(tmp_path / "out"),
        op="resize",
        size=(64, 48),
        format="png",
        quality=70,
        batch_size=4,
        jobs=2,
        memory_limit="512MiB",
        max_memory_percent=70,
        timeout=30,
        force=True,
    )
    cfg = p.config()
    assert cfg.ops[0].get("size") == (64, 48) and cfg.batch_size == 4 and cfg.memory_limit == 512 * 2**20
    assert BuildConfig.create(**call_kwargs(p.code.value)) == cfg
    assert BuildConfig.create(**json.loads(p.config_json.value)) == cfg
    # change widgets: the code follows
    p.op.value = "contact-sheet"
    p.size.value = ""
    p.batch_auto.value = True
    p.scheduler.value = "tcp://127.0.0.1:8786"
    cfg2 = p.config()
    assert cfg2.ops[0].name == "contact-sheet" and cfg2.batch_size is None and cfg2.scheduler == "tcp://127.0.0.1:8786"
    assert BuildConfig.create(**call_kwargs(p.code.value)) == cfg2
    assert BuildConfig.create(**json.loads(p.config_json.value)) == cfg2
    # several ops per build
    p3 = Panel(inputs=["a"], output="b", ops=[{"op": "frames", "count": 4}, {"op": "contact-sheet", "frames": 9}])
    assert p3.op.value == "frames + contact-sheet"
    assert BuildConfig.create(**call_kwargs(build_code(p3.config()))) == p3.config()
    # a bad value is shown, not raised
    p.quality.value = 50
    p.memory_limit.value = "12 parsecs"
    assert "memory_limit" in p.code_error.value


def test_start_with_bad_settings_shows_the_error(tmp_path):
    p = Panel(inputs=[str(tmp_path / "missing")], output=str(tmp_path / "out"))
    p.start_button.click()
    assert "does not exist" in p.status.value
    assert not p.running and p.run is None


# --------------------------------------------------------------------------- real builds


def test_names_with_controls_are_shown_escaped_in_the_panel(tmp_path, client):
    """A name with a newline or a bidi override (U+202E turns 'gnp.exe' into 'exe.png' on screen)
    is shown as the manifest writes it, in the failed table, the report and the preview."""
    src = tmp_path / "in"
    photos(src, 2)
    synth.write_truncated_jpeg(src / "bad\n\u202egnp.exe.jpg", 0)
    (src / "img0000.jpg").rename(src / "ok\u202e.jpg")
    p = Panel(client=client, inputs=[str(src)], output=str(tmp_path / "out"), op="thumbnail", size=64)
    p.start()
    assert p.wait(120) and p.error is None and p.report.failed == 1
    assert "bad\\n\\u202egnp.exe.jpg" in p.failed_table.value
    assert "ok\\u202e.jpg" in p.preview.value
    for shown in (p.failed_table.value, p.report_view.value, p.preview.value):
        assert "\u202e" not in shown and "bad\n" not in shown


def test_panel_build_progress_failures_preview(tmp_path, client):
    src = tmp_path / "in"
    photos(src, 12)
    synth.write_truncated_jpeg(src / "broken.jpg", 0)
    out = tmp_path / "out"
    p = Panel(client=client, inputs=[str(src)], output=str(out), op="thumbnail", size=64, batch_size=3)
    p.start_button.click()
    assert p.wait(120), p.log.outputs
    assert p.error is None, p.error
    rep = p.report
    assert rep.ok == 12 and rep.failed == 1
    # progress reached the total
    assert p.progress.max == 13 and p.progress.value == 13
    assert "100%" in p.progress_label.value and "13 / 13 files" in p.progress_label.value
    # the failed table names the broken file and why
    assert "broken.jpg" in p.failed_table.value
    assert rep.failures[0][1] in p.failed_table.value
    # gauges from resources events (system, CPU, each worker)
    assert "system memory" in p.gauges.value and "CPU" in p.gauges.value and "worker " in p.gauges.value
    # the dashboard: link from client.dashboard_link, iframes of single plots
    assert client.dashboard_link in p.dashboard.value
    assert "individual-progress" in p.dashboard_frames.value and "individual-workers-memory" in p.dashboard_frames.value
    # report and preview grid
    assert "Build finished" in p.report_view.value
    assert p.preview.value.count("class='dp-before'") >= 3
    assert p.preview.value.count("data:image/jpeg;base64,") >= 6
    assert (out / "manifest.jsonl").exists() and (out / "summary.json").exists()
    assert not p.running and not p.start_button.disabled and p.stop_button.disabled


def test_slider_changes_reach_the_next_batches(tmp_path, client):
    src = tmp_path / "in"
    photos(src, 120, size=(640, 480))
    p = Panel(
        client=client,
        inputs=[str(src)],
        output=str(tmp_path / "out"),
        op="resize",
        size=256,
        batch_size=1,
        in_flight_per_worker=1,
    )
    p.start()
    run = p.wait_running(60)
    assert run is not None

    def slide_memory(ev):  # max memory moves just as the run takes the new size: the tightest interleaving
        if ev.kind == "settings-changed" and ev.data["batch_size"] == 7 and p.max_memory.value != 90:
            p.max_memory.value = 90

    run.events.subscribe(slide_memory)
    assert wait_until(lambda: run.progress["files_done"] >= 2, 60)
    p.batch_size.value = 7  # the user moves the slider during the run
    assert wait_until(lambda: any(e.kind == "settings-changed" and e.data.get("batch_size") == 7 for e in run.events.history), 10)
    assert p.wait(180)
    assert p.error is None
    assert any(e.kind == "settings-changed" and e.data.get("max_memory_percent") == 90 for e in run.events.history)
    starts = [e for e in run.events.history if e.kind == "batch-started"]
    changed_at = next(
        i for i, e in enumerate(run.events.history) if e.kind == "settings-changed" and e.data.get("batch_size") == 7
    )
    after = [e.data["files"] for e in run.events.history[changed_at:] if e.kind == "batch-started"]
    before = [e.data["files"] for e in run.events.history[:changed_at] if e.kind == "batch-started"]
    assert before and set(before) == {1}
    assert after and after[0] == 7, after  # the next batch uses the new size
    # what max memory's change tells is the size in use, not the one it replaced: the panel shows 7
    told = [e.data["batch_size"] for e in run.events.history[changed_at:] if e.kind == "settings-changed"]
    assert set(told) == {7}, told
    assert p.state.batch_size == 7 and "dp-batch-size'>7<" in p.batch_label.value
    assert len(starts) == len(before) + len(after)
    assert p.report.ok == 120


def test_stop_stops_with_manifest_written(tmp_path, client):
    src = tmp_path / "in"
    photos(src, 150, size=(800, 600))
    out = tmp_path / "out"
    p = Panel(client=client, inputs=[str(src)], output=str(out), op="resize", size=300, batch_size=2, in_flight_per_worker=1)
    p.start_button.click()
    run = p.wait_running(60)
    assert run is not None
    assert wait_until(lambda: run.progress["files_done"] >= 4, 60)
    assert not p.stop_button.disabled
    p.stop_button.click()
    assert p.wait(60)
    rep = p.report
    assert rep is not None and rep.stopped
    assert "stopped" in p.status.value and "Build stopped" in p.report_view.value
    rows = read_rows(out / "manifest.jsonl")
    done = [r for r in rows if r["status"] == "ok"]
    assert 4 <= len(done) < 150
    assert json.loads((out / "summary.json").read_text())["stopped"] is True
    assert p.progress.value < 150


def test_panel_starts_its_own_cluster_and_reuses_it(tmp_path):
    src = tmp_path / "in"
    photos(src, 4)
    p = Panel(inputs=[str(src)], output=str(tmp_path / "out"), jobs=1, memory_limit="512MiB", dashboard_address="127.0.0.1:0")
    try:
        p.start()
        assert p.wait(120) and p.error is None, p.error
        assert p.report.ok == 4
        first = p.session.current
        assert first is not None and first.status == "running"  # kept for the next run (the dashboard stays up)
        p.force.value = True
        p.start()
        assert p.wait(120) and p.report.ok == 4
        assert p.session.current is first
    finally:
        p.close()
    assert p.session.current is None


def test_panel_sizes_a_new_cluster_when_max_memory_changes_with_an_automatic_limit(tmp_path):
    """Without a memory limit, workers get their share of max_memory_percent of the machine: a
    lower setting for the next run must not reuse workers sized for the higher one."""
    from toolkit._cluster import default_memory_limit, worker_memory_limits

    src = tmp_path / "in"
    photos(src, 2)
    p = Panel(inputs=[str(src)], output=str(tmp_path / "out"), jobs=1, dashboard_address="127.0.0.1:0", max_memory_percent=60)
    try:
        p.start()
        assert p.wait(120) and p.error is None, p.error
        first = p.session.current
        assert list(worker_memory_limits(first).values()) == [default_memory_limit(1, 60)]
        p.max_memory.value = 30
        p.force.value = True
        p.start()
        assert p.wait(120) and p.error is None and p.report.ok == 2
        assert p.session.current is not first
        assert list(worker_memory_limits(p.session.current).values()) == [default_memory_limit(1, 30)]
    finally:
        p.close()


def test_same_named_failures_from_two_inputs_are_both_listed(tmp_path, client):
    for root in ("a", "b"):
        photos(tmp_path / root, 2)
        synth.write_truncated_jpeg(tmp_path / root / "bad.jpg", 0)
    p = Panel(
        client=client, inputs=[str(tmp_path / "a"), str(tmp_path / "b")], output=str(tmp_path / "out"), op="thumbnail", size=64
    )
    p.start()
    assert p.wait(120) and p.error is None
    assert p.report.counts.get("failed") == 2
    assert "<b>2 failed</b>" in p.failed_table.value


def test_dashboard_link_stays_proxied_on_jupyterhub(tmp_path, client, monkeypatch):
    """Inside JupyterHub the browser reaches the dashboard only through the proxy: the link shown
    must stay the proxied one for the whole run (not be replaced by the scheduler's own address)."""
    pytest.importorskip("jupyter_server_proxy")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ann/")
    photos(tmp_path / "in", 3)
    p = Panel(client=client, inputs=[str(tmp_path / "in")], output=str(tmp_path / "out"), op="thumbnail", size=64)
    p.start()
    assert p.wait(120) and p.error is None
    assert "/user/ann/proxy/" in p.dashboard.value and client.dashboard_link not in p.dashboard.value


def test_a_build_holds_its_output_folder_and_the_panel_shows_a_refusal(tmp_path, monkeypatch, make_cluster):
    """While a build runs, a second one on the same output folder (here from the panel) is refused
    with a clear message and leaves the panel ready; once the build ends the folder is free."""
    import toolkit
    from toolkit._worker import TEST_HANG_ENV

    monkeypatch.setenv(TEST_HANG_ENV, "slow:2")  # files named *hang* take 2 s: the build runs a while
    client = make_cluster(jobs=1)
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name in ("a-hang.jpg", "b-hang.jpg"):
        synth.write_photo(src / name, 64, 48, 1)
    run = toolkit.start(inputs=[str(src)], output=str(out), client=client, batch_size=1)
    p = Panel(client=client, inputs=[str(src)], output=str(out), op="thumbnail", size=32)
    p.start_button.click()
    assert p.wait(30), "the panel must not hang on a refused build"
    assert "in use by another build" in p.status.value and str(out) in p.status.value
    assert p.run is None and not p.running and not p.start_button.disabled
    assert not run.done  # the refusal came while the first build ran
    assert run.result(timeout=120).counts == {"ok": 2}
    assert not bookkeeping_left(out)
    p.start_button.click()  # the folder is free again
    assert p.wait(120) and p.error is None and p.report.counts == {"ok": 2}  # 32 px now: both redone


# --------------------------------------------------------------------------- curation


def split_table(shown: str) -> dict[str, dict[str, int]]:
    """The split x label table the panel shows, read back: {split: {label: n}}, totals included."""
    table = shown.split("<table class='dp-split-table'", 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<t[hd][^>]*>(?:<b>)?([^<]*)", tr) for tr in table.split("<tr")[1:]]
    head = rows[0][1:]
    return {r[0]: {label: int(n) for label, n in zip(head, r[1:])} for r in rows[1:]}


def test_a_curated_build_shows_its_duplicates_and_a_changed_control_recurates_it(tmp_path, client):
    src, out = tmp_path / "in", tmp_path / "out"
    class_folders(src)
    p = Panel(client=client, inputs=[str(src)], output=str(out), op="thumbnail", size=64, labels="folder")
    p.splits.value = "train=0.5, test=0.5"
    p.start()
    assert p.wait(120) and p.error is None, p.error
    run, view = p.run, p.curation_view.value
    assert p.report.curation["duplicates"] == 3 and "kept <b class='dp-kept-count'>12</b>" in view
    # the split x label table, with totals: 6 + 6 kept, each file where its row says (a split comes from
    # a hash of the file's content, so not exactly half in each)
    rows = [r for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"]
    expected = {
        s: {lb: sum(r["split"] == s and r["label"] == lb for r in rows) for lb in ("cat", "dog")} for s in ("test", "train")
    }
    expected = {s: {k: v for k, v in per.items() if v} for s, per in expected.items()}
    table = split_table(view)
    assert table["total"] == {"cat": 6, "dog": 6, "total": 12}
    assert {s: {k: v for k, v in table[s].items() if k != "total" and v} for s in expected} == expected
    # duplicates: largest group first, the kept member first, marked; thumbnails from the outputs
    strips = view.split("class='dp-dup-group'")[1:]
    assert len(strips) == 2 and strips[0].count("<figure") == 3 and strips[1].count("<figure") == 2
    assert "title='dog/dog1.jpg'>dog/dog1.jpg<br><b class='dp-kept'>kept</b>" in strips[0]
    assert re.search(r"dog1-small\.jpg<br><span class='dp-distance'>\d+ bits?</span>", strips[0])
    assert "<span class='dp-distance'>exact</span>" in strips[1]
    assert view.count(f"title='{out}/") == 5 and f"title='{src}/" not in view
    # a change re-curates in the background: no new run, nothing decoded, the table follows
    p.splits.value = "train=0.75, test=0.25"
    assert p.wait_curation(60)
    assert "re-curated in" in p.status.value and p.recurator.count == 1 and p.run is run
    table = split_table(p.curation_view.value)
    assert table["total"] == {"cat": 6, "dog": 6, "total": 12}
    assert table["train"]["cat"] in (4, 5) and table["train"]["dog"] in (4, 5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decoded"] == 0 and summary["settings"]["splits"] == {"train": 0.75, "test": 0.25}
    placed = [r["split"] for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"]
    assert placed.count("train") == table["train"]["total"] and placed.count("test") == table["test"]["total"]
    # quick changes (typing a number) are one re-curation, with the last value
    for v in ("1", "13", "130"):
        p.min_side.value = v
    assert p.wait_curation(60) and p.recurator.count == 2
    assert json.loads((out / "summary.json").read_text())["settings"]["filters"] == {"min_side": 130}
    view = p.curation_view.value
    assert "filtered 1 (too-small 1)" in view and "duplicates 2 in 2 groups" in view  # dog1-smaller is 160x120


def test_curation_changes_during_a_build_wait_for_its_end_and_a_start_cancels_a_pending_one(tmp_path, monkeypatch, make_cluster):
    from toolkit._worker import TEST_HANG_ENV

    monkeypatch.setenv(TEST_HANG_ENV, "slow:3")  # files named *hang* take 3 s: the build runs a while
    client = make_cluster(jobs=1)
    src, out = tmp_path / "in", tmp_path / "out"
    class_folders(src)
    synth.write_photo(src / "cat" / "hang.jpg", 320, 240, 50)
    p = Panel(client=client, inputs=[str(src)], output=str(out), op="thumbnail", size=64, labels="folder", batch_size=1)
    p.start()
    assert p.wait_running(60) is not None
    p.splits.value = "train=0.5, test=0.5"  # during the build: not applied to it, not re-curated while it runs
    assert wait_until(lambda: not p.running or p.recurator.count > 0, 1.5) is False
    assert p.wait(120) and p.error is None
    assert p.wait_curation(60) and p.recurator.count == 1 and "re-curated in" in p.status.value
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["splits"] == {"train": 0.5, "test": 0.5} and "test" in split_table(p.curation_view.value)
    # a change, then Start before it re-curates: the build takes the new settings; no re-curation runs
    p.splits.value = "train=0.6, test=0.4"
    p.start()
    assert p.wait(120) and p.error is None and p.wait_curation(60)
    assert p.recurator.count == 1 and "re-curated" not in p.status.value
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["splits"] == {"train": 0.6, "test": 0.4} and summary["decoded"] == 0


def test_a_panel_opened_on_a_curated_build_shows_it_and_recurates_it(tmp_path, client):
    import toolkit

    src, out = tmp_path / "in", tmp_path / "out"
    class_folders(src)
    toolkit.build(
        inputs=[str(src)], output=str(out), client=client, op="thumbnail", size=64, labels="folder", splits={"a": 0.5, "b": 0.5}
    )
    p = Panel(inputs=[str(src)], output=str(out), op="thumbnail", size=64)  # no curation given: the build's
    assert p.wait_curation(60)
    assert (p.labels.value, p.splits.value, p.dedupe.value) == ("folder", "a=0.5, b=0.5", "auto")
    view = p.curation_view.value
    assert "the build already in the output folder" in view and split_table(view)["total"]["total"] == 12
    assert view.count("class='dp-dup-group'") == 2
    p.dedupe.value = "off"
    assert p.wait_curation(60) and p.recurator.count == 1
    assert "no duplicate groups" in p.curation_view.value and split_table(p.curation_view.value)["total"]["total"] == 15
    assert p.session.current is None  # no cluster: curation reads the rows' facts only
    # given curation settings stand; a re-curation that cannot work says why in the message area
    flat = tmp_path / "flat"
    photos(flat, 3)
    toolkit.build(inputs=[str(flat)], output=str(tmp_path / "flat-out"), client=client, op="thumbnail", size=32)
    q = Panel(inputs=[str(flat)], output=str(tmp_path / "flat-out"), labels="none")
    assert q.wait_curation(60) and q.labels.value == "none" and "Curation is off for this build" in q.curation_view.value
    q.labels.value = "folder"
    assert q.wait_curation(60)
    assert "re-curation failed" in q.status.value and "<b class='dp-setting' title='labels'>Labels</b>" in q.status.value
    assert "needs class folders" in q.status.value and q.recurator.count == 0


def test_a_start_while_a_recuration_runs_waits_for_it_and_its_end_leaves_the_build_alone(tmp_path, client, monkeypatch):
    import toolkit
    from toolkit._widgets import _recurate

    src, out = tmp_path / "in", tmp_path / "out"
    class_folders(src)
    toolkit.build(inputs=[str(src)], output=str(out), client=client, op="thumbnail", size=64, labels="folder")
    p = Panel(client=client, inputs=[str(src)], output=str(out), op="thumbnail", size=64)
    assert p.wait_curation(60)
    real, started = _recurate.curate, []

    def curate_then_start(*args, **kwargs):  # the user clicks Start while the re-curation writes
        report = real(*args, **kwargs)
        p.start()
        started.append(p.running)
        return report

    monkeypatch.setattr(_recurate, "curate", curate_then_start)
    p.splits.value = "train=0.5, test=0.5"
    assert p.wait_curation(60) and started == [True]
    assert p.wait(120) and p.error is None, p.error
    assert "done: 12 ok" in p.status.value and "re-curat" not in p.status.value, p.status.value
    assert p.report is not None and p.report.curation["settings"]["splits"] == {"train": 0.5, "test": 0.5}
