"""Builds from an object store on a real cluster, against a real S3 server on the loopback:
rows name the URL, outputs match a build of the same files on disk, the same command resumes
(size and ETag in place of mtime), a changed object is redone, a bad bucket stops before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import toolkit
from toolkit._synth import _jpeg_bytes

from store_server import KEY_ID, SECRET

pytest_plugins = ["store_server"]  # the fixtures s3_server, s3

pytestmark = pytest.mark.integration

PHOTOS = {"a.jpg": _jpeg_bytes(96, 64, 1), "b.jpg": _jpeg_bytes(64, 96, 2), "deep/c.jpg": _jpeg_bytes(120, 80, 3)}


def _rows(out: Path) -> dict[str, dict]:
    return {r["source"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.jpg"))}


@pytest.fixture
def cluster(s3, make_cluster):  # after s3: the workers start with its environment
    return make_cluster(jobs=1, limit="768MiB")


def test_build_from_a_bucket_then_resume(s3, cluster, tmp_path, cli, capsys):
    bucket = s3.bucket()
    for key, data in PHOTOS.items():
        s3.put(f"{bucket}/in/{key}", data)
        (tmp_path / "disk" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "disk" / key).write_bytes(data)
    s3.put(f"{bucket}/in/broken.jpg", b"\xff\xd8\xff\xe0" + bytes(60))
    url, out = f"s3://{bucket}/in", tmp_path / "out"
    kw = dict(op="thumbnail", size=32, client=cluster, progress=False)

    report = toolkit.build(inputs=[url], output=str(out), **kw)
    rows = _rows(out)
    assert set(rows) == {"a.jpg", "b.jpg", "deep/c.jpg", "broken.jpg"}
    assert all(r["input_root"] == url for r in rows.values())
    assert [s for s, r in rows.items() if r["status"] == "ok"] == ["a.jpg", "b.jpg", "deep/c.jpg"]
    assert rows["broken.jpg"]["status"] == "failed" and f"{url}/broken.jpg" in rows["broken.jpg"]["error"]["message"]
    assert rows["a.jpg"]["bytes_in"] == len(PHOTOS["a.jpg"]) and rows["a.jpg"]["content_hash"]
    on_disk = toolkit.build(inputs=[str(tmp_path / "disk")], output=str(tmp_path / "ref"), **kw)
    assert _outputs(out) == _outputs(tmp_path / "ref")  # the same bytes as from a folder
    assert report.counts["ok"] == on_disk.counts["ok"] == 3

    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    toolkit.build(inputs=[url], output=str(out), **kw)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] == 3  # every ok row kept (a failed file is tried again, as on a disk)
    assert {k: r for k, r in _rows(out).items() if r["status"] == "ok"} == {k: r for k, r in rows.items() if r["status"] == "ok"}
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == written  # nothing rewritten

    s3.put(f"{bucket}/in/b.jpg", _jpeg_bytes(50, 100, 7))  # a new ETag, the same name
    toolkit.build(inputs=[url], output=str(out), **kw)
    after = _rows(out)
    assert after["b.jpg"]["mtime_ns"] != rows["b.jpg"]["mtime_ns"]
    assert (after["b.jpg"]["width"], after["b.jpg"]["height"]) == (50, 100)  # redone from the new object
    assert json.loads((out / "summary.json").read_text())["resumed"] == 2
    assert after["a.jpg"] == rows["a.jpg"]  # untouched objects keep their rows
    _ = capsys.readouterr()


def test_a_missing_bucket_stops_before_any_work(s3, tmp_path, cli, capsys):
    out = tmp_path / "out"
    code = cli(["build", "--input", "s3://no-such-bucket-dataprep/x", "--output", str(out), "--op", "thumbnail"])
    err = capsys.readouterr().err
    assert code == 2
    assert "s3://no-such-bucket-dataprep/x" in err and "check the bucket" in err and "--input" in err
    assert SECRET not in err and KEY_ID not in err
    assert not out.exists()  # nothing half-written


def test_cli_from_a_bucket_into_a_bucket_as_a_user_does(s3, tmp_path, cli, capsys, monkeypatch):
    """``dataprep build --input s3://... --output s3://... --exports webdataset,parquet`` on its own
    local cluster; the shards read back from the bucket with webdataset and pyarrow; no credential
    in anything printed."""
    import io

    import pyarrow.parquet as pq
    import webdataset as wds

    monkeypatch.setenv("DATAPREP_STORE_CACHE", str(tmp_path / "cache"))
    bucket = s3.bucket()
    for key, data in PHOTOS.items():
        s3.put(f"{bucket}/in/{key}", data)
    argv = ["build", "--input", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", "--op", "thumbnail", "--size", "32"]
    argv += ["--exports", "webdataset", "--exports", "parquet", "--jobs", "1"]
    plan = ["plan", "--input", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", "--memory-limit", "256MiB"]
    assert cli(plan) == 0 and f"{len(PHOTOS)} files" in capsys.readouterr().out  # the dry run lists and probes too
    assert cli(argv) == 0
    printed = capsys.readouterr()
    assert f"s3://{bucket}/out/manifest.jsonl" in printed.out
    for text in (printed.out, printed.err):
        assert SECRET not in text and KEY_ID not in text
    fs = s3.fs
    shards = sorted(fs.find(f"{bucket}/out/webdataset"))
    tars = [n for n in shards if n.endswith(".tar")]
    assert tars
    local = tmp_path / "shard.tar"
    local.write_bytes(fs.cat_file(tars[0]))
    samples = list(wds.WebDataset(str(local), shardshuffle=False).decode("pil"))
    assert samples and all(max(s["jpg"].size) == 32 for s in samples)
    tables = [pq.read_table(io.BytesIO(fs.cat_file(n))) for n in fs.find(f"{bucket}/out/parquet") if n.endswith(".parquet")]
    assert sum(t.num_rows for t in tables) == len(PHOTOS)

    assert cli(["report", f"s3://{bucket}/out"]) == 0  # read back from the bucket
    shown = capsys.readouterr().out
    assert f"{len(PHOTOS)} files: ok {len(PHOTOS)}" in shown
    assert toolkit.report(f"s3://{bucket}/out").counts["ok"] == len(PHOTOS)
    with pytest.raises(toolkit.InputError, match="holds no manifest.jsonl"):
        toolkit.report(f"s3://{bucket}/in")


@pytest.mark.parametrize("fault", ["listing-refused-midway", "no-credentials"])
def test_a_bad_store_stops_before_any_work_and_the_same_command_then_builds(fault, s3, cluster, tmp_path, monkeypatch):
    from store_server import store_fault

    bucket = s3.bucket()
    for key, data in PHOTOS.items():
        s3.put(f"{bucket}/in/{key}", data)
    url, out = f"s3://{bucket}/in", tmp_path / "out"
    kw = dict(op="thumbnail", size=32, client=cluster, progress=False)
    with store_fault(s3, monkeypatch, fault), pytest.raises(toolkit.InputError) as err:
        toolkit.build(inputs=[url], output=str(out), **kw)
    assert url in str(err.value) and SECRET not in str(err.value)
    assert not out.exists()  # nothing half-written
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert toolkit.build(inputs=[url], output=str(out), **kw).counts["ok"] == len(PHOTOS)


def test_captions_and_metadata_from_a_bucket_and_an_edited_caption_on_resume(s3, cluster, tmp_path):
    bucket = s3.bucket()
    for key, data in PHOTOS.items():
        s3.put(f"{bucket}/in/{key}", data)
    s3.put(f"{bucket}/in/a.txt", b"a cat on a mat\n")
    s3.put(f"{bucket}/in/a.json", b'{"photographer": "Ann"}')
    url, out = f"s3://{bucket}/in", tmp_path / "out"
    kw = dict(op="thumbnail", size=32, client=cluster, progress=False)
    toolkit.build(inputs=[url], output=str(out), **kw)
    rows = _rows(out)
    assert (rows["a.jpg"]["caption"], rows["a.jpg"]["meta"]) == ("a cat on a mat", {"photographer": "Ann"})
    assert rows["b.jpg"]["caption"] is None and "a.txt" not in rows
    s3.put(f"{bucket}/in/a.txt", b"a cat under a mat")  # a new caption: read again, the image not redone
    toolkit.build(inputs=[url], output=str(out), **kw)
    assert _rows(out)["a.jpg"]["caption"] == "a cat under a mat"
    assert json.loads((out / "summary.json").read_text())["resumed"] == len(PHOTOS)


def test_a_resume_from_an_unchanged_bucket_has_nothing_to_do(s3, cluster, tmp_path):
    bucket = s3.bucket()
    for key, data in PHOTOS.items():
        s3.put(f"{bucket}/in/{key}", data)
    url, out = f"s3://{bucket}/in", tmp_path / "out"
    kw = dict(op="thumbnail", size=32, client=cluster, progress=False)
    toolkit.build(inputs=[url], output=str(out), **kw)
    manifest = (out / "manifest.jsonl").stat().st_mtime_ns
    toolkit.build(inputs=[url], output=str(out), **kw)
    summary = json.loads((out / "summary.json").read_text())
    assert summary.get("unchanged") is True and summary["resumed"] == 3  # the listing alone: no cluster, no rewrite
    assert (out / "manifest.jsonl").stat().st_mtime_ns == manifest
    s3.put(f"{bucket}/in/a.jpg", _jpeg_bytes(40, 40, 8))  # a new ETag: the long way, a.jpg redone
    toolkit.build(inputs=[url], output=str(out), **kw)
    summary = json.loads((out / "summary.json").read_text())
    assert not summary.get("unchanged") and summary["resumed"] == 2
    assert (_rows(out)["a.jpg"]["width"], _rows(out)["a.jpg"]["height"]) == (40, 40)
