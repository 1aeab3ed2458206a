"""A worker that cannot see the inputs: a real ``dask worker`` started in a mount namespace of its
own where an empty tmpfs covers the folder holding them (``unshare -m``; skipped where no mount
namespace can be made). Its files get a failed ``not-on-worker`` row naming the worker and the
path, the other worker's files are built, every file has its row, and nothing hangs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

import toolkit
from toolkit._errors import ClusterError
from toolkit import _synth as synth
from toolkit._media import MediaItem
from toolkit._ops import OpSpec
from toolkit._probe import _probe_chunk
from toolkit._unseen import settle

from helpers import rows_by_source
from real_cluster import RealCluster, unshare_prefix

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def blind(tmp_path_factory):
    """(cluster, client, shared folder, address of the worker that cannot see it)."""
    prefix = unshare_prefix()
    if prefix is None:
        pytest.skip("no mount namespace can be made here (unshare -m / -rm): cannot hide a folder from one worker")
    base = tmp_path_factory.mktemp("blind")
    shared = base / "shared"
    shared.mkdir()
    rc = RealCluster(base)
    try:
        rc.start_scheduler()
        rc.start_worker("sees")
        rc.start_worker("blind", prefix=prefix, hide=shared)
        client = toolkit.connect(str(rc.scheduler_file))
        rc.wait_workers(client, 2)
        names = {w["name"]: addr for addr, w in client.scheduler_info()["workers"].items()}
        yield rc, client, shared, names["blind"]
        client.close()
    finally:
        rc.close()


def test_probing_on_the_blind_worker_names_it_too(blind):
    """Large inputs are probed on the workers: a probe there gives the same row (run first: the next test retires that worker)."""
    rc, client, shared, blind_addr = blind
    synth.write_photo(shared / "probe" / "a.jpg", 64, 48, seed=1)
    path = shared / "probe" / "a.jpg"
    item = MediaItem(str(path), "a.jpg", str(path.parent), "image", "JPEG", path.stat().st_size, path.stat().st_mtime_ns)
    ops = (OpSpec.make("thumbnail", size=32),)
    other = next(a for a in client.scheduler_info()["workers"] if a != blind_addr)

    def probe_on(addr: str):
        return client.submit(_probe_chunk, [item], ops, "jpeg", 10**8, 30.0, workers=[addr], pure=False).result(60)[0]

    row = probe_on(blind_addr)
    assert row.status == "failed" and row.error.type == "not-on-worker" and blind_addr in row.error.message
    seen = probe_on(other)
    assert isinstance(seen, MediaItem) and seen.info is not None
    synth.write_photo(shared / "probe" / "b.jpg", 64, 48, seed=2)
    path.unlink()  # gone from a folder the worker does see: moved or deleted since the scan, said so
    gone = probe_on(other)
    assert gone.error.type == "not-found" and f"(looked for on worker {other} (host " in gone.error.message
    (shared / "probe" / "b.jpg").unlink()  # the folder empty now: a mount point with nothing on it, for a worker...
    emptied = probe_on(other)
    assert emptied.error.type == "not-on-worker" and "is empty there" in emptied.error.message
    settled = settle(emptied.error, str(path))  # ...but the client does not see the file either: not-found
    assert settled.type == "not-found" and f"seen neither by worker {other} (host " in settled.message


def test_an_output_folder_a_worker_cannot_see_is_refused_before_any_batch(blind, tmp_path):
    """Workers write the outputs themselves: one that does not see the output folder is named at once
    (not a stop blamed on the output disk half-way through)."""
    rc, client, shared, blind_addr = blind
    src = tmp_path / "in"
    synth.write_photo(src / "a.jpg", 64, 48, seed=1)
    with pytest.raises(ClusterError) as err:
        toolkit.build(inputs=[str(src)], output=str(shared / "out"), client=client, progress=False)
    msg = str(err.value)
    assert f"worker {blind_addr} (host " in msg and f"cannot see the output folder {shared / 'out'}" in msg
    assert "same path on every worker" in msg
    assert not (shared / "out").exists()  # the folder this build made is removed again
    argv = [sys.executable, "-m", "toolkit", "build", "-i", str(src), "-o", str(shared / "out"), "-q"]
    done = subprocess.run([*argv, "--scheduler-file", str(rc.scheduler_file)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and f"worker {blind_addr} (host " in done.stderr and "Traceback" not in done.stderr
    assert "choose an output folder they all share (--output)" in done.stderr


def test_a_worker_with_its_own_folder_at_the_output_path_is_refused_too(blind, tmp_path):
    """A worker whose local disk has a folder at the output's path, with a lock file left by a killed
    build there, does not see the client's output either: its outputs would land on its own disk."""
    rc, client, shared, blind_addr = blind
    lock = shared / "own" / ".dataprep" / "lock"

    def plant() -> None:
        lock.parent.mkdir(parents=True)
        lock.write_text('{"pid": 1, "host": "elsewhere"}')

    client.run(plant, workers=[blind_addr])  # in that worker's mount namespace only
    assert not lock.exists()
    src = tmp_path / "in"
    synth.write_photo(src / "a.jpg", 64, 48, seed=1)
    with pytest.raises(ClusterError, match=f"worker {blind_addr} \\(host .*cannot see the output folder {shared / 'own'}"):
        toolkit.build(inputs=[str(src)], output=str(shared / "own"), client=client, progress=False)
    assert not (shared / "own").exists()
    client.run(shutil.rmtree, str(shared / "own"), workers=[blind_addr])  # its view of the folder empty again


