"""Ops of your own (toolkit.op, "module:function"): the spec, the resume key, and one file on a worker's
code path (process_item, no cluster). The real cluster runs them in test_custom_ops_cluster.py."""

from __future__ import annotations

import functools
import pickle
import subprocess
import sys
import textwrap
import types

import pytest
from PIL import Image, ImageOps

import toolkit
from toolkit import BuildConfig, ConfigError, OpSpec
from toolkit._names import assign_outputs
from toolkit._worker import JobSpec, process_item


@toolkit.op(name="grayscale", version="1")
def grayscale(im, *, cutoff=0):
    return ImageOps.autocontrast(im.convert("L"), cutoff=cutoff)


@toolkit.op(name="mean-level", returns="facts", kinds=("image", "video"))
def mean_level(im):
    return {"mean": round(sum(im.convert("L").getdata()) / (im.width * im.height), 1), "size": (im.width, im.height)}


@toolkit.op(name="refuses")
def refuses(im, *, why="no reason"):
    raise ValueError(f"refused: {why}")


def items(folder):
    return {i.rel: i for i in assign_outputs(toolkit.scan([str(folder)]).items, multi_root=False)}


@pytest.fixture
def photos(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(src / "red.jpg")
    Image.new("RGBA", (30, 20), (0, 0, 255, 128)).save(src / "blue.png")
    (tmp_path / "out").mkdir()
    return items(src)


def run(item, tmp_path, *ops, **job):
    return process_item(item, JobSpec(ops=tuple(ops), output=str(tmp_path / "out"), **job)).to_row()


# ---------------------------------------------------------------------------------- the spec


def test_a_decorated_function_stays_a_function_and_makes_a_spec_with_its_defaults():
    assert grayscale(Image.new("RGB", (4, 4))).mode == "L"  # still callable as it was
    spec = OpSpec.make(grayscale)
    assert (spec.name, spec.kwargs, spec.version) == ("grayscale", {"cutoff": 0}, "1")
    assert OpSpec.make("grayscale", cutoff="2") == OpSpec.make(grayscale, cutoff=2)  # by name; a CLI string converted
    assert spec.applies_to("image") and not spec.applies_to("video")
    assert OpSpec.make(mean_level).applies_to("video") and not OpSpec.make(mean_level).writes_image


def test_to_dict_names_the_function_where_it_can_be_imported_and_carries_the_version_not_the_code():
    d = OpSpec.make(grayscale, cutoff=1).to_dict()
    assert d == {"op": f"{__name__}:grayscale", "version": "1", "cutoff": 1}
    assert OpSpec.make(d.pop("op"), **d) == OpSpec.make(grayscale, cutoff=1)  # a config file finds it again


def test_the_resume_key_changes_with_the_name_the_parameters_and_the_version():
    def key(*ops):
        return BuildConfig.create(inputs=["x"], output="y", ops=list(ops)).settings_key

    base = key(OpSpec.make(grayscale))
    assert key(OpSpec.make(grayscale)) == base
    assert key(OpSpec.make(grayscale, cutoff=5)) != base

    def other(im, *, cutoff=0):
        return im

    assert key(OpSpec.make(toolkit.op(name="grayscale2")(other))) != base
    assert key(OpSpec.make(toolkit.op(name="grayscale", version="2")(other))) != base
    toolkit.op(name="grayscale", version="1")(grayscale)  # the registry's name back to this module's function


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: toolkit.op(name="thumbnail")(grayscale), "built-in"),
        (lambda: toolkit.op(name="a very long name")(grayscale), "at most"),
        (lambda: toolkit.op(name="x", kinds=("audio",))(grayscale), "kinds"),
        (lambda: toolkit.op(name="x", returns="pixels")(grayscale), "returns"),
        (lambda: toolkit.op(name="x", version="")(grayscale), "version"),
        (lambda: toolkit.op(name="x")(lambda *, im: im), "first argument"),
        (lambda: OpSpec.make(lambda im: im), "has no name of its own: give it one, toolkit.op(name="),
        (lambda: OpSpec.make(functools.partial(grayscale, cutoff=2)), "has no name of its own"),
        (lambda: toolkit.op(name="x")(lambda im, version=1: im), "version"),
        (lambda: OpSpec.make(grayscale, cutof=1), "unknown setting 'cutof'"),
        (lambda: OpSpec.make(grayscale, cutoff="lots"), "expected a int"),
        (lambda: OpSpec.make(toolkit.op(name="x")(lambda im, *, level: im)), "'level' is required"),
        (lambda: OpSpec.make(grayscale, cutoff=object()), "JSON"),
        (lambda: OpSpec.make("grayscale", version="7"), "version '7' was asked for"),
        (lambda: OpSpec.make("no_such_module_here:f"), "cannot import no_such_module_here"),
        (lambda: OpSpec.make("PIL.ImageOps:no_such"), "no function 'no_such'"),
        (lambda: OpSpec.make("no-such-op"), "'module:function'"),
    ],
)
def test_misuse_is_a_config_error_before_any_work(make, words):
    with pytest.raises(ConfigError) as e:
        make()
    assert words in str(e.value)


