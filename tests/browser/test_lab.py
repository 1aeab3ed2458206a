"""The panel in a real browser: JupyterLab 4 (and Voila) driven by headless Chromium with Playwright.

The servers, the browser and the helpers are shared with the other browser tests (``conftest.py``,
``lab_harness.py``); screenshots go to ``test-artifacts/`` at the repository root.
"""

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import http_get
from lab_harness import (
    free_port,
    open_notebook,
    run_all,
    screenshot_on_failure,
    set_slider,
    shot,
    start_panel,
    stop_process,
    wait_kernel_idle,
    write_notebook,
)

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api")
pytest.importorskip("jupyterlab")


from toolkit import _synth as synth  # noqa: E402

PANEL_LONG = """import os
import toolkit

panel = toolkit.Panel(inputs=[os.environ["DATAPREP_LONG_INPUT"]], output=os.environ["DATAPREP_LONG_OUTPUT"],
                      op="resize", size=320, batch_size=2, in_flight_per_worker=1, jobs=2, memory_limit="1GiB")
panel"""


@pytest.fixture(scope="module")
def long_notebook(site):
    """400 photos for the long run, and the notebook whose panel builds them."""
    site["long"].mkdir(exist_ok=True)
    for i in range(400):
        synth.write_photo(site["long"] / f"l{i:04d}.jpg", 1280, 960, i)
    return write_notebook(site["nbdir"] / "panel-long.ipynb", PANEL_LONG).name


# --------------------------------------------------------------------------- tests


def test_quickstart_panel_in_jupyterlab(page, lab, site):
    pg = page
    with screenshot_on_failure(pg, "quickstart"):
        open_notebook(pg, lab, "01-quickstart.ipynb")
        run_all(pg)
        panel = pg.locator(".dataprep-panel").first
        panel.wait_for(state="visible", timeout=120_000)
        # the one-call build further down finishes too (the kernel is free again)
        pg.locator(".dataprep-report").first.wait_for(timeout=180_000)
        wait_kernel_idle(lab, "01-quickstart.ipynb", 180)
        panel.scroll_into_view_if_needed()
        panel.locator("button", has_text="Start").click()
        pg.wait_for_function(
            "() => [...document.querySelectorAll('.dataprep-panel .dp-percent')].some(e => e.textContent.trim() === '100%')",
            timeout=180_000,
        )
        panel.locator(".dp-done").wait_for(timeout=120_000)
        panel.locator(".dp-preview img.dp-after").first.wait_for(timeout=30_000)
        assert panel.locator(".dp-preview img.dp-after").count() >= 3
        assert panel.locator(".dp-preview img.dp-before").count() >= 3
        assert "8 / 8 files" in panel.locator(".dp-files").inner_text()
        shot(pg, "quickstart-panel-done", panel)
        # the dashboard tab: link through jupyter-server-proxy, plots embedded and loading
        panel.locator(".lm-TabBar-tab, .p-TabBar-tab", has_text="Dashboard").click()
        link = panel.locator("a.dp-dashboard-link").get_attribute("href")
        assert link.startswith("/proxy/") and link.endswith("/status"), link
        frame_src = panel.locator("iframe.dp-frame-progress").get_attribute("src")
        assert frame_src.endswith("/individual-progress")
        assert http_get(f"{lab['url']}{frame_src}?token={lab['token']}")[0] == 200
        frame = pg.frame_locator("iframe.dp-frame-memory")
        frame.locator("canvas").first.wait_for(timeout=60_000)  # bokeh drew the worker-memory plot
        pg.frame_locator("iframe.dp-frame-progress").locator("canvas").first.wait_for(timeout=60_000)
        shot(pg, "quickstart-dashboard", panel)
        # copy as code shows a toolkit.build call
        panel.locator(".lm-TabBar-tab, .p-TabBar-tab", has_text="Copy as code").click()
        code = panel.locator("textarea").first.input_value()
        assert "toolkit.build(" in code and "op='thumbnail'" in code
    assert (site["out"] / "panel" / "manifest.jsonl").exists()


def test_long_run_live_batch_size_and_stop(page, lab, site, long_notebook):
    pg = page
    out = site["out"] / "long"
    with screenshot_on_failure(pg, "long-run"):
        panel = start_panel(pg, lab, long_notebook)
        last = panel.locator(".dp-last-batch")
        pg.wait_for_function(
            "() => { const e = document.querySelector('.dataprep-panel .dp-last-batch');"
            " return e && e.textContent.trim() === '2'; }",
            timeout=120_000,
        )
        done_before = int(panel.locator(".dp-files").inner_text().split("/")[0])
        assert done_before < 350, "the run finished before the slider could be moved; make it longer"
        set_slider(panel, "Batch size", 6)
        # the next batches use the new size: the label shows batches of 6 starting
        pg.wait_for_function(
            "() => { const e = document.querySelector('.dataprep-panel .dp-last-batch');"
            " return e && e.textContent.trim() === '6'; }",
            timeout=60_000,
        )
        assert panel.locator(".dp-batch-size").inner_text().strip() == "6"
        assert last.inner_text().strip() == "6"
        shot(pg, "long-run-batch-size-6", panel)
        panel.locator("button", has_text="Stop").click()
        panel.locator(".dp-done").wait_for(timeout=120_000)
        assert panel.locator(".dp-done").inner_text().startswith("stopped")
        assert "Build stopped" in panel.locator(".dataprep-report").inner_text()
        shot(pg, "long-run-stopped", panel)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.strip()]
    ok = sum(r["status"] == "ok" for r in rows)
    assert 0 < ok < 400
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] is True


@pytest.fixture(scope="module")
def voila(site):
    shutil.which("voila") or pytest.importorskip("voila")
    port = free_port()
    log = site["base"] / "voila.log"
    fh = open(log, "wb")  # noqa: SIM115
    env = {**site["env"], "DATAPREP_OUTPUT": str(site["out"] / "voila")}
    cmd = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1", "01-quickstart.ipynb"]
    proc = subprocess.Popen(cmd, cwd=site["nbdir"], env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        _wait_port(port, proc, log)
        yield {"url": f"http://127.0.0.1:{port}", "log": log}
    finally:
        stop_process(proc)
        fh.close()


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"voila did not listen on {port}:\n{log.read_text()[-3000:]}")


def test_panel_as_a_voila_app(page, voila, site):
    pg = page
    with screenshot_on_failure(pg, "voila"):
        pg.goto(voila["url"], timeout=180_000)
        panel = pg.locator(".dataprep-panel").first
        panel.wait_for(state="visible", timeout=180_000)
        for label in ("Input folder(s)", "Output folder", "Batch size", "Max memory %"):
            assert panel.locator("label", has_text=label).count() >= 1, label
        start = panel.locator("button", has_text="Start")
        assert start.is_enabled()
        start.click()
        panel.locator(".dp-done").wait_for(timeout=180_000)
        assert "8 / 8 files" in panel.locator(".dp-files").inner_text()
        panel.locator(".dp-preview img.dp-after").first.wait_for(timeout=30_000)
        shot(pg, "voila-panel-done", panel)
    assert (site["out"] / "voila" / "panel" / "manifest.jsonl").exists()
