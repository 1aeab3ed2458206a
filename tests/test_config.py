"""Config validation: unknown keys and bad values are errors that name them, before any work."""

import json
import os

import pytest

import toolkit
from toolkit import BuildConfig, ConfigError


def test_defaults_users_expect():
    c = BuildConfig()
    assert c.ops[0].name == "thumbnail" and c.ops[0].get("size") == (128, 128)
    assert c.format == "jpeg" and c.batch_mode and c.batch_size is None and c.max_memory_percent == 80


def test_seed_batch_processing_section(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(
        '{"inputs": ["in"], "output": "out",\n'
        ' "batch_processing": {"enabled": true, "batch_size": null, // null: automatic\n'
        '  "max_memory_percent": 70}}'
    )
    c = BuildConfig.from_file(p)
    assert c.batch_mode is True and c.batch_size is None and c.max_memory_percent == 70
    assert c.inputs == (str(tmp_path / "in"),) and c.output == str(tmp_path / "out")


def test_toml_and_flags_override_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('op = "resize"\nsize = "640x480"\nmode = "fill"\nformat = "webp"\n[batch_processing]\nbatch_size = 8\n')
    c = BuildConfig.from_file(p, batch_size=3, quality=70)
    assert c.ops[0].name == "resize" and c.ops[0].get("size") == (640, 480) and c.ops[0].get("mode") == "fill"
    assert c.batch_size == 3 and c.quality == 70 and c.format == "webp"


@pytest.mark.parametrize(
    "settings, names",
    [
        ({"sise": 3}, "'sise'"),
        ({"quality": 0}, "quality"),
        ({"quality": "high"}, "quality"),
        ({"format": "gif"}, "format"),
        ({"batch_size": -1}, "batch_size"),
        ({"max_memory_percent": 120}, "max_memory_percent"),
        ({"memory_limit": "lots"}, "memory_limit"),
        ({"memory_limit": "1MiB"}, "memory_limit"),
        ({"op": "sharpen"}, "sharpen"),
        ({"op": "resize", "mode": "zoom"}, "resize.mode"),
        ({"size": 0}, "size"),
        ({"size": True}, "size"),
        ({"batch_processing": {"enabled": True, "turbo": 1}}, "batch_processing.turbo"),
        ({"op": "frames", "fps": 1, "count": 4}, "frames"),
        ({"background": "notacolour"}, "background"),
        ({"scheduler": "tcp://x:1", "scheduler_file": "s.json"}, "scheduler"),
    ],
)
def test_bad_settings_name_the_key(settings, names):
    with pytest.raises(ConfigError) as e:
        BuildConfig.create(**settings)
    assert names in str(e.value)


def test_unknown_key_in_file_names_file_and_key(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"ouput": "x"}))
    with pytest.raises(ConfigError, match=r"'ouput'.*did you mean 'output'"):
        BuildConfig.from_file(p)


def test_broken_file_is_a_clear_error(tmp_path):
    p = tmp_path / "c.json"
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        BuildConfig.from_file(p)
    with pytest.raises(ConfigError, match="does not exist"):
        BuildConfig.from_file(tmp_path / "missing.json")


def test_settings_key_tracks_only_what_changes_outputs():
    a = BuildConfig.create(inputs=["a"], output="o")
    assert a.settings_key == a.replace(jobs=7, batch_size=3, max_memory_percent=50).settings_key
    assert a.settings_key != a.replace(size=64).settings_key
    assert a.settings_key != a.replace(format="png").settings_key


def test_round_trip_through_json(tmp_path):
    a = BuildConfig.create(
        inputs=["a", "b"], output="o", op="resize", size=[300, 200], mode="pad", batch_size=4, memory_limit="1GiB"
    )
    p = tmp_path / "c.json"
    p.write_text(a.to_json())
    b = BuildConfig.from_file(p)
    assert b.ops == a.ops and b.batch_size == 4 and b.memory_limit == 2**30


