"""File names with control characters (newline, CR, tab, ESC, C1, bidi overrides) are printed escaped,
as the manifest's JSON writes them, wherever the CLI or the build summary names a file: one row is
one line on a terminal, and nothing in a name can move the cursor or reorder the text."""

import re

import pytest

import toolkit
from toolkit import _synth as synth
from toolkit._cli import main

NAMES = {  # name on disk -> how it is printed
    "new\nline.jpg": "new\\nline.jpg",
    "carriage\rreturn.jpg": "carriage\\rreturn.jpg",
    "tab\there.jpg": "tab\\there.jpg",
    "\u202egpj.exe.jpg": "\\u202egpj.exe.jpg",
    "esc\x1b[2J.jpg": "esc\\u001b[2J.jpg",
    "c1\x85next.jpg": "c1\\u0085next.jpg",
}
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # what a terminal acts on (not \t, \n)


def broken_files(src):
    src.mkdir()
    for name in NAMES:
        (src / name).write_bytes(b"")  # empty: failed as empty-file, at the scan
    synth.photo(32, 24, seed=1).save(src / "fine.jpg")


def check(text, expect_lines):
    assert not RAW.search(text)
    for shown in NAMES.values():
        assert shown in text
    lines = [ln for ln in text.splitlines() if any(s in ln for s in NAMES.values())]
    assert len(lines) == expect_lines  # one line each: no name was split across lines


def test_scan_and_plan_print_left_out_names_escaped(tmp_path, capsys):
    broken_files(tmp_path / "in")
    assert main(["scan", str(tmp_path / "in")]) == 0
    check(capsys.readouterr().out, len(NAMES))
    assert main(["plan", "--input", str(tmp_path / "in"), "--memory-limit", "1GiB"]) == 0
    check(capsys.readouterr().out, len(NAMES))


@pytest.mark.integration
def test_report_failed_and_the_build_summary_print_one_line_per_file(tmp_path, client, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    broken_files(src)
    report = toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False)
    assert report.counts == {"ok": 1, "failed": len(NAMES)}
    check(str(report), len(NAMES))
    assert main(["report", str(out), "--failed"]) == 1
    printed = capsys.readouterr().out
    check(printed, len(NAMES))
    rows = [ln.split("\t") for ln in printed.splitlines() if "empty-file" in ln and "\t" in ln]
    assert sorted(r[0] for r in rows) == sorted(NAMES.values())  # source, type, message: three columns a row
    assert all(len(r) == 3 and r[1] == "empty-file" for r in rows)