def test_an_input_folder_that_is_an_empty_mount_point_on_a_worker_is_named(blind, tmp_path):
    """The input folder itself is where the worker's mount is missing: it exists there, empty (a mount
    point with nothing mounted). Its files are the worker's fault, not "moved or deleted since the scan"."""
    rc, client, shared, blind_addr = blind
    for i in range(12):
        synth.write_photo(shared / f"m{i:02d}.jpg", 120, 90, seed=i)
    toolkit.build(inputs=[str(shared)], output=str(tmp_path / "out"), client=client, batch_size=2, progress=False)
    rows = {k: r for k, r in rows_by_source(tmp_path / "out").items() if k.startswith("m")}
    failed = {k: r for k, r in rows.items() if r["status"] == "failed"}
    assert len(rows) == 12 and failed and len(failed) < 12, "both workers must have had files"
    for r in failed.values():
        assert r["error"]["type"] == "not-on-worker", r["error"]
        assert (
            f"worker {blind_addr} (host " in r["error"]["message"]
            and f"input folder {shared} is empty there" in r["error"]["message"]
        )


def test_files_a_worker_cannot_see_get_rows_naming_it_and_the_path(blind, tmp_path):
    rc, client, shared, blind_addr = blind
    src = shared / "in"
    for i in range(24):
        synth.write_photo(src / f"p{i:02d}.jpg", 200, 150, seed=i)
    t0 = time.monotonic()
    report = toolkit.build(inputs=[str(src)], output=str(tmp_path / "out"), client=client, batch_size=2, progress=False)
    assert time.monotonic() - t0 < 240
    rows = rows_by_source(tmp_path / "out", 24)
    unseen = {k: r for k, r in rows.items() if r["status"] == "failed"}
    assert unseen, "the blind worker got no file: nothing was tested"
    assert len(unseen) < 24, "the worker that sees the files built none"
    for name, r in unseen.items():
        msg = r["error"]["message"]
        assert r["error"]["type"] == "not-on-worker"
        assert f"worker {blind_addr} (host " in msg and str(src / name) in msg and f"input folder {src} does not exist" in msg
        assert "same path on every worker" in msg and not r["outputs"]
    assert all(r["status"] == "ok" and r["outputs"] for k, r in rows.items() if k not in unseen)
    assert report.counts == {"ok": 24 - len(unseen), "failed": len(unseen)}

    # the fix the rows name: that worker leaves (or is given the path); the same build does only those files
    client.retire_workers([blind_addr], close_workers=True)
    assert len(client.scheduler_info()["workers"]) == 1
    again = toolkit.build(inputs=[str(src)], output=str(tmp_path / "out"), client=client, batch_size=2, progress=False)
    assert again.counts == {"ok": 24}
    assert sum(r["status"] == "ok" for r in rows_by_source(tmp_path / "out", 24).values()) == 24
