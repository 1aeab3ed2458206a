"""The ``captions`` setting (issue 15): a curation key like labels or splits, never part of the
resume key; the CLI's help names settings as flags; the sidecar stamp spares a rebuild every read
(its rules: tests/test_sidecar.py)."""

from __future__ import annotations

import json
import os

import pytest

from toolkit import BuildConfig, ConfigError, _synth
from toolkit._cli import cli, main
from toolkit._cli_options import config_from
from toolkit._settings import flag_for, for_cli
from toolkit._sidecar import STAMP_FIELD


def _flags(*argv):
    ctx = cli.commands["build"].make_context("build", list(argv))
    return config_from({k: v for k, v in ctx.params.items() if k not in ("quiet", "as_json")})


def test_captions_is_a_curation_setting_from_keywords_files_and_flags(tmp_path):
    assert BuildConfig().captions == "sidecar" and BuildConfig().curation.captions == "sidecar"
    assert BuildConfig.create(captions="none").settings_key == BuildConfig().settings_key  # rebuilds nothing
    (tmp_path / "c.toml").write_text('captions = "none"\n')
    (tmp_path / "c.json").write_text('{"captions": "none"}')
    assert BuildConfig.from_file(tmp_path / "c.toml").captions == "none"
    assert BuildConfig.from_file(tmp_path / "c.json").curation.captions == "none"
    assert _flags("--config", str(tmp_path / "c.toml")).captions == "none"
    assert _flags("--config", str(tmp_path / "c.toml"), "--captions", "sidecar").captions == "sidecar"
    with pytest.raises(ConfigError, match="^`captions` must be one of none, sidecar, not 'folder'"):
        BuildConfig.create(captions="folder")
    from toolkit._curation import CURATION_KEYS

    assert "captions" in CURATION_KEYS


