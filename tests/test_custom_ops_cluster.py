"""Ops of your own on a real LocalCluster (forkserver workers, as a build runs them): a decorated op from
this module, a "module:function" op from a folder put on sys.path, one defined in a script's __main__,
one that raises and one that kills its worker; resume by the op's name, parameters and version."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from PIL import Image, ImageOps

import toolkit
from toolkit import OpSpec
from toolkit._manifest import read_rows

pytestmark = pytest.mark.integration

ODD = 33  # an image this wide makes the ops below fail (they see pixels, not names)


@toolkit.op(name="gray", version="1")
def gray(im, *, cutoff=0):
    if im.width == ODD:
        raise RuntimeError("no odd widths")
    return ImageOps.autocontrast(im.convert("L"), cutoff=cutoff)


@toolkit.op(name="dies", returns="facts")
def dies(im):
    if im.width == ODD:
        import os

        os._exit(1)  # as a segfault in a C extension would: the worker process is gone
    return {"w": im.width}


@pytest.fixture
def corpus(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        Image.new("RGB", (64 + i, 48), (40 * i, 100, 200)).save(src / f"good{i}.jpg")
    Image.new("RGB", (ODD, 20), "red").save(src / "odd.png")
    good = (src / "good0.jpg").read_bytes()
    (src / "cut.jpg").write_bytes(good[: len(good) // 2])
    return src


def rows(out) -> dict[str, dict]:
    return {r["source"]: r for r in read_rows(out / "manifest.jsonl")}


def summary(out) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_a_decorated_op_builds_resumes_and_redoes_when_its_version_changes(corpus, tmp_path, client):
    out = tmp_path / "out"
    report = toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False, ops=[OpSpec.make(gray)])
    got = rows(out)
    assert report.counts == {"ok": 5, "failed": 2}
    assert got["cut.jpg"]["error"]["type"] == "truncated"  # decoding is the toolkit's, as for built-in ops
    odd = got["odd.png"]["error"]
    assert odd["type"] == "op-error" and "op gray" in odd["message"] and "RuntimeError: no odd widths" in odd["message"]
    for i in range(5):
        assert got[f"good{i}.jpg"]["outputs"] == [f"good{i}.jpg"]
        with Image.open(out / f"good{i}.jpg") as im:
            assert im.mode == "L" and im.size == (64 + i, 48)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg")}

    toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False, ops=[OpSpec.make(gray)])
    assert summary(out)["resumed"] == 5  # same name, parameters and version: nothing redone
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg")} == mtimes

    toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False, ops=[OpSpec.make(gray, cutoff=1)])
    assert summary(out)["resumed"] == 0  # another parameter: every file again
    toolkit.op(name="gray", version="2")(gray)
    try:
        toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False, ops=[OpSpec.make(gray, cutoff=1)])
    finally:
        toolkit.op(name="gray", version="1")(gray)
    assert summary(out)["resumed"] == 0  # a new version: every file again
    assert all(r["settings"] == rows(out)["good0.jpg"]["settings"] for r in rows(out).values() if r["status"] == "ok")


def test_a_module_function_from_a_folder_on_the_path(corpus, tmp_path, monkeypatch, make_cluster):
    """``"module:function"`` in a config: the module is imported here to check it, and by name on the
    workers, which see this process's sys.path when they start."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "shades_for_test.py").write_text(
        textwrap.dedent(
            """
            import toolkit
            from PIL import ImageOps

            def posterize(im, *, bits=2):  # not decorated: its own name, version "1"
                return ImageOps.posterize(im.convert("RGB"), bits)

            @toolkit.op(name="level", version="4", returns="facts")
            def mean_level(im):
                return {"mean": round(sum(im.convert("L").getdata()) / (im.width * im.height))}
            """
        )
    )
    monkeypatch.syspath_prepend(str(lib))
    client = make_cluster(jobs=1)
    out = tmp_path / "out"
    ops = [{"op": "shades_for_test:posterize", "bits": "1"}, {"op": "shades_for_test:mean_level"}]
    report = toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False, ops=ops)
    assert report.counts == {"ok": 6, "failed": 1}
    r = rows(out)["odd.png"]
    assert r["outputs"] == ["odd.jpg"] and r["facts"] == {"level": {"mean": 76}}  # red: L = 76
    with Image.open(out / "odd.jpg") as im:
        assert len(set(im.convert("RGB").getdata())) <= 8  # one bit per channel (JPEG keeps it near)
    spec = toolkit.BuildConfig.create(ops=ops).ops
    assert [o.to_dict() for o in spec] == [
        {"op": "shades_for_test:posterize", "version": "1", "bits": 1},
        {"op": "shades_for_test:mean_level", "version": "4"},
    ]


def test_an_op_that_kills_its_worker_fails_only_that_file(corpus, tmp_path, make_cluster):
    client = make_cluster(jobs=2)
    out = tmp_path / "out"
    report = toolkit.build(inputs=[str(corpus)], output=str(out), client=client, progress=False, ops=[OpSpec.make(dies)])
    got = rows(out)
    assert got["odd.png"]["status"] == "failed" and got["odd.png"]["error"]["type"] == "worker-killed"
    assert got["cut.jpg"]["error"]["type"] == "truncated"
    assert all(got[f"good{i}.jpg"]["facts"] == {"dies": {"w": 64 + i}} for i in range(5))
    assert report.counts == {"ok": 5, "failed": 2}


def test_an_op_defined_in_a_script_runs_on_the_scripts_own_cluster(corpus, tmp_path):
    """A script's (or a notebook's) function lives in __main__, which no worker can import: the
    function travels by value. The script starts its own LocalCluster, with forkserver workers."""
    script = tmp_path / "build_it.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import toolkit

            @toolkit.op(name="flip", version="1")
            def flip(im, *, turns=1):
                return im.rotate(90 * turns, expand=True)

            if __name__ == "__main__":
                report = toolkit.build(inputs=[{str(corpus)!r}], output={str(tmp_path / "out")!r}, ops=[toolkit.OpSpec.make(flip)],
                                       jobs=1, memory_limit="512MiB", dashboard_address="127.0.0.1:0", progress=False)
                print(dict(report.counts))
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "'ok': 6" in done.stdout
    with Image.open(tmp_path / "out" / "odd.jpg") as im:
        assert im.size == (20, ODD)  # turned
