"""The dataset card without a cluster (write_card): a Hugging Face card the real parsers and
``datasets.load_dataset`` accept, pictures from the real outputs, the settings that build it
again, atomic writes and output faults. Outputs are real images written with Pillow, seeded."""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import json
import logging
import os
import shlex
import stat
import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from toolkit import BuildConfig
from toolkit._card import card_html, card_facts, show, write_card
from toolkit import _fs
from toolkit._errors import OutputWriteError
from toolkit._fs import TEST_WRITE_FAULT_ENV
from toolkit._synth import photo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SETTINGS = {
    **BuildConfig.create(
        inputs=["/data/pets"],
        output="/data/pets-ds",
        op="thumbnail",
        size=64,
        labels="folder",
        filters={"min_side": 100},
        splits={"train": 0.5, "val": 0.5},
    ).to_dict(),
}


def row(source, label, split, *, status="ok", seed=0, w=320, h=240, **kw):
    return {
        "source": source,
        "input_root": "/data/pets",
        "status": status,
        "label": label,
        "label_index": {"cat": 0, "dog": 1}[label],
        "split": split,
        "width": w,
        "height": h,
        "sharpness": 40.0 + 7 * seed,
        "phash": f"{seed * 7919:016x}",
        "outputs": [source],
        "output_bytes": [1000],
        "bytes_in": 20000,
        "warnings": [],
        **kw,
    }


def dataset(out):
    """4 cats and 4 dogs over two splits, a duplicate of cat/0 and a too-small dog; every output on disk."""
    rows = [
        row(f"{lb}/{i}.jpg", lb, "train" if i < 2 else "val", seed=s + i) for lb, s in (("cat", 1), ("dog", 20)) for i in range(4)
    ]
    dup = {"type": "duplicate", "message": "cat/copy.jpg is a duplicate of cat/0.jpg"}
    rows.append(
        row("cat/copy.jpg", "cat", None, status="skipped", seed=1, curated_from="ok", duplicate_of="cat/0.jpg", warnings=[dup])
    )
    small = {"type": "too-small", "message": "dog/tiny.jpg is 40x30"}
    rows.append(row("dog/tiny.jpg", "dog", None, status="skipped", w=40, h=30, seed=99, curated_from="ok", warnings=[small]))
    rows.append({"source": "notes/broken.jpg", "input_root": "/data/pets", "status": "failed", "error": {"type": "corrupt"}})
    for r in rows:
        for o in r.get("outputs") or ():
            (out / o).parent.mkdir(parents=True, exist_ok=True)
            photo(64, 48, seed=int(r["phash"], 16) % 1000).save(out / o, quality=85)
    return rows


def header(text):
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def export(out, rows, *names, classes=("cat", "dog")):
    """The build's own exports of ``rows`` (the real sinks, in this process as toolkit.curate runs
    them), with ``classes`` as curation.json's class index."""
    from toolkit._curation import write_state
    from toolkit._export import make_sinks
    from toolkit._stages import StageContext

    write_state(out, {"format": "dataprep-curation", "version": 1, "classes": {"classes": list(classes)}})
    ctx = StageContext(out, BuildConfig.create(labels="folder"), None, None, lambda *a, **k: None)  # type: ignore[arg-type]
    for sink in make_sinks(names):
        sink.export(rows, ctx)


def test_the_card_counts_splits_labels_and_what_was_left_out(tmp_path):
    rows = dataset(tmp_path)
    export(tmp_path, rows, "parquet")
    figures = write_card(tmp_path, rows, {"settings": SETTINGS}, source="photos from the team", license="CC-BY-4.0")
    text = (tmp_path / "README.md").read_text()
    assert "| train | 2 | 2 | 4 |" in text and "| val | 2 | 2 | 4 |" in text and "| **all** | 4 | 4 | 8 |" in text
    assert "**duplicate**: 1" in text and "**too-small**: 1" in text and "failed: corrupt: 1" in text
    assert "sit in two different splits: **0**" in text
    assert "- Source: photos from the team" in text and "- Licence: CC-BY-4.0" in text
    assert figures["samples"] == 8 and figures["pictures"] == [
        f"card/{n}.png" for n in ("labels", "sizes", "sharpness", "samples", "duplicates")
    ]
    meta = header(text)
    assert meta["license"] == "cc-by-4.0" and meta["pretty_name"] == tmp_path.name
    assert meta["task_categories"] == ["image-classification"]
    assert meta["dataset_info"]["features"][1] == {"name": "label", "dtype": {"class_label": {"names": {"0": "cat", "1": "dog"}}}}
    assert "splits" not in meta["dataset_info"]  # datasets ignores them without num_bytes, with a warning