def test_memory_limit_sizes():
    assert BuildConfig.create(memory_limit="768MiB").memory_limit == 768 * 2**20
    assert BuildConfig.create(memory_limit="2GB").memory_limit == 2 * 10**9
    assert BuildConfig.create(memory_limit=2**30).memory_limit == 2**30
    with pytest.raises(ConfigError, match="too small for a worker; use at least 64MiB"):
        BuildConfig.create(memory_limit=2**20)


def test_workers_start_from_a_fork_server_unless_told_otherwise():
    import dask

    from toolkit._cluster import start_method

    assert start_method() == "forkserver"  # Linux has it; dask's own default would be spawn
    with dask.config.set({"dataprep.worker-start": "spawn"}):
        assert start_method() == "spawn"
    with dask.config.set({"dataprep.worker-start": "no-such-method"}):
        assert start_method() == "spawn"  # unknown: the safe, portable choice


def test_overlapping_worker_restarts_keep_our_start_method_and_then_give_yours_back(monkeypatch):
    """Two of our nannies (re)starting workers at once: each worker starts with our method, even
    after the other nanny is done, and the method you had configured is yours again at the end."""
    import asyncio

    import dask
    from distributed import Nanny

    from toolkit._cluster import _nanny_class

    key = "distributed.worker.multiprocessing-method"
    gates: list[asyncio.Event] = []
    seen: list[str] = []

    async def start_worker(self):  # stands in for Dask's: the start method is read as a worker starts
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()
        seen.append(dask.config.get(key))
        return "running"

    monkeypatch.setattr(Nanny, "instantiate", start_worker)
    cls = _nanny_class("forkserver")

    async def two_restarts():
        first = asyncio.ensure_future(cls.instantiate(object.__new__(cls)))
        second = asyncio.ensure_future(cls.instantiate(object.__new__(cls)))
        while len(gates) < 2:
            await asyncio.sleep(0)
        gates[0].set()
        await first
        gates[1].set()
        return await second

    with dask.config.set({key: "spawn"}):
        assert asyncio.run(two_restarts()) == "running"
        assert seen == ["forkserver", "forkserver"]
        assert dask.config.get(key) == "spawn"


