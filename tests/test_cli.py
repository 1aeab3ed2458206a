"""The CLI's own rendering: errors, flags and help drawn from the library and the settings registry."""

from toolkit._cli import main


def test_report_on_a_folder_without_a_manifest_is_misuse_and_names_it(tmp_path, capsys):
    (tmp_path / "never").mkdir()
    assert main(["report", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dataprep: error: ") and "never/manifest.jsonl does not exist" in err
    assert "build with it as --output first" in err  # the core names the setting `output`; the CLI shows its flag


def test_plan_shows_the_settings_a_left_out_file_names_as_flags_never_in_names(tmp_path, capsys):
    """`dataprep plan` words a probe's message as the terminal does everywhere else: "raise
    --max-pixels", not the key; a file named `jobs`.jpg keeps its name."""
    from toolkit import _synth as synth

    synth.write_photo(tmp_path / "in" / "`jobs`.jpg", 64, 48, 1)
    assert main(["plan", "--input", str(tmp_path / "in"), "--max-pixels", "100", "--jobs", "1", "--memory-limit", "1GiB"]) == 0
    out = capsys.readouterr().out
    assert "failed   `jobs`.jpg  [decompression-bomb]" in out
    assert "raise --max-pixels if this image is genuine" in out and "`max_pixels`" not in out
