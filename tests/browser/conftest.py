"""The browser tier's fixtures: sample data, one JupyterLab server and one headless Chromium for
the session, a fresh page per test (helpers: ``lab_harness.py``)."""

import os
import secrets
import shutil
import subprocess
import sys

import pytest

from lab_harness import CHROMIUM, CHROMIUM_ARGS, LAB_ENV, ROOT, free_port, stop_process, wait_http


@pytest.fixture(scope="session", autouse=True)
def chromium_present():
    """Skip without Chromium on a workstation; in CI (CI=true) a missing Chromium is a failure."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing in CI: install it with apt-get install -y chromium", pytrace=False)
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the browser tier needs it")


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """Tiny sample data, a copy of the notebooks, and the servers' environment (the long run's
    input is made by the test that needs it: ``DATAPREP_LONG_INPUT``)."""
    from toolkit import _synth as synth

    base = tmp_path_factory.mktemp("lab")
    sample = base / "sample"
    for i in range(8):
        d = sample / ("a" if i % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        synth.write_photo(d / f"p{i}.jpg", 480, 360, i)
    nbdir = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", nbdir)
    pythonpath = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env = {
        **os.environ,
        **LAB_ENV,
        "PYTHONPATH": pythonpath,
        "DATAPREP_SAMPLE": str(sample),
        "DATAPREP_OUTPUT": str(base / "out"),
        "DATAPREP_LONG_INPUT": str(base / "long"),
        "DATAPREP_LONG_OUTPUT": str(base / "out" / "long"),
    }
    return {"base": base, "nbdir": nbdir, "env": env, "out": base / "out", "long": base / "long"}


@pytest.fixture(scope="session")
def lab(site):
    pytest.importorskip("jupyterlab")
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


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
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
