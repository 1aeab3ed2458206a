"""``verify`` on an output in a bucket checks the bucket, not only the local staging folder: an
object deleted from the bucket since it was published is put again, while a resume without
``verify`` trusts what it published (against a real S3 server on the loopback, a real cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import toolkit
from toolkit import _synth

pytestmark = pytest.mark.integration
pytest_plugins = ["store_server"]  # the fixtures s3_server, s3


@pytest.fixture
def cluster(s3, make_cluster):  # after s3: the workers start with its environment
    return make_cluster(jobs=1, limit="768MiB")


def test_verify_puts_again_an_object_deleted_from_the_bucket(s3, cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPREP_STORE_CACHE", str(tmp_path / "cache"))
    src: Path = tmp_path / "src"
    for i in range(4):
        _synth.write_photo(src / f"{i}.jpg", 80, 60, seed=i)
    prefix = f"{s3.bucket()}/out"
    kw = dict(inputs=[str(src)], output=f"s3://{prefix}", client=cluster, size=32, progress=False)
    toolkit.build(**kw)
    fs = s3.fs
    rows = [json.loads(line) for line in fs.cat_file(f"{prefix}/manifest.jsonl").decode().splitlines()]
    gone = f"{prefix}/{rows[0]['outputs'][0]}"
    fs.rm(gone)

    trusted = toolkit.build(**kw)
    fs.invalidate_cache()
    assert not trusted.stop_reason and not fs.exists(gone)  # nothing changed here: what was published is trusted
    verified = toolkit.build(**kw, verify=True)
    fs.invalidate_cache()

    assert not verified.stop_reason and fs.exists(gone)
    assert fs.cat_file(gone) == (next((tmp_path / "cache").glob("*")) / rows[0]["outputs"][0]).read_bytes()
