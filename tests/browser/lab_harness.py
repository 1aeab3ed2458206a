"""What the browser tests share: starting servers, driving JupyterLab's page, screenshots.

Chromium comes from Debian (``apt-get install chromium``: /usr/bin/chromium); Playwright never
downloads a browser here. Screenshots go to ``test-artifacts/`` at the repository root. The
fixtures (a JupyterLab server, the browser, a page) are in ``conftest.py`` beside this file.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from helpers import http_get

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


# --------------------------------------------------------------------------- servers


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


def write_notebook(path: Path, source: str) -> Path:
    """A one-cell notebook running ``source`` in the project's kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------- screenshots


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


def start_panel(pg, lab, name: str):
    """Open a notebook whose cell shows a panel, run it, press Start; -> the panel's locator."""
    open_notebook(pg, lab, name)
    run_all(pg)
    panel = pg.locator(".dataprep-panel").first
    panel.wait_for(state="visible", timeout=60_000)
    wait_kernel_idle(lab, name)
    panel.locator("button", has_text="Start").click()
    return panel


def set_slider(panel, label: str, value: int) -> None:
    """Type into an ipywidgets slider's editable readout (what a user can do instead of dragging)."""
    slider = panel.locator(".widget-slider", has=panel.page.locator("label", has_text=label)).first
    readout = slider.locator(".widget-readout")
    readout.click()
    readout.press("Control+A")
    readout.type(str(value))
    readout.press("Enter")


def set_text(panel, label: str, value: str) -> None:
    """Type into an ipywidgets text box found by its label, as a user does, then leave it."""
    box = panel.locator(".widget-text", has=panel.page.locator("label", has_text=label)).first.locator("input")
    box.click()
    box.press("Control+A")
    box.type(value)
    box.press("Tab")
