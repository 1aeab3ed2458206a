"""The notebooks in notebooks/ run top to bottom (nbclient, a kernel of this interpreter) on tiny data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


from toolkit import synth  # noqa: E402
from toolkit.synth_video import make_video  # noqa: E402

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01-quickstart.ipynb", "02-video.ipynb", "03-custom-steps.ipynb", "04-cluster.ipynb"]


def write_photo(path: Path, w: int, h: int, seed: int) -> None:
    synth.write_photo(path, w, h, seed)


def write_video(path: Path, seconds: float = 2) -> None:
    make_video(path, seconds=seconds)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """A tiny stand-in for datasets/sample: a few photos in two folders and two short videos."""
    root = tmp_path_factory.mktemp("sample")
    for i in range(6):
        d = root / ("animals" if i % 2 else "plants")
        d.mkdir(exist_ok=True)
        write_photo(d / f"photo{i}.jpg", 320 + 16 * i, 240, i)
    (root / "videos").mkdir()
    for i in range(2):
        write_video(root / "videos" / f"clip{i}.mp4", seconds=2)
    return root


def kernel_name() -> str:
    """An ipykernel kernelspec whose interpreter is this one (the venv's, where toolkit is installed)."""
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec("python3")
        argv0 = spec.argv[0]
        # jupyter_client runs a plain "python" argv as sys.executable
        if argv0 in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}") or \
                os.path.realpath(argv0) == os.path.realpath(sys.executable):
            return "python3"
    except Exception:  # noqa: BLE001
        pass
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"], check=True)
    return "python3"


def run_notebook(name: str, env: dict, timeout: int = 300, nb=None):
    nb = nb if nb is not None else nbformat.read(NOTEBOOKS / name, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    try:
        # coalesce_streams: the kernel sends a cell's stdout in pieces whenever its flush timer fires
        # (print(6, "images") can arrive as "6" and " images\n" on a busy machine); Jupyter shows them
        # as one text, and so do we.
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name=kernel_name(), coalesce_streams=True,
                                         resources={"metadata": {"path": str(NOTEBOOKS)}})
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def pythonpath() -> str:
    """Kernels import the toolkit of this checkout (whatever the install: editable, namespace, none)."""
    return os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def outputs_text(nb) -> str:
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts.append(o.get("text", ""))
            for k, v in (o.get("data") or {}).items():
                if k.startswith("text/"):
                    parts.append(v if isinstance(v, str) else "".join(v))
    return "\n".join(parts)


def test_printed_lines_arrive_whole_even_when_the_kernel_flushes_midway():
    """What the notebook checks below look for is one printed line; a kernel flush inside it (as on a
    loaded machine, where the "6" of "6 images" once arrived alone) must not split it."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell('import sys\nsys.stdout.write("6"); sys.stdout.flush()\nprint(" images")'))
    text = outputs_text(run_notebook("", {"PYTHONPATH": pythonpath()}, timeout=60, nb=nb))
    assert "6 images" in text


def test_committed_notebooks_are_stripped():
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for c in nb.cells:
            if c.cell_type == "code":
                assert c.outputs == [] and c.execution_count is None, f"{name}: outputs not stripped"
        nbformat.validate(nb)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, sample, tmp_path):
    nb = run_notebook(name, {"DATAPREP_SAMPLE": str(sample), "DATAPREP_OUTPUT": str(tmp_path / "out"),
                             "PYTHONPATH": pythonpath()})
    text = outputs_text(nb)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    out = tmp_path / "out"
    if name == "01-quickstart.ipynb":
        assert "application/vnd.jupyter.widget-view+json" in json.dumps(nb.cells[3].outputs)  # the panel
        summary = json.loads((out / "thumbs" / "summary.json").read_text())
        assert summary["counts"].get("ok", 0) >= 6  # the photos (and video posters)
        assert "image/png" in json.dumps(nb.cells[-1].outputs) or "image/jpeg" in json.dumps(nb.cells[-1].outputs)
    elif name == "02-video.ipynb":
        summary = json.loads((out / "video" / "summary.json").read_text())
        assert summary["counts"].get("ok") == 2
        assert list((out / "video").rglob("*.contact.*"))
        assert "2 videos," in text
    elif name == "03-custom-steps.ipynb":
        assert "6 images" in text
        assert "mean_rgb" in text
    elif name == "04-cluster.ipynb":
        assert (out / "build.json").exists()
        summary = json.loads((out / "scripted" / "summary.json").read_text())
        assert summary["counts"].get("ok", 0) >= 6
        assert list((out / "scripted").rglob("*.webp"))
