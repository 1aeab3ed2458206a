"""The notebooks in notebooks/ run top to bottom (nbclient, a kernel of this interpreter) on the real sample.

They run on ``datasets/sample`` exactly as a user's run after ``make demo`` does (the notebook's own default
path; the fixture makes it with datasets/make_sample.py when it is missing or outdated), broken files and
damaged videos included: no environment override points them at other data (only their outputs go to a
temporary folder, as a first run's would go to a fresh one). Measured on this shared 2-core machine: the
module took ~36 s with the sample there, ~72 s when it had to be made first (16-37 s of that), before
notebook 04 (three builds of the class folders and a re-curation) added ~30 s; so the full sample is
used; no smaller copy is needed.

What each test checks is what a user would look at afterwards, against what the sample holds by its own
listing (datasets/README.md: ``broken/`` fails, junk is skipped, every other image is ok), not fixed totals.
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from PIL import Image, ImageStat  # noqa: E402

import toolkit  # noqa: E402
from toolkit._sniff import is_junk  # noqa: E402

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SAMPLE = ROOT / "datasets" / "sample"  # where the notebooks look by default
NAMES = [
    "01-quickstart.ipynb",
    "02-video.ipynb",
    "03-custom-steps.ipynb",
    "04-curation.ipynb",
    "05-train-ready.ipynb",
    "06-cluster.ipynb",
]


@pytest.fixture(scope="module")
def sample() -> dict[str, str]:
    """The real sample (made as `make demo` makes it when missing or outdated; otherwise left as it is),
    listed: every file's path relative to it -> what datasets/README.md promises of it: ``broken`` (must
    be failed), ``junk`` (skipped on purpose), ``video`` (videos/, some damaged on purpose) or ``image``
    (every other file: must be ok)."""
    subprocess.run(
        [sys.executable, str(ROOT / "datasets" / "make_sample.py"), "--out", str(SAMPLE)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    listing = {}
    for p in sorted(SAMPLE.rglob("*")):
        if p.is_file():
            rel = p.relative_to(SAMPLE).as_posix()
            top = rel.split("/", 1)[0]
            broken = top == "broken" or (top == "pets" and p.stem.endswith("_truncated"))
            listing[rel] = "broken" if broken else "junk" if is_junk(p.name) else "video" if top == "videos" else "image"
    stems = {
        os.path.splitext(rel)[0]
        for rel, kind in listing.items()
        if kind in ("image", "video") and not rel.endswith((".txt", ".json"))
    }
    for rel in listing:  # photo.txt / photo.json beside photo.jpg: its caption and metadata, no row of its own
        if rel.endswith((".txt", ".json")) and os.path.splitext(rel)[0] in stems:
            listing[rel] = "sidecar"
    assert {"broken", "junk", "video", "image", "sidecar"} <= set(listing.values()), "the sample lacks a kind of file"
    return listing


def of_kind(listing: dict[str, str], kind: str) -> set[str]:
    return {rel for rel, k in listing.items() if k == kind}


def media(listing: dict[str, str]) -> dict[str, str]:
    """The files that have a row of their own: all but the sidecars."""
    return {rel: kind for rel, kind in listing.items() if kind != "sidecar"}


def check_sidecars(rows: dict[str, dict], listing: dict[str, str], root: str = "") -> None:
    """Each sidecar's text is its image's ``caption``, its JSON object its ``meta``; one that is not valid
    JSON is a ``meta`` warning on an image that is still ok, a caption that is not UTF-8 a ``caption``
    warning (the sample holds one of each on purpose). ``root``: the folder the rows' sources are
    relative to, under the sample (``pets/`` for a build of the class folders)."""
    bad = bad_caption = 0
    for rel in of_kind(listing, "sidecar"):
        if not rel.startswith(root):
            continue
        stem, ext = os.path.splitext(rel[len(root) :])
        owners = [r for src, r in rows.items() if os.path.splitext(src)[0] == stem]
        assert owners, rel
        data = (SAMPLE / rel).read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            assert ext == ".txt", rel
            bad_caption += 1
            for r in owners:
                assert r["caption"] is None and r["status"] in ("ok", "skipped"), r
                assert "caption" in [w["type"] for w in r["warnings"]], r
            continue
        for r in owners:
            if ext == ".txt":
                assert r["caption"] == text.strip(), (rel, r)
                continue
            try:
                assert r["meta"] == json.loads(text), (rel, r)
            except json.JSONDecodeError:
                bad += 1
                assert r["meta"] is None and r["status"] in ("ok", "skipped"), r
                assert "meta" in [w["type"] for w in r["warnings"]], r
    assert bad >= 1, "the sample's invalid metadata file was not met"
    assert bad_caption >= 1, "the sample's caption that is not UTF-8 was not met"


def kernel_name() -> str:
    """An ipykernel kernelspec whose interpreter is this one (the venv's, where toolkit is installed)."""
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec("python3")
        argv0 = spec.argv[0]
        # jupyter_client runs a plain "python" argv as sys.executable
        if argv0 in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}") or os.path.realpath(
            argv0
        ) == os.path.realpath(sys.executable):
            return "python3"
    except Exception:  # noqa: BLE001
        pass
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"], check=True)
    return "python3"


