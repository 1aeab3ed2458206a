"""One registry of settings: BuildConfig's checks, the CLI's flags and the flags messages show all come from it."""

from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit import BuildConfig, ConfigError
from toolkit._cli import cli, main
from toolkit._cli_options import config_from
from toolkit._ops import OPS
from toolkit._settings import SETTINGS, canonical_key, flag_for, for_cli, op_params


def flags_to_config(*argv):
    """What ``dataprep build ARGV`` would build with (click parses the flags; nothing runs)."""
    ctx = cli.commands["build"].make_context("build", list(argv))
    return config_from({k: v for k, v in ctx.params.items() if k not in ("quiet", "as_json")})


def test_every_config_field_is_a_registered_setting():
    assert {f.name for f in fields(BuildConfig)} - {"ops"} == set(SETTINGS)


def test_every_op_parameter_is_a_flag_of_build(capsys):
    assert main(["build", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # as one line, whatever the terminal's width
    for key in {p for op in OPS.values() for p in op.params}:
        assert "--" + key.replace("_", "-") in text, key
    # as informative as it was: defaults, choices, units, and settings named by their flags
    for shown in (
        "[85]",
        "[jpeg]",
        "[fit|fill|pad|exact]",
        "[share of --max-memory]",
        "e.g. 2GiB",
        "contact-sheet: number of frames [16]",
    ):
        assert shown in text, shown


def test_flags_come_back_as_setting_keys():
    c = flags_to_config("-i", "a", "--inputs", "b", "--max-memory", "70", "--op", "transcode", "--no-audio", "--crf", "30")
    assert c.inputs == ("a", "b") and c.max_memory_percent == 70
    assert c.ops[0].name == "transcode" and c.ops[0].get("audio") is False and c.ops[0].get("crf") == 30
    c = flags_to_config(
        "--max-memory-percent", "55", "--batch-mode", "disabled", "--memory-limit", "1GiB", "--op", "frames", "--keyframes"
    )
    assert c.max_memory_percent == 55 and c.batch_mode is False and c.memory_limit == 2**30 and c.ops[0].get("keyframes")
    with pytest.raises(ConfigError, match="`memory_limit`"):
        flags_to_config("--memory-limit", "lots")


def test_flags_override_the_config_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('op = "resize"\nsize = 300\nquality = 60\n')
    c = flags_to_config("--config", str(p), "--quality", "90")
    assert c.quality == 90 and c.ops[0].name == "resize" and c.ops[0].get("size") == (300, 300)


def test_the_resume_key_is_what_it_was():
    """The key is built from the registry now: a build made before must still resume, not redo everything."""
    assert BuildConfig().settings_key == "4064c5ee3186"
    c = BuildConfig.create(op="resize", size="640x480", format="png", quality=70, background="black", allow_truncated=True)
    assert c.settings_key == "ad552af5b0ed"


def test_keys_become_flags_for_the_terminal():
    assert canonical_key("--max-memory") == "max_memory_percent" and canonical_key("input") == "inputs"
    assert flag_for("inputs") == "--input" and flag_for("resize.mode") == "--mode" and flag_for("monitor_interval") is None
    text = "raise `memory_limit` or use fewer `jobs`; `max_memory_percent`, `inputs`, `frames.fps`, `monitor_interval`, `x`"
    assert for_cli(text) == "raise --memory-limit or use fewer --jobs; --max-memory, --input, --fps, `monitor_interval`, `x`"
    assert for_cli("raise `timeout`.") == "raise --timeout."
    names = "/in/`output`/a.jpg, `jobs`.jpg, C:\\`jobs`\\b"  # part of a path or a name: left as it is
    assert for_cli(names) == names


@given(st.text().filter(lambda t: "`" not in t))
def test_text_naming_no_setting_is_left_alone(text):
    assert for_cli(text) == text


def test_a_core_message_reaches_the_terminal_with_flags(capsys):
    assert main(["plan", "--input", "x", "--memory-limit", "1MiB"]) == 2
    assert "dataprep: error: --memory-limit: '1MiB' is too small for a worker" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, said",
    [
        (["--quality", "0"], "--quality: expected a whole number from 1 to 100, got 0"),
        (["--timeout", "0"], "--timeout: expected a positive number, got 0.0"),
        (["--batch-mode", "enabled", "--batch-size", "-3"], "--batch-size: expected a whole number"),
        (["--op", "frames", "--fps", "0"], "--fps: expected a positive number"),
        (["--size", "0"], "--size: each side must be between 1 and 65535 pixels"),
    ],
)
def test_a_bad_value_is_named_by_its_flag_on_the_terminal(argv, said, capsys):
    """Every check of a setting's value names its key in backticks, so the CLI shows the flag
    (and the panel the control's label), not a bare key the user never typed."""
    assert main(["plan", "--input", "x", *argv]) == 2
    assert f"dataprep: error: {said}" in capsys.readouterr().err


def test_a_live_change_names_its_setting_key(tmp_path):
    from toolkit._run import Run

    run = Run(BuildConfig.create(inputs=[str(tmp_path)], output=str(tmp_path / "out")))
    with pytest.raises(ConfigError, match="^`batch_size`: expected a whole number"):
        run.set_batch_size(0)
    with pytest.raises(ConfigError, match="^`max_memory_percent`: expected a percent"):
        run.set_max_memory(120)


def test_op_parameters_are_read_from_the_op_registry():
    params = op_params()
    assert set(params) == {p for op in OPS.values() for p in op.params}
    assert params["mode"].ops == ("resize", "frames", "poster") and params["frames"].default == 16
