"""The panel in a real browser: JupyterLab 4 (and Voila) driven by headless Chromium with Playwright.

Chromium comes from Debian (``apt-get install chromium``: /usr/bin/chromium); Playwright never
downloads a browser here. Screenshots go to ``test-artifacts/`` at the repository root.
"""

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import http_get

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
#: the `make lab` setting: the dashboard through jupyter-server-proxy under the server's prefix
LAB_ENV = {
    "JUPYTERHUB_SERVICE_PREFIX": "/",
    "DASK_DISTRIBUTED__DASHBOARD__LINK": "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status",
}


@pytest.fixture(scope="module", autouse=True)
def chromium_present():
    """Skip without Chromium on a workstation; in CI (CI=true) a missing Chromium is a failure."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing in CI: install it with apt-get install -y chromium", pytrace=False)
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the browser tier needs it")


sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("jupyterlab")


from toolkit import _synth as synth  # noqa: E402


# --------------------------------------------------------------------------- data and servers


def write_photo(path: Path, w: int, h: int, seed: int) -> None:
    synth.write_photo(path, w, h, seed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - 127.0.0.1 only
        return json.loads(r.read())


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if http_get(url, 2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server did not answer {url} in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


PANEL_LONG = """import os
import toolkit

panel = toolkit.Panel(inputs=[os.environ["DATAPREP_LONG_INPUT"]], output=os.environ["DATAPREP_LONG_OUTPUT"],
                      op="resize", size=320, batch_size=2, in_flight_per_worker=1, jobs=2, memory_limit="1GiB")
panel"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Tiny sample data, a bigger set for the long run, and a copy of the notebooks."""
    base = tmp_path_factory.mktemp("lab")
    sample = base / "sample"
    for i in range(8):
        d = sample / ("a" if i % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        write_photo(d / f"p{i}.jpg", 480, 360, i)
    long_in = base / "long"
    long_in.mkdir()
    for i in range(400):
        write_photo(long_in / f"l{i:04d}.jpg", 1280, 960, i)
    nbdir = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", nbdir)
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PANEL_LONG)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, nbdir / "panel-long.ipynb")
    pythonpath = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env = {
        **os.environ,
        **LAB_ENV,
        "PYTHONPATH": pythonpath,
        "DATAPREP_SAMPLE": str(sample),
        "DATAPREP_OUTPUT": str(base / "out"),
        "DATAPREP_LONG_INPUT": str(long_in),
        "DATAPREP_LONG_OUTPUT": str(base / "out" / "long"),
    }
    return {"base": base, "nbdir": nbdir, "env": env, "out": base / "out"}


@pytest.fixture(scope="module")
def lab(site):
    port, token = free_port(), secrets.token_hex(16)
    log = site["base"] / "lab.log"
    fh = open(log, "wb")  # noqa: SIM115
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={site['nbdir']}",
        "--ServerApp.port_retries=0",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    proc = subprocess.Popen(cmd, cwd=site["nbdir"], env=site["env"], stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/status?token={token}", proc, log)
        yield {"url": url, "token": token, "log": log}
    finally:
        stop_process(proc)
        fh.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2400})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()


def shot(pg, name: str, locator=None) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    with contextlib.suppress(Exception):
        (locator or pg).screenshot(path=str(path))
    return path


@contextlib.contextmanager
def screenshot_on_failure(pg, name: str):
    try:
        yield
    except BaseException:
        shot(pg, f"FAILED-{name}")
        raise


# --------------------------------------------------------------------------- helpers in the page


def wait_kernel_idle(lab, path: str, timeout: float = 90.0) -> None:
    """Through the REST API: the notebook's session exists and its kernel is idle."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            sessions = get_json(f"{lab['url']}/api/sessions?token={lab['token']}")
        except OSError:
            sessions = []
        for s in sessions:
            if s.get("path", "").endswith(path):
                last = (s.get("kernel") or {}).get("execution_state")
                if last == "idle":
                    return
        time.sleep(0.3)
    raise AssertionError(f"kernel of {path} not idle after {timeout:.0f} s (last state {last!r})")


def open_notebook(pg, lab, name: str) -> None:
    pg.goto(f"{lab['url']}/lab/tree/{name}?token={lab['token']}&reset")
    pg.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
    wait_kernel_idle(lab, name)
    # close any dialog (e.g. kernel selection) or the news toast that may cover the notebook
    with contextlib.suppress(Exception):
        pg.locator(".jp-Dialog button.jp-mod-accept").click(timeout=1500)
    with contextlib.suppress(Exception):
        pg.locator(".Toastify__toast button", has_text="No").click(timeout=1500)


def run_all(pg) -> None:
    pg.locator(".lm-MenuBar-item", has_text="Run").first.click()
    pg.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def set_slider(panel, label: str, value: int) -> None:
    """Type into an ipywidgets slider's editable readout (what a user can do instead of dragging)."""
    slider = panel.locator(".widget-slider", has=panel.page.locator("label", has_text=label)).first
    readout = slider.locator(".widget-readout")
    readout.click()
    readout.press("Control+A")
    readout.type(str(value))
    readout.press("Enter")


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


def test_long_run_live_batch_size_and_stop(page, lab, site):
    pg = page
    out = site["out"] / "long"
    with screenshot_on_failure(pg, "long-run"):
        open_notebook(pg, lab, "panel-long.ipynb")
        run_all(pg)
        panel = pg.locator(".dataprep-panel").first
        panel.wait_for(state="visible", timeout=60_000)
        wait_kernel_idle(lab, "panel-long.ipynb")
        panel.locator("button", has_text="Start").click()
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
