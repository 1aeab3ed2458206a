"""The CLI's own rendering: errors, flags and help drawn from the library and the settings registry."""

from toolkit._cli import main


def test_report_on_a_folder_without_a_manifest_is_misuse_and_names_it(tmp_path, capsys):
    (tmp_path / "never").mkdir()
    assert main(["report", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dataprep: error: ") and "never/manifest.jsonl does not exist" in err