@pytest.mark.parametrize("layout", ["next-to", "inside-the-input"])
def test_an_output_folder_of_files_dataprep_did_not_write_is_refused(tmp_path, layout, cli, capsys):
    """Outputs are written over same-named files, so a folder holding other files is refused before
    any work (exit 2, the folder named, nothing changed); an empty one, or one with only system junk
    in it, is used."""
    from toolkit import _synth as synth

    src = tmp_path / "photos"
    synth.write_photo(src / "x.jpg", 64, 48, 1)
    out = src / "out" if layout == "inside-the-input" else tmp_path / "out"
    synth.write_photo(out / "x.jpg", 96, 64, 2)  # the user's own file, named like an output
    before = (out / "x.jpg").read_bytes()
    assert cli(["build", "--input", str(src), "--output", str(out), "--jobs", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "x.jpg" in err and "did not write" in err
    assert (out / "x.jpg").read_bytes() == before and sorted(os.listdir(out)) == ["x.jpg"]

    from toolkit._preflight import validate_paths

    cfg = BuildConfig.create(inputs=[str(src)], output=str(out))
    (out / "manifest.jsonl").write_text('{"image": "x.jpg", "label": 3}\n')  # another tool's manifest
    with pytest.raises(toolkit.InputError, match="did not write"):
        validate_paths(cfg)
    (out / "x.jpg").unlink()
    (out / "manifest.jsonl").unlink()
    for junk in (".DS_Store", "._.DS_Store", "Thumbs.db"):
        (out / junk).write_bytes(b"\0")
    (out / "lost+found").mkdir()
    validate_paths(cfg)  # empty but for what a disk or a desktop puts there: fine


@pytest.mark.parametrize("bad, key", [({"quality": 500}, "quality"), ({"memory_limit": "lots"}, "memory_limit")])
def test_a_config_made_by_hand_is_checked_before_any_work(tmp_path, bad, key):
    """BuildConfig(...) skips create()'s checks; a build started with one still refuses a bad value
    by name, before any work (it once ran with quality 500, or failed to start a cluster with advice
    about the script's main guard)."""
    (tmp_path / "in").mkdir()
    with pytest.raises(ConfigError, match=key):
        toolkit.start(BuildConfig(inputs=(str(tmp_path / "in"),), output=str(tmp_path / "out"), **bad))
    assert not (tmp_path / "out").exists()


def test_a_config_made_by_hand_takes_what_create_takes():
    """One folder as a string and ops by name, as create() accepts them, are not misread."""
    cfg = BuildConfig(inputs="photos", output="out", ops=["thumbnail", {"op": "resize", "size": 64}]).checked()
    assert cfg.inputs == ("photos",) and [o.name for o in cfg.ops] == ["thumbnail", "resize"]


def test_a_build_that_cannot_reach_its_cluster_leaves_no_output_folder(tmp_path, cli, capsys):
    """The folder a build made for its outputs goes again when the build ends with nothing in it
    (here: a scheduler file that does not exist); a folder that was there before stays."""
    from toolkit import _synth as synth

    synth.write_photo(tmp_path / "in" / "x.jpg", 64, 48, 1)
    nope = tmp_path / "nope.json"
    for existed in (False, True):
        out = tmp_path / f"out-{existed}"
        if existed:
            out.mkdir()
        assert cli(["build", "-i", str(tmp_path / "in"), "-o", str(out), "--scheduler-file", str(nope), "-q"]) == 2
        assert str(nope) in capsys.readouterr().err
        assert out.exists() == existed and (not existed or not any(out.iterdir()))


def test_curation_keys_are_checked_up_front_and_never_change_the_resume_key(tmp_path):
    a = BuildConfig.create(inputs=["a"], output="o")
    b = a.replace(labels="folder", dedupe="exact", near_distance=4, filters={"min_side": 64}, splits={"train": 1}, split_seed=3)
    assert a.settings_key == b.settings_key
    assert b.curation.dedupe == "exact" and a.replace(splits={"train": 0.8, "val": 0.2}).curation.dedupe == "near"
    assert a.curation.dedupe == "off"
    for bad, key in [
        (dict(labels="class"), "`labels`"),
        (dict(dedupe="fuzzy"), "`dedupe`"),
        (dict(near_distance=65), "`near_distance`"),
        (dict(filters={"min_side": 0}), "`filters.min_side`"),
        (dict(filters={"min_sides": 1}), "`filters`"),
        (dict(splits={"train": 0.7}), "`splits`"),
        (dict(split_seed=1.5), "`split_seed`"),
    ]:
        with pytest.raises(ConfigError, match=key):
            a.replace(**bad)
    p = tmp_path / "c.toml"
    p.write_text('inputs = ["a"]\noutput = "o"\nlabels = "parent"\n[filters]\nmin_side = 32\n[splits]\ntrain = 0.9\ntest = 0.1\n')
    c = BuildConfig.from_file(p)
    assert c.labels == "parent" and c.filters["min_side"] == 32 and c.splits == {"train": 0.9, "test": 0.1}
    assert BuildConfig.from_file(p, split_seed=2).to_dict()["splits"] == {"train": 0.9, "test": 0.1}
    assert BuildConfig.create(**json.loads(c.to_json())) == c  # round trip, as "Copy as code" does


def test_cli_curation_flags_fold_into_the_tables(tmp_path):
    from toolkit._cli_options import config_from

    p = tmp_path / "c.toml"
    p.write_text("[filters]\nmax_aspect = 3.0\n")
    cfg = config_from(
        {
            "inputs": ("a",),
            "output": "o",
            "config_file": str(p),
            "min_side": 64,
            "splits": ("train=0.8", "val=0.2"),
            "labels": "folder",
        }
    )
    assert cfg.filters == {"min_side": 64, "max_aspect": 3.0}
    assert cfg.splits == {"train": 0.8, "val": 0.2} and cfg.labels == "folder"
    with pytest.raises(ConfigError, match="`splits`"):
        config_from({"inputs": ("a",), "output": "o", "splits": ("train",)})
