"""The ``not-on-worker`` decision against the client's own view: a file gone for the client too was
moved or deleted (``not-found``), whatever the worker saw; a file the client still sees but a worker
does not is the worker's (``not-on-worker``). On a LocalCluster the workers see what the client sees,
so an input folder deleted or emptied between the scan and the batches is ``not-found`` there."""

from __future__ import annotations

import shutil

import pytest

import toolkit
from toolkit import _synth as synth
from toolkit._fs import path_b64
from toolkit._media import MediaItem, Problem
from toolkit._unseen import on_this_worker, settle, settle_rows

from helpers import rows_by_source

WORKER = "tcp://127.0.0.1:40000 (host node-3)"


def _unseen_row(root, rel: str) -> dict:
    msg = f"worker {WORKER} cannot see {root / rel}: the input folder {root} does not exist there, though ..."
    return {
        "source": rel,
        "source_b64": path_b64(rel),
        "input_root": str(root),
        "error": {"type": "not-on-worker", "message": msg},
    }


def test_a_file_the_client_sees_stays_not_on_worker_and_one_gone_here_too_is_not_found(tmp_path):
    (tmp_path / "here.jpg").write_bytes(b"x")
    rows = [_unseen_row(tmp_path, "here.jpg"), _unseen_row(tmp_path, "gone.jpg"), _unseen_row(tmp_path / "nodir", "a.jpg")]
    settle_rows(rows)
    assert [r["error"]["type"] for r in rows] == ["not-on-worker", "not-found", "not-found"]
    assert f"{tmp_path / 'gone.jpg'} does not exist (moved or deleted since the scan?" in rows[1]["error"]["message"]
    assert WORKER in rows[1]["error"]["message"]
    other = Problem("corrupt", "x")
    assert settle(other, str(tmp_path / "gone.jpg")) is other and settle(None, "x") is None


def _item(root, rel: str) -> MediaItem:
    path = root / rel
    return MediaItem(str(path), rel, str(root), "image", "JPEG", 1, 0)


@pytest.mark.integration
def test_a_worker_names_a_missing_or_empty_input_folder_and_a_missing_file_stays_not_found(client, tmp_path):
    """The worker's side: an input folder that is not there, or empty (a mount point with nothing
    mounted), is ``not-on-worker``; a file missing from a folder with files stays ``not-found``."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "other.jpg").write_bytes(b"x")
    gone = Problem("not-found", "does not exist (moved or deleted since the scan?)")

    def on_worker(root):
        return client.submit(on_this_worker, gone, _item(root, "a.jpg"), pure=False).result(60)

    assert on_worker(tmp_path / "nowhere").type == "not-on-worker"
    empty = on_worker(tmp_path / "empty")
    assert empty.type == "not-on-worker" and f"the input folder {tmp_path / 'empty'} is empty there" in empty.message
    full = on_worker(tmp_path / "full")
    assert full.type == "not-found" and "(looked for on worker tcp://127.0.0.1:" in full.message
    url = MediaItem("s3://bucket/in/a.jpg", "a.jpg", "s3://bucket/in", "image", "JPEG", 1, 0)
    assert client.submit(on_this_worker, gone, url, pure=False).result(60) == gone  # gone from the store, for all


@pytest.mark.integration
@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_an_input_folder_deleted_or_emptied_after_the_scan_is_not_found_on_a_local_cluster(client, tmp_path, how):
    src = tmp_path / "in"
    for i in range(4):
        synth.write_photo(src / f"p{i}.jpg", 64, 48, seed=i)

    def remove_inputs(ev) -> None:  # after the scan and the probe, before any batch
        if ev.kind == "run-started":
            if how == "deleted":
                shutil.rmtree(src)
            else:
                for f in src.iterdir():
                    f.unlink()

    run = toolkit.start(inputs=[str(src)], output=str(tmp_path / "out"), client=client, sinks=[remove_inputs], op="thumbnail")
    report = run.result(timeout=300)
    rows = rows_by_source(tmp_path / "out", 4)
    assert report.counts == {"failed": 4}
    for name, r in rows.items():
        assert r["error"]["type"] == "not-found", r["error"]
        assert f"{src / name} does not exist (moved or deleted since the scan?" in r["error"]["message"]