def test_unset_source_and_licence_are_unknown_and_free_text_licence_is_other(tmp_path):
    rows = dataset(tmp_path)
    write_card(tmp_path, rows, {"settings": SETTINGS})
    text = (tmp_path / "README.md").read_text()
    assert header(text)["license"] == "unknown" and "- Source: unknown" in text and "- Licence: unknown" in text
    write_card(tmp_path, rows, {"settings": SETTINGS}, license="Internal use only")
    meta = header((tmp_path / "README.md").read_text())
    assert meta["license"] == "other" and meta["license_name"] == "internal-use-only"


def test_huggingface_reads_the_card_and_load_dataset_follows_its_configs(tmp_path):
    from datasets import ClassLabel, load_dataset
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    rows = dataset(tmp_path)
    export(tmp_path, rows, "parquet", "webdataset", "imagefolder")  # the files the build writes, not a stand-in
    write_card(tmp_path, rows, {"settings": SETTINGS}, license="mit")
    card = DatasetCard.load(tmp_path / "README.md")  # huggingface_hub's own parser (offline)
    assert card.data.license == "mit" and card.data.pretty_name == tmp_path.name
    configs = MetadataConfigs.from_dataset_card_data(card.data)
    assert configs["default"]["data_files"] == [
        {"split": "train", "path": "parquet/train-*.parquet"},
        {"split": "val", "path": "parquet/val-*.parquet"},
    ]
    assert list(configs) == ["default"]  # datasets would read a webdataset config with the parquet builder
    said: list = []
    handler = logging.Handler()
    handler.emit = said.append  # type: ignore[method-assign]
    logging.getLogger("datasets").addHandler(handler)
    try:
        ds = load_dataset(str(tmp_path), cache_dir=str(tmp_path / "hf"))  # the card's config and its features
    finally:
        logging.getLogger("datasets").removeHandler(handler)
    assert not [r.getMessage() for r in said if "dataset card" in r.getMessage()]  # nothing of the card ignored
    assert sorted(ds) == ["train", "val"] and ds["train"].num_rows == 4
    assert isinstance(ds["train"].features["label"], ClassLabel) and ds["train"].features["label"].names == ["cat", "dog"]
    assert ds["val"][0]["image"].size == (64, 48) and {"key", "caption", "source", "sharpness"} <= set(ds["val"].column_names)
    text = (tmp_path / "README.md").read_text()  # the other exports: each line of the card's Loading section loads
    code = text.split("## Loading")[1].split("```python\n")[1].split("```")[0].replace("path/to/this/folder", str(tmp_path))
    lines = [ln.split("  #")[0] for ln in code.splitlines() if ln.startswith("ds = ")]
    assert len(lines) == 3
    for line in lines[1:]:
        found: dict = {}
        exec(line, {"load_dataset": functools.partial(load_dataset, cache_dir=str(tmp_path / "hf"))}, found)
        assert sorted(found["ds"]) == ["train", "val"] and found["ds"]["train"].num_rows == 4


def test_the_cards_classes_are_the_shards_class_index_when_a_class_has_no_file_left(tmp_path):
    """curation.json numbers bird 0, cat 1, dog 2; every bird was filtered out: the header's ClassLabel
    still names 0..2 as the shards number them, and load_dataset reads the cats as cats."""
    from datasets import load_dataset

    rows = [{**r, "label_index": r.get("label_index", 0) + 1} if r.get("label") else r for r in dataset(tmp_path)]
    export(tmp_path, rows, "parquet", classes=("bird", "cat", "dog"))
    write_card(tmp_path, rows, {"settings": SETTINGS}, pictures=False)
    ds = load_dataset(str(tmp_path), cache_dir=str(tmp_path / "hf"))
    assert ds["train"].features["label"].names == ["bird", "cat", "dog"]
    assert sorted(ds["train"].features["label"].int2str(ds["train"]["label"])) == ["cat", "cat", "dog", "dog"]