def test_a_module_function_in_the_current_folder_is_found(tmp_path, monkeypatch):
    """As uvicorn and gunicorn do for "module:app": `dataprep build --op mymod:f` from the folder of mymod.py."""
    (tmp_path / "cwd_ops_mod.py").write_text("def invert(im):\n    return im\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    spec = OpSpec.make("cwd_ops_mod:invert")
    assert (spec.name, spec.version, spec.to_dict()["op"]) == ("invert", "1", "cwd_ops_mod:invert")


def test_a_function_of_main_travels_by_value(tmp_path):
    """What a notebook or script defines is not importable on a worker: its pickle holds the code."""
    script = textwrap.dedent(
        """
        import pickle, sys, toolkit
        @toolkit.op(name="halve", version="3")
        def halve(im, *, by=2):
            return im.resize((im.width // by, im.height // by))
        sys.stdout.buffer.write(pickle.dumps(toolkit.OpSpec.make(halve)))
        """
    )
    data = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout
    spec = pickle.loads(data)  # here, halve exists nowhere but in the pickle
    assert (spec.name, spec.version) == ("halve", "3")
    assert spec.custom.function()(Image.new("RGB", (8, 6))).size == (4, 3)
    assert spec.to_dict() == {"op": "halve", "version": "3", "by": 2}  # what the resume key holds: no code


# ---------------------------------------------------------------------------------- one file


def test_an_image_op_output_is_written_like_a_built_in_one(photos, tmp_path):
    row = run(photos["red.jpg"], tmp_path, OpSpec.make(grayscale))
    assert row["status"] == "ok" and row["outputs"] == ["red.jpg"] and row["width"] == 64
    with Image.open(tmp_path / "out" / "red.jpg") as im:
        assert im.mode == "L" and im.size == (64, 48) and im.format == "JPEG"
    row = run(photos["blue.png"], tmp_path, OpSpec.make("thumbnail", size=16), OpSpec.make(grayscale), format="png")
    assert sorted(row["outputs"]) == ["blue.grayscale.png", "blue.thumbnail.png"]  # several image ops: named by op


def test_facts_go_into_the_row_and_nothing_is_written(photos, tmp_path):
    row = run(photos["red.jpg"], tmp_path, OpSpec.make(mean_level))
    assert row["status"] == "ok" and row["outputs"] == [] and list(row["facts"]) == ["mean-level"]
    assert row["facts"]["mean-level"]["size"] == [64, 48] and 80 < row["facts"]["mean-level"]["mean"] < 95
    assert list((tmp_path / "out").iterdir()) == []
    row = run(photos["blue.png"], tmp_path, OpSpec.make("thumbnail"), OpSpec.make(mean_level))
    assert row["outputs"] == ["blue.jpg"] and "mean-level" in row["facts"]  # one image op: the plain name


def test_an_op_that_raises_fails_its_file_with_the_op_and_the_reason(photos, tmp_path):
    row = run(photos["red.jpg"], tmp_path, OpSpec.make("thumbnail"), OpSpec.make(refuses, why="too red"))
    assert row["status"] == "failed" and row["outputs"] == []
    assert row["error"]["type"] == "op-error"
    assert "refuses" in row["error"]["message"] and "ValueError: refused: too red" in row["error"]["message"]
    assert str(photos["red.jpg"].path) in row["error"]["message"]
    assert list((tmp_path / "out").rglob("*.jpg")) == []  # the thumbnail written before it is removed


def test_an_op_that_calls_sys_exit_fails_only_its_file(photos, tmp_path):
    """``sys.exit`` in a function of yours is its file's failure, not the worker's end."""

    def leaves(im):
        raise SystemExit(3)

    row = run(photos["red.jpg"], tmp_path, OpSpec.make(toolkit.op(name="leaves")(leaves)))
    assert row["status"] == "failed" and row["error"]["type"] == "op-error"
    assert "leaves" in row["error"]["message"] and "SystemExit: 3" in row["error"]["message"]


def test_an_op_returning_the_wrong_thing_is_an_op_error(photos, tmp_path):
    wrong = toolkit.op(name="wrong")(lambda im: {"not": "an image"})
    row = run(photos["red.jpg"], tmp_path, OpSpec.make(wrong))
    assert row["error"]["type"] == "op-error" and 'returns="facts"' in row["error"]["message"]
    unjson = toolkit.op(name="unjson", returns="facts")(lambda im: {"im": im})
    assert "not JSON" in run(photos["red.jpg"], tmp_path, OpSpec.make(unjson))["error"]["message"]
    empty = toolkit.op(name="empty")(lambda im: im.crop((0, 0, 0, 0)))  # an image no format holds: the op's fault
    row = run(photos["red.jpg"], tmp_path, OpSpec.make(empty))
    assert row["error"]["type"] == "op-error" and "op empty returned an image" in row["error"]["message"], row["error"]
    assert "cannot be written as jpeg (RGB, 0x0)" in row["error"]["message"]


def test_the_function_gets_the_image_upright_and_in_a_working_mode(tmp_path):
    from helpers import exif_bytes

    src = tmp_path / "in"
    src.mkdir()
    Image.new("P", (40, 20)).save(src / "pal.gif")
    Image.new("RGB", (40, 20)).save(src / "turned.jpg", exif=exif_bytes(6))
    (tmp_path / "out").mkdir()
    look = toolkit.op(name="look", returns="facts")(lambda im: {"mode": im.mode, "size": im.size})
    seen = {rel: run(item, tmp_path, OpSpec.make(look))["facts"]["look"] for rel, item in items(src).items()}
    assert seen == {"pal.gif": {"mode": "RGB", "size": [40, 20]}, "turned.jpg": {"mode": "RGB", "size": [20, 40]}}


def test_a_function_that_changes_its_image_in_place_leaves_the_next_ops_the_files_pixels(photos, tmp_path):
    """Pillow's own idiom, ``im.thumbnail(...)``, shrinks the image it is given: the ops after it (a
    built-in thumbnail, another op of yours) still get the file as decoded."""

    def shrink(im):
        im.thumbnail((8, 8))
        return im

    def paint(im):
        im.paste((0, 255, 0), (0, 0, im.width, im.height))
        return im

    size = toolkit.op(name="size", returns="facts")(lambda im: {"size": im.size, "corner": im.getpixel((0, 0))})
    ops = [OpSpec.make(toolkit.op(name="shrink")(shrink)), OpSpec.make(toolkit.op(name="paint")(paint))]
    row = run(photos["blue.png"], tmp_path, *ops, OpSpec.make("thumbnail", size=24), OpSpec.make(size), format="png")
    assert row["status"] == "ok", row["error"]
    assert row["facts"]["size"] == {"size": [30, 20], "corner": [0, 0, 255, 128]}
    with Image.open(tmp_path / "out" / "blue.thumbnail.png") as im:
        assert im.size == (24, 16) and im.getpixel((0, 0)) == (0, 0, 255, 128)
    with Image.open(tmp_path / "out" / "blue.shrink.png") as im:
        assert im.size == (8, 5)


def test_a_function_that_cannot_be_loaded_on_the_worker_fails_each_file_saying_why(photos, tmp_path, monkeypatch):
    """Its module importable here (made the spec) but not where the file runs."""
    mod = types.ModuleType("gone_ops_module")
    exec("def shade(im):\n    return im\n", mod.__dict__)
    monkeypatch.setitem(sys.modules, "gone_ops_module", mod)
    spec = OpSpec.make(mod.shade)
    monkeypatch.delitem(sys.modules, "gone_ops_module")
    row = run(photos["red.jpg"], tmp_path, pickle.loads(pickle.dumps(spec)))
    assert row["status"] == "failed" and row["error"]["type"] == "op-error"
    assert "cannot be loaded on this worker" in row["error"]["message"] and "gone_ops_module" in row["error"]["message"]


def test_an_op_of_yours_with_only_images_skips_a_video(tmp_path):
    from toolkit import _synth_video as sv

    src = tmp_path / "in"
    src.mkdir()
    sv.make_video(src / "clip.mp4", seconds=1, size=(64, 48), fps=10)
    (tmp_path / "out").mkdir()
    (item,) = items(src).values()
    row = run(item, tmp_path, OpSpec.make(grayscale))
    assert row["status"] == "skipped" and [w["type"] for w in row["warnings"]] == ["no-op"]
    row = run(item, tmp_path, OpSpec.make(mean_level))  # kinds include video: its poster frame
    assert row["status"] == "ok" and row["facts"]["mean-level"]["size"] == [64, 48]


def test_a_video_no_op_of_yours_applies_to_is_skipped_unopened_as_an_image_is(tmp_path):
    """At the probe, as for an image no op applies to: a damaged video is `skipped` (not opened: no
    ffmpeg), never `failed` for an op that would not have run on it."""
    from toolkit import _synth_video as sv
    from toolkit._probe import probe_items

    src = tmp_path / "in"
    src.mkdir()
    sv.make_video(src / "cut.mp4", seconds=1, size=(64, 48), fps=10)
    data = (src / "cut.mp4").read_bytes()
    (src / "cut.mp4").write_bytes(data[:100])  # its headers cut off: ffmpeg cannot even probe it
    (item,) = items(src).values()
    assert item.kind == "video"
    probed, (row,) = probe_items([item], ops=(OpSpec.make(grayscale),))
    assert probed == [] and row.status == "skipped" and [w.type for w in row.warnings] == ["no-op"], row
    assert "grayscale" in row.warnings[0].message and str(item.path) in row.warnings[0].message
    _ok, (failed,) = probe_items([item], ops=(OpSpec.make(mean_level),))  # kinds include video: it is opened
    assert failed.status == "failed" and failed.error is not None and "cut.mp4" in failed.error.message


def test_a_config_names_an_op_of_yours_as_its_op():
    assert BuildConfig.create(op=f"{__name__}:grayscale").ops == (OpSpec.make(grayscale),)
    assert BuildConfig.create(op=grayscale).ops == (OpSpec.make(grayscale),)
    assert BuildConfig.create(ops=[grayscale, "thumbnail"]).ops[0] == OpSpec.make(grayscale)


def test_flat_settings_reach_the_ops_of_yours_that_take_them():
    """``cutoff=2`` next to ``ops=[...]`` as next to ``op=...``, and with two ops of yours each gets
    the settings it takes (before, the second refused the first's)."""
    assert BuildConfig.create(ops=[grayscale], cutoff=2).ops == (OpSpec.make(grayscale, cutoff=2),)
    assert BuildConfig.create(op=[grayscale, refuses], cutoff=2, why="x").ops == (
        OpSpec.make(grayscale, cutoff=2),
        OpSpec.make(refuses, why="x"),
    )
    with pytest.raises(ConfigError, match="'cutof': no op of grayscale, refuses takes it"):
        BuildConfig.create(op=[grayscale, refuses], cutof=2)
    with pytest.raises(ConfigError, match="unknown setting 'cutof'; it takes cutoff"):
        BuildConfig.create(ops=[grayscale], cutof=2)
