"""Outputs on an object store (``--output s3://bucket/out``), against a real S3 server on the
loopback and a real cluster: the manifest, the shards (WebDataset, Parquet), the imagefolder copies,
the card and the mirror tree all land as objects equal to a build into a folder; the same command
resumes and puts nothing; an object a build no longer makes is deleted; a bucket that does not
exist stops before any work; a store that refuses puts stops with ``output-write-failed``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import toolkit
from toolkit import _synth

from store_server import KEY_ID, SECRET

pytestmark = pytest.mark.integration
pytest_plugins = ["store_server"]  # the fixtures s3_server, s3


def corpus(root: Path) -> Path:
    for label, base in (("cat", 10), ("dog", 40)):
        for i in range(5):
            _synth.write_photo(root / label / f"{i}.jpg", 120 + 10 * i, 90 + 10 * i, seed=base + i)
    return root


@pytest.fixture
def staged(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPREP_STORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def cluster(s3, make_cluster):  # after s3: the workers start with its environment
    return make_cluster(jobs=1, limit="768MiB")


def _local_files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".dataprep" not in p.parts and p.name not in ("summary.json",)
    }


def _objects(s3, prefix: str) -> dict[str, bytes]:
    fs = s3.fs
    fs.invalidate_cache()
    names = fs.find(prefix)
    return {n[len(prefix) + 1 :]: fs.cat_file(n) for n in names if not n.endswith("summary.json")}


def _build_through(refuse: str, s3, monkeypatch, **kw):
    """A build whose requests go through a :class:`FaultyProxy` refusing ``refuse`` -> (its report, the
    proxy); the store is reached directly again afterwards."""
    import time

    from store_server import FaultyProxy

    proxy = FaultyProxy(s3.endpoint, refuse=refuse)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        report = toolkit.build(**kw)
        time.sleep(1.0)  # a request still in flight lands
    finally:
        proxy.close()
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    return report, proxy


KW = dict(size=64, labels="folder", splits={"train": 0.6, "val": 0.2, "test": 0.2}, progress=False)


def test_a_build_into_a_bucket_equals_a_build_into_a_folder(s3, staged, cluster, tmp_path):
    src = corpus(tmp_path / "src")
    bucket = s3.bucket()
    url = f"s3://{bucket}/out"
    exports = ["webdataset", "parquet", "imagefolder"]
    report = toolkit.build(inputs=[str(src)], output=url, client=cluster, exports=exports, **KW)
    assert report.output == url and report.manifest == f"{url}/manifest.jsonl" and not report.stop_reason
    toolkit.build(inputs=[str(src)], output=str(tmp_path / "ref"), client=cluster, exports=exports, **KW)
    local, remote = _local_files(tmp_path / "ref"), _objects(s3, f"{bucket}/out")
    assert set(remote) == set(local)
    same = {k for k in local if local[k] == remote[k]}
    # everything but what names its own folder (the card's settings, manifest.parquet's rows) is byte-identical
    assert {k for k in local if k not in same} <= {"README.md", "manifest.parquet", "manifest.jsonl"}, set(local) - same
    assert any(k.startswith("webdataset/") and k.endswith(".tar") for k in remote)
    assert any(k.startswith("parquet/") and k.endswith(".parquet") for k in remote)
    assert any(k.startswith("imagefolder/") and k.endswith(".jpg") for k in remote)
    rows = [json.loads(line) for line in remote["manifest.jsonl"].decode().splitlines()]
    assert {r["status"] for r in rows} == {"ok"} and len(rows) == 10
    assert all(o in remote for r in rows for o in r["outputs"])  # every output the manifest names is there

    fs = s3.fs
    stamps = {n: fs.info(n)["ETag"] for n in fs.find(f"{bucket}/out")}
    again = toolkit.build(inputs=[str(src)], output=url, client=cluster, exports=exports, **KW)
    assert not again.stop_reason
    fs.invalidate_cache()
    after = {n: fs.info(n)["ETag"] for n in fs.find(f"{bucket}/out")}
    assert {n for n in after if after[n] != stamps.get(n)} <= {f"{bucket}/out/summary.json"}  # only the summary is new

    (src / "dog" / "4.jpg").unlink()  # a file gone: its samples leave the exports, in the bucket as in a folder
    before = set(remote)
    toolkit.build(inputs=[str(src)], output=url, client=cluster, exports=exports, **KW)
    toolkit.build(inputs=[str(src)], output=str(tmp_path / "ref"), client=cluster, exports=exports, **KW)
    remote = _objects(s3, f"{bucket}/out")
    assert set(remote) == set(_local_files(tmp_path / "ref")) and set(remote) != before  # objects were deleted
    rows = [json.loads(line) for line in remote["manifest.jsonl"].decode().splitlines()]
    assert len(rows) == 9 and all(o in remote for r in rows for o in r["outputs"])


def test_a_new_machine_resumes_from_the_bucket(s3, staged, cluster, tmp_path, monkeypatch):
    src = corpus(tmp_path / "src")
    url = f"s3://{s3.bucket()}/out"
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW)
    monkeypatch.setenv("DATAPREP_STORE_CACHE", str(tmp_path / "elsewhere"))  # no staging folder here
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW)
    assert json.loads(next((tmp_path / "elsewhere").glob("*/summary.json")).read_text())["resumed"] == 10


def test_a_missing_output_bucket_stops_before_any_work(s3, staged, tmp_path, cli, capsys):
    src = corpus(tmp_path / "src")
    code = cli(["build", "--input", str(src), "--output", "s3://no-such-bucket-dataprep/out", "--op", "thumbnail"])
    err = capsys.readouterr().err
    assert code == 2 and "s3://no-such-bucket-dataprep/out" in err and "--output" in err and "does not exist" in err
    assert SECRET not in err and KEY_ID not in err
    assert not staged.exists()  # nothing made, not even the staging folder


@pytest.mark.parametrize("inp, out", [("in", "in/out"), ("out/in", "out"), ("same", "same")])
def test_an_output_overlapping_an_input_prefix_is_misuse(inp, out, s3, staged):
    bucket = s3.bucket()
    s3.put(f"{bucket}/{inp}/a.jpg", _synth._jpeg_bytes(32, 32, 1))
    with pytest.raises(toolkit.InputError, match="overlap; choose an output outside the inputs"):
        toolkit.build(inputs=[f"s3://{bucket}/{inp}"], output=f"s3://{bucket}/{out}", progress=False)
    assert not staged.exists()  # nothing made, not even the staging folder


def test_a_store_that_refuses_puts_stops_the_run_and_the_same_command_publishes(s3, staged, cluster, tmp_path, monkeypatch):
    src = corpus(tmp_path / "src")
    bucket = s3.bucket()
    url = f"s3://{bucket}/out"
    report, proxy = _build_through("puts", s3, monkeypatch, inputs=[str(src)], output=url, client=cluster, **KW)
    assert proxy.refused >= 1
    why = report.stop_reason
    assert report.stopped and why["type"] == "output-write-failed" and why["path"] == url
    assert url in why["message"] and "access denied" in why["message"] and "run the same command again" in why["message"]
    assert SECRET not in why["message"] and KEY_ID not in why["message"]
    assert not s3.fs.exists(f"{bucket}/out/manifest.jsonl")  # nothing names objects that are not there
    # the store takes puts again
    report = toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW)
    assert not report.stop_reason
    remote = _objects(s3, f"{bucket}/out")
    rows = [json.loads(line) for line in remote["manifest.jsonl"].decode().splitlines()]
    assert len(rows) == 10 and all(o in remote for r in rows for o in r["outputs"])
    assert json.loads(next(staged.glob("*/summary.json")).read_text())["resumed"] == 10  # published, not rebuilt


def test_one_build_at_a_time_per_output_url(s3, staged, cluster, tmp_path):
    import os

    src = corpus(tmp_path / "src")
    bucket = s3.bucket()
    url = f"s3://{bucket}/out"
    s3.put(f"{bucket}/out/.dataprep-lock", json.dumps({"pid": 4242, "host": "other-machine", "started": "now"}).encode())
    with pytest.raises(toolkit.InputError) as err:
        toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW)
    assert "process 4242 on other-machine" in str(err.value) and f"delete {url}/.dataprep-lock" in str(err.value)
    assert s3.fs.find(f"{bucket}/out") == [f"{bucket}/out/.dataprep-lock"]  # nothing written
    # a killed build of this host (its process is gone) is taken over; the lock object goes at the end
    dead = {"pid": 2**22 + 12345, "host": os.uname().nodename, "started": "before"}
    s3.put(f"{bucket}/out/.dataprep-lock", json.dumps(dead).encode())
    assert not toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW).stop_reason
    s3.fs.invalidate_cache()
    assert not s3.fs.exists(f"{bucket}/out/.dataprep-lock") and s3.fs.exists(f"{bucket}/out/manifest.jsonl")


def test_a_machine_whose_copy_is_older_than_the_bucket_starts_from_the_bucket(s3, staged, cluster, tmp_path, monkeypatch):
    from PIL import Image

    src = corpus(tmp_path / "src")
    bucket = s3.bucket()
    url = f"s3://{bucket}/out"
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW)  # machine A, 64 px
    monkeypatch.setenv("DATAPREP_STORE_CACHE", str(tmp_path / "machine-b"))
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **{**KW, "size": 48})  # machine B redoes at 48 px
    monkeypatch.setenv("DATAPREP_STORE_CACHE", str(staged))  # A again, at 64 px: its copy is older than the bucket
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW)
    remote = _objects(s3, f"{bucket}/out")
    rows = [json.loads(line) for line in remote["manifest.jsonl"].decode().splitlines()]
    for r in rows:
        with Image.open(io.BytesIO(remote[r["outputs"][0]])) as im:
            assert max(im.size) == 64, r["source"]  # the bucket holds what A's last build made, not B's

    s3.fs.rm(f"{bucket}/out", recursive=True)  # the bucket emptied by hand: the next build puts everything again
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW)
    assert set(_objects(s3, f"{bucket}/out")) == set(remote)


def _named_outputs_there(s3, prefix: str) -> None:
    remote = _objects(s3, prefix)
    rows = [json.loads(line) for line in remote["manifest.jsonl"].decode().splitlines()]
    missing = [o for r in rows for o in r["outputs"] if o not in remote]
    assert rows and not missing, missing  # the bucket's manifest names only objects that are there


def test_a_publish_cut_short_puts_no_export_index_naming_shards_that_are_not_there(s3, staged, cluster, tmp_path, monkeypatch):
    src = corpus(tmp_path / "src")
    bucket = s3.bucket()
    url = f"s3://{bucket}/out"
    report, proxy = _build_through(
        "shards", s3, monkeypatch, inputs=[str(src)], output=url, client=cluster, exports=["webdataset"], **KW
    )
    assert proxy.refused >= 1 and report.stop_reason["type"] == "output-write-failed"
    s3.fs.invalidate_cache()
    names = [n[len(bucket) + 5 :] for n in s3.fs.find(f"{bucket}/out")]
    assert not any(n.endswith(".tar") for n in names)  # refused
    assert not any(n.endswith(".index.json") for n in names), names  # so no index names them


def test_a_folder_deleted_from_the_staging_folder_is_not_deleted_from_the_bucket(s3, staged, cluster, tmp_path):
    import shutil

    src = corpus(tmp_path / "src")
    bucket = s3.bucket()
    url = f"s3://{bucket}/out"
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW)
    (folder,) = [p for p in staged.iterdir() if (p / "manifest.jsonl").exists()]
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    first = folder / rows[0]["outputs"][0]
    assert first.parent != folder
    shutil.rmtree(first.parent)  # the user frees room in the staging folder ("it is published")
    assert not toolkit.build(inputs=[str(src)], output=url, client=cluster, **KW).stop_reason
    _named_outputs_there(s3, f"{bucket}/out")
    assert first.exists()  # the staging folder is whole again, from the bucket


def test_a_build_made_before_another_machine_published_starts_from_the_bucket(s3, staged, cluster, tmp_path, monkeypatch):
    src = corpus(tmp_path / "src")
    bucket = s3.bucket()
    url = f"s3://{bucket}/out"
    kw = {**KW, "exports": ["imagefolder"]}
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **kw)  # machine A
    settings = {k: v for k, v in kw.items() if k != "progress"}
    run = toolkit.Run(toolkit.BuildConfig.create(inputs=[str(src)], output=url, **settings), client=cluster)  # A, not started
    aside = tmp_path / "aside.jpg"
    (src / "dog" / "4.jpg").rename(aside)
    monkeypatch.setenv("DATAPREP_STORE_CACHE", str(tmp_path / "machine-b"))
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **kw)  # B: dog/4's imagefolder copy is deleted
    aside.rename(src / "dog" / "4.jpg")
    _synth.write_photo(src / "cat" / "5.jpg", 100, 80, seed=99)  # A has work to do: it puts its indexes
    assert not run.start().result(timeout=600).stop_reason
    # the bucket holds what A's staging folder holds (not A's older copy's idea of what is there)
    assert set(_objects(s3, f"{bucket}/out")) == set(_local_files(Path(run.config.output)))
    _named_outputs_there(s3, f"{bucket}/out")


def test_objects_named_with_spaces_brackets_and_accents_are_put_and_deleted_by_name(s3, staged, cluster, tmp_path):
    src = tmp_path / "src"
    for i, name in enumerate(["cat/photo 1.jpg", "cat/photo [1].jpg", "dog/photo*.jpg", "dog/été ☀.jpg", "dog/b.jpg"]):
        _synth.write_photo(src / name, 100 + i, 80, seed=i)
    bucket = s3.bucket()
    url = f"s3://{bucket}/out"
    kw = dict(size=32, labels="folder", exports=["imagefolder"], progress=False)
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **kw)
    _named_outputs_there(s3, f"{bucket}/out")
    assert "imagefolder/train/cat/cat/photo [1].jpg" in _objects(s3, f"{bucket}/out")
    (src / "cat" / "photo [1].jpg").unlink()  # its imagefolder copy is deleted: by name, not as a pattern
    (src / "dog" / "photo*.jpg").unlink()
    assert not toolkit.build(inputs=[str(src)], output=url, client=cluster, **kw).stop_reason
    remote = _objects(s3, f"{bucket}/out")
    copies = {n for n in remote if n.startswith("imagefolder/train/")}
    assert copies == {
        "imagefolder/train/metadata.jsonl",
        "imagefolder/train/cat/cat/photo 1.jpg",  # not taken for 'photo [1].jpg'
        "imagefolder/train/dog/dog/été ☀.jpg",
        "imagefolder/train/dog/dog/b.jpg",
    }, copies
    _named_outputs_there(s3, f"{bucket}/out")


def test_a_publish_cut_short_before_its_deletions_finishes_them_next_time(s3, staged, cluster, tmp_path, monkeypatch):
    src = corpus(tmp_path / "src")
    bucket = s3.bucket()
    url = f"s3://{bucket}/out"
    kw = {**KW, "exports": ["imagefolder"]}
    toolkit.build(inputs=[str(src)], output=url, client=cluster, **kw)
    (old,) = [n for n in _objects(s3, f"{bucket}/out") if n.startswith("imagefolder/") and n.endswith("dog/4.jpg")]
    (src / "dog" / "4.jpg").unlink()  # its imagefolder copy goes
    report, proxy = _build_through("deletes", s3, monkeypatch, inputs=[str(src)], output=url, client=cluster, **kw)
    assert proxy.refused >= 1 and report.stop_reason["type"] == "output-write-failed"
    assert old in _objects(s3, f"{bucket}/out")  # not deleted yet; the manifest that no longer names it is there
    assert not toolkit.build(inputs=[str(src)], output=url, client=cluster, **kw).stop_reason
    assert old not in _objects(s3, f"{bucket}/out")  # deleted now, not left behind for good
    _named_outputs_there(s3, f"{bucket}/out")