def test_an_output_missing_on_disk_still_loads_through_the_card(tmp_path):
    from datasets import load_dataset

    rows = dataset(tmp_path)
    os.remove(tmp_path / "cat/1.jpg")
    export(tmp_path, rows, "parquet")
    write_card(tmp_path, rows, {"settings": SETTINGS}, pictures=False)
    assert "splits" not in header((tmp_path / "README.md").read_text())["dataset_info"]
    ds = load_dataset(str(tmp_path), cache_dir=str(tmp_path / "hf"))
    assert {s: ds[s].num_rows for s in ds} == {"train": 3, "val": 4}


def test_without_a_parquet_export_the_header_claims_no_features_or_split_sizes(tmp_path):
    """No export: nothing for datasets to cast to the header's features, and split sizes it would
    check against the mirror tree (it found one split and failed on the others)."""
    write_card(tmp_path, dataset(tmp_path), {"settings": SETTINGS}, pictures=False)
    assert "dataset_info" not in header((tmp_path / "README.md").read_text())


def test_the_settings_in_the_card_build_the_same_dataset(tmp_path):
    write_card(tmp_path, dataset(tmp_path), {"settings": SETTINGS})
    text = (tmp_path / "README.md").read_text()
    toml = text.split("```toml\n")[1].split("```")[0]
    (tmp_path / "build.toml").write_text(toml)
    again = BuildConfig.from_file(tmp_path / "build.toml").to_dict()
    for key in ("inputs", "output", "ops", "labels", "filters", "splits", "split_seed", "dedupe"):
        assert again[key] == SETTINGS[key], key
    assert "jobs" not in tomllib.loads(toml)  # how it ran is not what it makes
    line = shlex.split(text.split("```sh\n")[1].split("```")[0])
    assert line[:2] == ["dataprep", "build"] and line[line.index("--input") + 1] == "/data/pets"
    assert line[line.index("--size") + 1] == "64" and line[line.index("--min-side") + 1] == "100"
    assert [line[i + 1] for i, w in enumerate(line) if w == "--split"] == ["train=0.5", "val=0.5"]


def test_pictures_are_real_pngs_and_the_same_bytes_in_another_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        out.mkdir()
        write_card(out, dataset(out), {"settings": SETTINGS})
    for name in ("labels", "sizes", "sharpness", "samples", "duplicates"):
        data = (a / "card" / f"{name}.png").read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG" and im.width > 300 and "Software" not in im.info
        assert data == (b / "card" / f"{name}.png").read_bytes(), name


def test_a_missing_output_is_a_grey_cell_and_pictures_no_longer_drawn_are_removed(tmp_path):
    rows = dataset(tmp_path)
    os.remove(tmp_path / "cat/1.jpg")
    assert "card/samples.png" in write_card(tmp_path, rows, {"settings": SETTINGS})["pictures"]
    no_dups = [r for r in rows if r.get("duplicate_of") is None]
    figures = write_card(tmp_path, no_dups, {"settings": SETTINGS})
    assert "card/duplicates.png" not in figures["pictures"] and not (tmp_path / "card/duplicates.png").exists()
    assert "duplicates.png" not in (tmp_path / "README.md").read_text()


def test_facts_without_curation_have_one_split_and_no_leakage_check(tmp_path):
    rows = [{k: v for k, v in r.items() if k not in ("label", "label_index", "split")} for r in dataset(tmp_path)]
    facts = card_facts(rows, {"settings": BuildConfig().to_dict()})
    assert facts.splits == ["train"] and facts.labels == [] and facts.leakage is None
    assert facts.table == {"train": {"": 8}}
    write_card(tmp_path, rows, {"settings": BuildConfig().to_dict()})
    meta = header((tmp_path / "README.md").read_text())
    assert "task_categories" not in meta and "configs" not in meta


