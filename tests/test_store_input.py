"""Inputs on an object store (``s3://bucket/prefix``), against a real S3 server on the loopback.

What a user checks: the scan lists the bucket with the same verdicts as a disk's folder, a build
reads the objects on real workers and names each row by its URL, the same command resumes without
redoing anything, a changed object (a new ETag) is redone, and every bad case (no bucket, no
credentials, a listing refused midway, an object gone) is a message naming the URL and the fix,
never the credentials, with nothing half-written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import toolkit
from toolkit._errors import InputError
from toolkit._synth import _jpeg_bytes

from store_server import KEY_ID, SECRET, FaultyProxy, store_fault

pytest_plugins = ["store_server"]  # the fixtures s3_server, s3

PHOTOS = {f"photos/a{i}.jpg": _jpeg_bytes(96, 64, i) for i in range(3)}
PHOTOS["photos/deep/b.jpg"] = _jpeg_bytes(80, 120, 9)


def _fill(s3, bucket: str) -> str:
    for key, data in PHOTOS.items():
        s3.put(f"{bucket}/{key}", data)
    s3.put(f"{bucket}/photos/bad.png", b"not a png at all" * 8)
    s3.put(f"{bucket}/photos/notes.txt", b"hello")
    s3.put(f"{bucket}/photos/.hidden/c.jpg", _jpeg_bytes(32, 32, 3))
    s3.put(f"{bucket}/photos/clip.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(40))
    return f"s3://{bucket}/photos"


def _rows(out: Path) -> dict[str, dict]:
    return {r["source"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


def _no_secret(*texts: str) -> None:
    for t in texts:
        assert SECRET not in t and KEY_ID not in t


def test_scan_lists_a_prefix_like_a_folder(s3):
    url = _fill(s3, s3.bucket())
    result = toolkit.scan(url)
    assert [i.rel for i in result.items] == ["a0.jpg", "a1.jpg", "a2.jpg", "bad.png", "deep/b.jpg"]
    assert all(i.path == f"{url}/{i.rel}" and i.root == url for i in result.items)
    assert {i.rel: i.size for i in result.items}["a1.jpg"] == len(PHOTOS["photos/a1.jpg"])
    left = {r.source: (r.status, (r.error or r.warnings[0]).type) for r in result.rows}
    assert left == {"notes.txt": ("skipped", "not-media"), "clip.mp4": ("failed", "unsupported-format")}
    assert "copy them to a local folder" in result.rows[0].error.message or "copy them" in str(result)
    assert url in str(result)


def test_a_changed_object_gets_a_new_stamp(s3):
    bucket = s3.bucket()
    s3.put(f"{bucket}/p/x.jpg", _jpeg_bytes(40, 40, 1))
    first = toolkit.scan(f"s3://{bucket}/p").items[0]
    assert toolkit.scan(f"s3://{bucket}/p").items[0].mtime_ns == first.mtime_ns  # listing again: same stamp
    s3.put(f"{bucket}/p/x.jpg", _jpeg_bytes(40, 40, 2))
    assert toolkit.scan(f"s3://{bucket}/p").items[0].mtime_ns != first.mtime_ns


@pytest.mark.parametrize(
    "case, words",
    [
        ("no-bucket", ["does not exist", "check the bucket and the prefix"]),
        ("empty-prefix", ["no objects under", "check the bucket and the prefix"]),
        ("no-credentials", ["no credentials were found", "AWS_ACCESS_KEY_ID"]),
        ("listing-refused-midway", ["access denied", "AWS_ACCESS_KEY_ID", "bucket's policy"]),
    ],
)
def test_bad_input_is_a_clear_error(case, words, s3, monkeypatch):
    bucket = s3.bucket()
    url = _fill(s3, bucket)
    if case == "no-bucket":
        url = "s3://no-such-bucket-dataprep/photos"
    elif case == "empty-prefix":
        url = f"s3://{bucket}/nothing-here"
    with store_fault(s3, monkeypatch, case) as proxy, pytest.raises(InputError) as err:
        toolkit.scan(url)
    message = str(err.value)
    assert url in message and "`inputs`" in message
    for w in words:
        assert w in message, message
    _no_secret(message)
    if proxy:
        assert proxy.refused >= 1  # the first page came, a later one was refused


def test_an_object_gone_since_the_listing_is_a_failed_row(s3):
    from toolkit._ops.image import read_source
    from toolkit._ops import FileProblem

    bucket = s3.bucket()
    with pytest.raises(FileProblem) as err:
        read_source(f"s3://{bucket}/gone.jpg")
    assert err.value.code == "not-found" and f"s3://{bucket}/gone.jpg" in err.value.message


def test_a_url_naming_one_object_scans_that_object(s3):
    url = _fill(s3, s3.bucket())
    result = toolkit.scan(f"{url}/deep/b.jpg")
    assert [(i.root, i.rel, i.path) for i in result.items] == [(f"{url}/deep", "b.jpg", f"{url}/deep/b.jpg")]
    assert not result.rows


def test_the_probe_reads_an_objects_header(s3):
    from toolkit._ops import OpSpec
    from toolkit._ops.image.probe import probe_image

    bucket = s3.bucket()
    s3.put(f"{bucket}/p/x.jpg", _jpeg_bytes(96, 64, 4))
    s3.put(f"{bucket}/p/y.png", _png_bytes())
    ops = (OpSpec.make("thumbnail", size=32),)
    jpeg = probe_image(f"s3://{bucket}/p/x.jpg", ops=ops, sniffed="JPEG")
    png = probe_image(f"s3://{bucket}/p/y.png", ops=ops, sniffed="PNG")
    assert (jpeg.width, jpeg.height, jpeg.codec) == (96, 64, "JPEG")
    assert (png.width, png.height, png.codec) == (50, 30, "PNG")


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (50, 30), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_sidecars_in_a_bucket_pair_with_their_photos(s3):
    url = _fill(s3, s3.bucket())
    s3.put(url[5:] + "/a0.txt", b"a red kite\n")
    s3.put(url[5:] + "/a0.json", b'{"iso": 100}')
    result = toolkit.scan(url)
    a0 = next(i for i in result.items if i.rel == "a0.jpg")
    assert (a0.caption_path, a0.meta_path) == (f"{url}/a0.txt", f"{url}/a0.json")
    assert {r.source for r in result.rows} == {"notes.txt", "clip.mp4"}  # the sidecars have no rows of their own
    assert toolkit.scan(url, captions="none").items[0].caption_path is None


def test_a_listing_in_many_pages_is_whole(s3, monkeypatch):
    url = _fill(s3, s3.bucket())
    direct = toolkit.scan(url)
    proxy = FaultyProxy(s3.endpoint, refuse="nothing")  # pages of 2 objects
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        paged = toolkit.scan(url)
    finally:
        proxy.close()
    assert proxy.listed >= 4  # 8 objects in pages of 2: the listing did go through the proxy
    assert [(i.rel, i.size, i.mtime_ns) for i in paged.items] == [(i.rel, i.size, i.mtime_ns) for i in direct.items]
    assert [r.source for r in paged.rows] == [r.source for r in direct.rows]