def test_scan_shows_sidecars_as_files_of_their_own_with_captions_none(tmp_path, capsys):
    _synth.write_photo(tmp_path / "a.jpg", 64, 48, seed=1)
    (tmp_path / "a.txt").write_text("a cat")
    assert main(["scan", str(tmp_path), "--json"]) == 0
    paired = json.loads(capsys.readouterr().out)
    assert paired["sidecars"] == {"caption": 1, "meta": 0} and paired["left_out"] == []
    assert main(["scan", str(tmp_path), "--json", "--captions", "none"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert alone["sidecars"] == {"caption": 0, "meta": 0} and [r["source"] for r in alone["left_out"]] == ["a.txt"]


@pytest.mark.parametrize("command", ["build", "plan", "scan", "report"])
def test_no_backtick_survives_in_help(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "`" not in text
    if command == "build":
        assert "near with --split, else off" in " ".join(text.split())


def test_curation_keys_and_table_keys_are_flags_in_messages():
    assert flag_for("splits") == "--split" and flag_for("captions") == "--captions"
    assert flag_for("filters.min_side") == "--min-side" and flag_for("min_sharpness") == "--min-sharpness"
    assert for_cli("`filters.max_aspect` must be >= 1") == "--max-aspect must be >= 1"


@pytest.mark.parametrize(
    "argv, said",
    [
        (["--split", "train=0.5", "--split", "val=0.2"], "--split: the fractions must sum to 1"),
        (["--near-distance", "-1"], "--near-distance must be a whole number of bits from 0 to 64"),
        (["--labels", "folder", "--split", "train=0.8", "--split", "test=0.2"], "--labels = 'folder' needs class folders"),
        (["--min-side", "-3"], "--min-side must be a whole number >= 1"),
        (["--split", "train"], "--split: give each split as name=fraction"),
        (["--split", "train=0.8", "--split", "test=0.2", "--split", "train=0.8"], "--split: 'train' is given twice"),
        (["--recipe", "clasifier"], "--recipe: no recipe 'clasifier'"),
    ],
)
def test_settings_that_cannot_work_stop_the_cli_before_any_work(tmp_path, argv, said, capsys):
    _synth.write_photo(tmp_path / "flat" / "a.jpg", 64, 48, seed=1)
    out = tmp_path / "out"
    assert main(["build", "-i", str(tmp_path / "flat"), "-o", str(out), "-q", *argv]) == 2
    err = capsys.readouterr().err
    assert f"dataprep: error: {said}" in err and "Traceback" not in err
    assert not out.exists()  # nothing written, not even the folder


def _tree(src):
    from toolkit._synth_video import make_video

    _synth.write_photo(src / "cats" / "a.jpg", 160, 120, seed=1)
    (src / "cats" / "a.txt").write_text("a grey cat\n")
    (src / "cats" / "a.json").write_text('{"by": "me"}')
    _synth.write_photo(src / "cats" / "b.jpg", 160, 120, seed=2)
    make_video(src / "dogs" / "clip.mp4", seconds=2, size=(160, 120), seed=4)
    (src / "dogs" / "clip.txt").write_text("a dog running")


def _rows(out):
    return {r["source"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


def _summary(out):
    return json.loads((out / "summary.json").read_text())


@pytest.mark.integration
def test_switching_captions_rebuilds_nothing_and_the_sidecar_rows_come_and_go(tmp_path, client):
    import toolkit

    src, out = tmp_path / "in", tmp_path / "out"
    _tree(src)
    kw = dict(inputs=[str(src)], output=str(out), client=client, progress=False, size=64, op=["thumbnail", "frames"], count=2)
    toolkit.build(**kw, labels="folder")
    rows = _rows(out)
    assert set(rows) == {"cats/a.jpg", "cats/b.jpg", "dogs/clip.mp4"}
    clip = rows["dogs/clip.mp4"]  # its frames are outputs of its row: they have its label and caption
    assert clip["caption"] == "a dog running" and clip["label"] == "dogs" and len(clip["outputs"]) >= 3
    assert rows["cats/a.jpg"][STAMP_FIELD]["meta"][0] == "a.json"
    toolkit.build(**kw, labels="folder", captions="none")
    rows = _rows(out)
    assert _summary(out)["decoded"] == 0  # nothing redone
    assert {s for s, r in rows.items() if r["status"] == "skipped"} == {"cats/a.txt", "cats/a.json", "dogs/clip.txt"}
    assert rows["cats/a.txt"]["warnings"][0]["type"] == "not-media"
    assert all(r["caption"] is None and r["meta"] is None and STAMP_FIELD not in r for r in rows.values())
    toolkit.build(**kw, labels="folder")  # and back
    rows = _rows(out)
    assert _summary(out)["decoded"] == 0 and set(rows) == {"cats/a.jpg", "cats/b.jpg", "dogs/clip.mp4"}
    assert rows["cats/a.jpg"]["caption"] == "a grey cat" and rows["cats/a.jpg"]["meta"] == {"by": "me"}


@pytest.mark.integration
def test_curate_rereads_captions_from_the_inputs_or_refuses_when_they_are_gone(tmp_path, client, capsys):
    import toolkit
    from toolkit import InputError

    src, out = tmp_path / "in", tmp_path / "out"
    _tree(src)
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=64, labels="folder")
    toolkit.curate(out, captions="none")
    rows, summary = _rows(out), _summary(out)
    assert summary["decoded"] == 0 and summary["settings"]["captions"] == "none"
    assert rows["cats/a.txt"]["status"] == "skipped" and rows["cats/a.jpg"]["caption"] is None
    assert rows["cats/a.jpg"]["label"] == "cats"  # the other curation stays as it was
    (src / "cats" / "a.txt").write_text("edited since")
    toolkit.curate(out, captions="sidecar")
    rows = _rows(out)
    assert "cats/a.txt" not in rows and rows["cats/a.jpg"]["caption"] == "edited since"
    assert rows["dogs/clip.mp4"]["caption"] == "a dog running"
    toolkit.curate(out, splits={"train": 0.5, "test": 0.5})
    assert main(["report", str(out)]) == 0  # the report shows the curation as the build summary does
    text = capsys.readouterr().out
    assert "curation: kept 3, filtered 0, duplicates 0 in 0 groups" in text and "split" in text and "cats" in text
    before = (out / "manifest.jsonl").read_bytes()
    os.rename(src, tmp_path / "moved")
    with pytest.raises(InputError, match="^`captions`: the sidecars cannot be read again: the input folder .* is gone"):
        toolkit.curate(out, captions="none")
    assert (out / "manifest.jsonl").read_bytes() == before  # nothing changed


@pytest.mark.integration
def test_a_label_folder_with_odd_characters_keeps_its_text_and_gets_a_safe_name(tmp_path, client):
    import toolkit

    src, out = tmp_path / "in", tmp_path / "out"
    names = ["cats: big?*", "café", "tab\there"]
    for i, name in enumerate(names):
        _synth.write_photo(src / name / "x.jpg", 64, 48, seed=i)
    _synth.write_photo(os.fsdecode(os.path.join(os.fsencode(src), b"bad\xff", b"y.jpg")), 64, 48, seed=9)
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, size=32, labels="folder")
    rows = _rows(out)
    for name in names:  # the exact text, and the mirror tree under the same name
        assert rows[f"{name}/x.jpg"]["label"] == name
        assert (out / rows[f"{name}/x.jpg"]["outputs"][0]).is_file()
    bad = rows["bad\\xff/y.jpg"]  # a byte that is not UTF-8: shown escaped, written percent-encoded
    assert bad["label"] == "bad\\xff" and bad["outputs"][0].startswith("bad%FF/") and (out / bad["outputs"][0]).is_file()
    classes = json.loads((out / "curation.json").read_text())["classes"]["classes"]
    assert sorted(classes) == sorted([*names, "bad\\xff"])


@pytest.mark.integration
def test_a_rebuild_reads_unchanged_sidecars_never_and_edited_ones_always(tmp_path, client):
    import toolkit

    src, out = tmp_path / "in", tmp_path / "out"
    _tree(src)
    kw = dict(inputs=[str(src)], output=str(out), client=client, progress=False, size=64)
    toolkit.build(**kw)
    side = src / "cats" / "a.txt"
    st = side.stat()
    side.write_text("a gray cat\n")  # other bytes, same size, and the time put back: unread, the row keeps its text
    os.utime(side, ns=(st.st_atime_ns, st.st_mtime_ns))
    (src / "dogs" / "clip.txt").write_text("a dog running fast")  # a real edit
    toolkit.build(**kw)
    rows = _rows(out)
    assert _summary(out)["decoded"] == 0
    assert rows["cats/a.jpg"]["caption"] == "a grey cat" and rows["dogs/clip.mp4"]["caption"] == "a dog running fast"


def test_plan_refuses_labels_on_a_flat_folder_as_the_build_does(tmp_path, capsys):
    _synth.write_photo(tmp_path / "flat" / "a.jpg", 64, 48, seed=1)
    assert main(["plan", "-i", str(tmp_path / "flat"), "--labels", "folder"]) == 2
    err = capsys.readouterr().err
    assert "dataprep: error: --labels = 'folder' needs class folders" in err and "Traceback" not in err
    _synth.write_photo(tmp_path / "classes" / "cat" / "a.jpg", 64, 48, seed=1)
    assert main(["plan", "-i", str(tmp_path / "classes"), "--labels", "folder"]) == 0