@contextlib.contextmanager
def read_only(folder):
    """``folder`` read-only for real: a read-only bind mount over it as root (root ignores
    permissions), its mode bits otherwise."""
    if os.geteuid() != 0:
        os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
        try:
            yield
        finally:
            os.chmod(folder, stat.S_IRWXU)
        return
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip("cannot mount here (root ignores a folder's mode bits)")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_read_only_output_is_an_output_write_error_naming_the_file(tmp_path):
    rows = dataset(tmp_path)
    write_card(tmp_path, rows, {"settings": SETTINGS})
    before = (tmp_path / "card/labels.png").read_bytes()
    with read_only(tmp_path / "card"):
        with pytest.raises(OutputWriteError) as got:
            write_card(tmp_path, rows[:3], {"settings": SETTINGS})
        assert got.value.filename.endswith(os.path.join("card", "labels.png"))
        assert "read-only" in str(got.value).lower() or "permission" in str(got.value).lower()
        assert (tmp_path / "card/labels.png").read_bytes() == before  # the old picture stands whole
    assert not [p for p in os.listdir(tmp_path / "card") if p.endswith(".dataprep-tmp")]


def test_a_disk_that_fills_while_the_readme_is_written_names_it(tmp_path, monkeypatch):
    rows = dataset(tmp_path)
    monkeypatch.setenv(TEST_WRITE_FAULT_ENV, "ENOSPC:1")
    monkeypatch.setattr(_fs, "_outputs_written", 0)
    with pytest.raises(OutputWriteError) as got:
        write_card(tmp_path, rows, {"settings": SETTINGS}, pictures=False)
    assert got.value.filename == str(tmp_path / "README.md") and got.value.errno == errno.ENOSPC
    assert not (tmp_path / "README.md").exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".dataprep-tmp")]


def test_show_gives_the_same_pictures_for_a_notebook(tmp_path):
    write_card(tmp_path, dataset(tmp_path), {"settings": SETTINGS})
    box = show(tmp_path)
    images = [c.children[1] for c in box.children]
    assert [im.value for im in images] == [
        (tmp_path / "card" / f"{n}.png").read_bytes() for n in ("labels", "sizes", "sharpness", "samples", "duplicates")
    ]
    assert card_html(tmp_path).count("<img") == 5
    assert "no dataset card" in card_html(tmp_path / "elsewhere")


def test_the_sink_without_a_cluster_writes_the_card_and_a_drawing_bug_is_only_a_warning(tmp_path):
    from toolkit._card import CardSink
    from toolkit._stages import StageContext

    said = []
    cfg = BuildConfig.create(**{k: SETTINGS[k] for k in ("labels", "splits")})
    ctx = StageContext(tmp_path, cfg, None, None, lambda kind, **kw: said.append((kind, kw)))  # type: ignore[arg-type]
    card = CardSink(license="mit")
    collector = card.collector()
    assert card.export(dataset(tmp_path), ctx) is None  # deferred: the collector gives the figures
    figures = collector.export([], ctx)
    assert figures["samples"] == 8 and figures["waited_seconds"] >= 0 and (tmp_path / "README.md").is_file()
    bad = [{**r, "width": "wide"} for r in dataset(tmp_path)]
    assert "error" in CardSink().export(bad, ctx) and said and said[0][0] == "warning"
    assert "dataset card was not written" in said[0][1]["message"]


def test_the_sink_shows_the_builds_own_leakage_figures_and_split_conflicts(tmp_path):
    from toolkit._card import CardSink
    from toolkit._stages import StageContext

    report = {
        "leakage": {"near_pairs_across_splits": 3, "examples": [["cat/1.jpg", "dog/2.jpg"]], "files": {}},
        "split_conflicts": [{"files": ["cat/1.jpg", "dog/2.jpg"], "splits": ["train", "val"]}],
    }
    ctx = StageContext(tmp_path, BuildConfig.create(labels="folder"), None, None, print)  # type: ignore[arg-type]
    CardSink(curation=lambda: report).export(dataset(tmp_path), ctx)
    text = (tmp_path / "README.md").read_text()
    assert "sit in two different splits: **3**" in text and "- `cat/1.jpg` and `dog/2.jpg`" in text
    assert "1 split conflicts" in text