def run_notebook(name: str, env: dict[str, str | None], timeout: int = 300, nb=None):
    """Execute a notebook in notebooks/ (cwd there, as Jupyter does); ``env`` entries set to None are unset."""
    nb = nb if nb is not None else nbformat.read(NOTEBOOKS / name, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    for k, v in env.items():  # the kernel inherits the environment of this process
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        # coalesce_streams: the kernel sends a cell's stdout in pieces whenever its flush timer fires
        # (print(6, "images") can arrive as "6" and " images\n" on a busy machine); Jupyter shows them
        # as one text, and so do we.
        client = nbclient.NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=kernel_name(),
            coalesce_streams=True,
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
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


def run_on_sample(name: str, out: Path):
    """Run a notebook as a user does after `make demo` (its default sample, a fresh output folder);
    -> (notebook, its output text). No cell may show an error or a traceback."""
    nb = run_notebook(name, {"DATAPREP_SAMPLE": None, "DATAPREP_OUTPUT": str(out), "PYTHONPATH": pythonpath()})
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
    assert not errors
    assert not [o for o in outputs if o.get("name") == "stderr" and "Traceback" in o.get("text", "")]
    text = outputs_text(nb)
    assert f"sample: {SAMPLE} |" in text  # the data a user's run reads
    return nb, text


def check_build_of_sample(manifest: Path, listing: dict[str, str], fits: int, suffix: str) -> list[dict]:
    """A build of the whole sample: one row per file; broken/ failed, junk skipped, every image ok with an
    output on disk that fits in ``fits`` px; a video ok or failed with a reason naming it."""
    rows = {r["source"]: r for r in toolkit.read_rows(manifest)}
    assert set(rows) == set(media(listing)), "every file of the sample but its sidecars has exactly one row"
    check_sidecars(rows, listing)
    for rel, kind in media(listing).items():
        r = rows[rel]
        expected = {"broken": {"failed"}, "junk": {"skipped"}, "image": {"ok"}, "video": {"ok", "failed"}}[kind]
        assert r["status"] in expected, (rel, r["status"], r["error"])
        if r["status"] == "failed":
            assert r["error"]["type"] and str(SAMPLE / rel) in r["error"]["message"], r
    for r in rows.values():
        if r["status"] == "ok" and listing[r["source"]] == "image":
            assert len(r["outputs"]) == 1 and r["outputs"][0].endswith(suffix), r
            with Image.open(manifest.parent / r["outputs"][0]) as im:
                assert max(im.size) <= fits, r
    summary = json.loads((manifest.parent / "summary.json").read_text())
    counts = {s: n for s in ("ok", "failed", "skipped") if (n := sum(r["status"] == s for r in rows.values()))}
    assert {k: v for k, v in summary["counts"].items() if v} == counts
    return list(rows.values())


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


def test_quickstart_builds_the_whole_sample_and_lists_its_broken_files(sample, tmp_path):
    nb, text = run_on_sample("01-quickstart.ipynb", tmp_path)
    assert "application/vnd.jupyter.widget-view+json" in json.dumps(nb.cells[3].outputs)  # the panel
    rows = check_build_of_sample(tmp_path / "thumbs" / "manifest.jsonl", sample, 128, ".jpg")
    ok = sum(r["status"] == "ok" for r in rows)
    assert f"{len(rows)} rows; {ok} ok" in text
    for rel in of_kind(sample, "broken"):  # the report the cell shows names each broken file
        assert rel in text
    assert "image/png" in json.dumps(nb.cells[-1].outputs) or "image/jpeg" in json.dumps(nb.cells[-1].outputs)


def test_video_notebook_makes_frames_and_a_contact_sheet_of_every_good_video(sample, tmp_path):
    nb, text = run_on_sample("02-video.ipynb", tmp_path)
    videos = {rel.split("/", 1)[1] for rel in of_kind(sample, "video")}
    rows = toolkit.read_rows(tmp_path / "video" / "manifest.jsonl")
    assert {r["source"] for r in rows} == videos
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok and all(r["status"] == "failed" and r["error"]["type"] for r in rows if r not in ok)
    n_frames = 0
    for r in ok:
        sheets = [o for o in r["outputs"] if ".contact." in o]
        frames = [o for o in r["outputs"] if ".contact." not in o]
        assert len(sheets) == 1 and 1 <= len(frames) <= 4, r
        assert all((tmp_path / "video" / o).is_file() for o in r["outputs"])
        n_frames += len(frames)
    assert max(len(r["outputs"]) for r in ok) == 5  # four frames asked for, and the sheet
    assert f"{len(ok)} videos, {n_frames} frames, {len(ok)} contact sheets" in text
    assert "image/png" in json.dumps(nb.cells[4].outputs) or "image/jpeg" in json.dumps(nb.cells[4].outputs)


def test_03_an_op_of_your_own_measures_the_sample_resumes_and_redoes_on_a_new_version(sample, tmp_path):
    """The notebook's own op (defined in the kernel's __main__, so shipped to the workers by value) gives
    every image its facts; every broken file is one failed row with its reason, shown in the table; the
    second run resumes every file done; version 2 does them all again, with the new facts."""
    nb, text = run_on_sample("03-custom-steps.ipynb", tmp_path)
    rows = {r["source"]: r for r in toolkit.read_rows(tmp_path / "colours" / "manifest.jsonl")}
    assert set(rows) == set(media(sample)), "every file of the sample but its sidecars has exactly one row"
    check_sidecars(rows, sample)
    counts = {s: sum(r["status"] == s for r in rows.values()) for s in ("ok", "failed", "skipped")}
    for rel, kind in media(sample).items():
        r = rows[rel]
        expected = {"broken": {"failed"}, "junk": {"skipped"}, "image": {"ok"}, "video": {"ok", "failed"}}[kind]
        assert r["status"] in expected, (rel, r["status"], r["error"])
        if r["status"] == "failed":
            assert r["error"]["type"] and str(SAMPLE / rel) in r["error"]["message"], r
        if r["status"] == "ok":  # the last build's facts: version 2's
            facts = r["facts"]["mean-colour"]
            assert len(facts["mean_rgb"]) == 3 and 0 <= facts["brightness"] <= 255 and r["outputs"] == [], r
    assert f"{len(rows)} files: {counts['ok']} measured, {counts['failed']} failed, {counts['skipped']} skipped" in text
    table = [
        tuple(html.unescape(x) for x in cells)
        for cells in re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", text)
    ]
    assert sorted(f for f, _, _ in table) == sorted(rel for rel, r in rows.items() if r["status"] == "failed")
    assert of_kind(sample, "broken") <= {f for f, _, _ in table}
    assert ("broken/truncated.jpg", "truncated") in [t[:2] for t in table]
    # the facts are the files' own colours: the op saw every pixel, decoded in full (small plain photos, no profile)
    checked = 0
    for rel, r in rows.items():
        if sample[rel] == "image" and re.fullmatch(r"img_\d+\.(jpg|png|webp)", rel.rsplit("/", 1)[-1]):
            with Image.open(SAMPLE / rel) as im:
                if im.mode == "RGB" and not im.info.get("icc_profile"):
                    mean = [round(c) for c in ImageStat.Stat(im).mean]
                    assert all(abs(a - b) <= 1 for a, b in zip(r["facts"]["mean-colour"]["mean_rgb"], mean)), (rel, mean)
                    checked += 1
    assert checked >= 100
    # the cell of the five darkest lists them, darkest first, with the colours their rows hold
    (darkest_cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("darkest =")]
    (shown,) = [o["data"]["text/plain"] for o in darkest_cell.outputs if o.get("output_type") == "execute_result"]
    darkest = ast.literal_eval(shown)
    assert len(darkest) == 5 and [sum(c) for _, c in darkest] == sorted(sum(c) for _, c in darkest)
    first = sorted((sum(r["facts"]["mean-colour"]["mean_rgb"]) for r in rows.values() if r["status"] == "ok"))[:5]
    assert [sum(c) for _, c in darkest] == first  # version 1's colours, the same as version 2's
    assert f"second run: {counts['ok']} of {counts['ok']} resumed" in text
    assert f"version 2: 0 resumed, {counts['ok']} measured again" in text
    assert "brightness" in json.dumps(nb.cells[-2].outputs)


def test_scripted_build_from_a_config_file_on_a_cluster_of_our_own(sample, tmp_path):
    nb, text = run_on_sample("06-cluster.ipynb", tmp_path)
    config = json.loads((tmp_path / "build.json").read_text())
    assert config["inputs"] == [str(SAMPLE)]
    check_build_of_sample(tmp_path / "scripted" / "manifest.jsonl", sample, 256, ".webp")
    summary = json.loads((tmp_path / "scripted" / "summary.json").read_text())
    assert json.dumps(summary["counts"]) in text  # the cell that prints them


def test_04_curation_labels_filters_duplicates_splits_and_splits_stay_put(sample, tmp_path):
    """The class folders curated as datasets/README.md describes them: every file a row with its class, the
    truncated one failed with its reason, the broken sidecars warnings on kept images, the tiny / panoramic /
    blurred ones filtered with their reasons, each copy a duplicate of its original; a re-curation decodes
    nothing and gives stratified splits; added files move no existing file and are the only ones decoded."""
    nb, text = run_on_sample("04-curation.ipynb", tmp_path)
    pets = {rel.split("/", 1)[1]: kind for rel, kind in sample.items() if rel.startswith("pets/")}
    out = tmp_path / "pets"
    rows = {r["source"]: r for r in toolkit.read_rows(out / "manifest.jsonl")}
    assert set(rows) == set(media(pets)), "every file of the class folders but its sidecars has exactly one row"
    check_sidecars(rows, sample, root="pets/")
    left_out = {}
    for rel, r in rows.items():
        assert r["label"] == rel.split("/")[0], r
        if pets[rel] == "broken":
            assert r["status"] == "failed" and r["error"]["type"] == "truncated", r
            assert str(SAMPLE / "pets" / rel) in r["error"]["message"] and f"failed   {rel}" in text
        elif r["status"] == "skipped":
            left_out[rel] = (r["warnings"][0]["type"], r.get("duplicate_of"))
        else:
            assert r["status"] == "ok" and r["split"] in ("train", "val", "test"), r
    assert left_out == {
        "bird/tiny.jpg": ("too-small", None),
        "fish/panorama.jpg": ("aspect", None),
        "fish/fish_blurry.jpg": ("blurry", None),
        "cat/cat_03_copy.jpg": ("duplicate", "cat/cat_03.jpg"),
        "cat/cat_04_small.jpg": ("duplicate", "cat/cat_04.jpg"),
        "dog/dog_05_crop.jpg": ("duplicate", "dog/dog_05.jpg"),
    }
    for rel, (_, kept) in left_out.items():  # a duplicate is in its kept file's split
        assert kept is None or rows[rel]["split"] == rows[kept]["split"]
    assert "image/png" in json.dumps([c.outputs for c in nb.cells if c.cell_type == "code" and "strips" in c.source])
    assert "3 duplicate groups" in text
    # the re-curation (the notebook's last settings): nothing decoded, splits stratified by label
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decoded"] == 0 and "decoded: 0" in text
    cur = summary["curation"]
    assert cur["settings"]["splits"] == {"train": 0.7, "val": 0.15, "test": 0.15} and cur["duplicates"] == 3
    kept = [r for r in rows.values() if r["status"] == "ok"]
    for label in {r["label"] for r in kept}:
        n = sum(r["label"] == label for r in kept)
        for split, p in cur["settings"]["splits"].items():
            got = sum(r["label"] == label and r["split"] == split for r in kept)
            assert abs(got - n * p) <= 3 * (n * p * (1 - p)) ** 0.5 + 1, (label, split, got, n)
            assert cur["leakage"]["files"][split][label] == got
    for split, per in cur["leakage"]["files"].items():  # the table the cell shows
        assert f"<tr><td>{split}</td>" + "".join(f"<td>{per.get(k, 0)}</td>" for k in sorted(per)) in text
    # adding files: no file of the first build moved; the new ones got a split and were the only ones decoded
    before = json.loads((tmp_path / "splits-before.json").read_text())
    grown = {r["source"]: r for r in toolkit.read_rows(tmp_path / "pets-grown" / "manifest.jsonl")}
    assert before and all(grown[s]["split"] == split for s, split in before.items())
    new = [s for s in grown if s.split("/")[-1].startswith("new_")]
    assert len(new) == 12 and all(grown[s]["split"] for s in new)
    assert f"{len(before)} files had a split; 0 moved; 12 new files got one" in text
    broken = len(of_kind(pets, "broken"))  # a failed file is tried again by every build
    assert json.loads((tmp_path / "pets-grown" / "summary.json").read_text())["decoded"] == 12 + broken
    assert f"12 files added, {12 + broken} decoded (the new files and the {broken} failed one" in text


def test_05_train_ready_builds_the_classifier_recipe_and_loads_it_with_the_libraries(sample, tmp_path):
    nb, text = run_on_sample("05-train-ready.ipynb", tmp_path)
    out = tmp_path / "pets-dataset"
    rows = toolkit.read_rows(out / "manifest.jsonl")
    kept = [r for r in rows if r["status"] == "ok"]
    assert kept and all(r["label"] and r["split"] in ("train", "val", "test") for r in kept)
    assert any(r["status"] == "failed" for r in rows)  # the sample's truncated photo, a row like any other
    for name in ("README.md", "manifest.parquet", "card/labels.png", "webdataset/train.index.json", "parquet", "imagefolder"):
        assert (out / name).exists(), name
    per_split = {s: sum(r["split"] == s for r in kept) for s in ("train", "val", "test")}
    assert f"{per_split}".replace(" ", "") in text.replace(" ", "")  # load_dataset(OUT) gave one sample per kept file
    assert "ClassLabel(names=['bird', 'cat', 'dog', 'fish'])" in text and "DatasetDict" in text