def test_the_imagefolder_config_of_the_card_loads_with_datasets(tmp_path):
    from datasets import load_dataset

    rows = dataset(tmp_path)
    for r in rows:
        if r["status"] == "ok":
            folder = tmp_path / "imagefolder" / r["split"] / r["label"]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / os.path.basename(r["source"])).write_bytes((tmp_path / r["outputs"][0]).read_bytes())
    for split in ("train", "val"):
        lines = [
            json.dumps({"file_name": f"{r['label']}/{os.path.basename(r['source'])}", "label": r["label"]})
            for r in rows
            if r["status"] == "ok" and r["split"] == split
        ]
        (tmp_path / "imagefolder" / split / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    write_card(tmp_path, rows, {"settings": SETTINGS})  # the exports found on disk: imagefolder alone
    meta = header((tmp_path / "README.md").read_text())
    assert [c["config_name"] for c in meta["configs"]] == ["default"] and "dataset_info" not in meta
    ds = load_dataset(str(tmp_path))
    assert {s: ds[s].num_rows for s in ds} == {"train": 4, "val": 4}
    assert sorted(set(ds["val"]["label"])) == ["cat", "dog"]  # a string: imagefolder with metadata gives no ClassLabel


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.text(max_size=20))
_keys = st.text(min_size=1, max_size=12)
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=12
)


@given(st.dictionaries(_keys, _values, max_size=5))
@settings(max_examples=150, deadline=None)
def test_the_yaml_header_reads_back_as_written_whatever_the_text(doc):
    """Names and captions may hold quotes, colons, newlines, '#', unicode: YAML reads the same values."""
    from toolkit._card._header import to_yaml

    assert yaml.safe_load("\n".join(to_yaml(doc)) or "{}") == doc


@given(st.dictionaries(_keys, st.one_of(st.booleans(), st.integers(-(10**12), 10**12), st.text(max_size=20)), max_size=5))
@settings(max_examples=150, deadline=None)
def test_the_toml_block_reads_back_as_written_whatever_the_text(extra):
    """A setting's text (a path, a caption source) may hold quotes, newlines, DEL, unicode."""
    from toolkit._card._recipe import reproducing, toml_text

    table = {"inputs": ['/data/a "b"\n\x7f'], "output": "out", "ops": [], "card_source": "x", "splits": extra}
    assert tomllib.loads(toml_text(table)) == reproducing(table)


def test_a_class_name_with_a_bar_or_newline_keeps_the_table_whole(tmp_path):
    rows = [{**r, "label": "big|cat\nindoor" if r.get("label") == "cat" else r.get("label")} for r in dataset(tmp_path)]
    export(tmp_path, rows, "parquet", classes=("big|cat\nindoor", "dog"))
    write_card(tmp_path, rows, {"settings": SETTINGS}, pictures=False)
    text = (tmp_path / "README.md").read_text()
    assert "| split | big\\|cat indoor | dog | total |" in text and "| train | 2 | 2 | 4 |" in text
    names = header(text)["dataset_info"]["features"][1]["dtype"]["class_label"]["names"]
    assert names == {"0": "big|cat\nindoor", "1": "dog"}  # the header keeps the name as it is


def test_a_file_the_filters_left_out_at_the_probe_is_counted_with_curation_not_as_unbuilt(tmp_path):
    """The build's probe applies `filters` before decoding (no outputs, ``probe_filtered``): the card
    counts it as curation does, under the setting behind it, also through the sink's slimmed rows."""
    from toolkit._card import CardSink
    from toolkit._stages import StageContext

    small = {"type": "too-small", "message": "dog/tiny.jpg is 40x30"}
    rows = [r for r in dataset(tmp_path) if r["source"] != "dog/tiny.jpg"]
    rows.append({**row("dog/tiny.jpg", "dog", None, status="skipped", w=40, h=30), "outputs": [], "probe_filtered": True})
    rows[-1]["warnings"] = [small]
    ctx = StageContext(tmp_path, BuildConfig.create(labels="folder"), None, None, print)  # type: ignore[arg-type]
    CardSink(pictures=False).export(rows, ctx)
    text = (tmp_path / "README.md").read_text()
    assert "**too-small**: 1, short side under `filters.min_side`" in text and "skipped: too-small" not in text
