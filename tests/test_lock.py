"""One writer per output folder: a second build is refused before any work, naming the folder and
who holds it; a killed holder never leaves the folder blocked; and a file whose run was stopped
removes only the outputs it made, never what a later build has put under the same names."""

import os
import socket
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from toolkit import InputError, start
from toolkit._fs import Placed, write_bytes_atomic
from toolkit._lock import OutputBusy, OutputLock
from toolkit._cli import main

HOLD = textwrap.dedent("""
    import sys, time
    from toolkit._lock import OutputLock
    assert OutputLock(sys.argv[1]).acquire()
    print("held", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock on tmp_path/out: (output folder, process)."""
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        yield out, p
    finally:
        p.kill()
        p.wait()


def photos(folder, n=3):
    folder.mkdir()
    for i in range(n):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(folder / f"p{i}.png")
    return folder


def test_second_build_on_a_busy_output_is_misuse_and_names_the_holder(tmp_path, holder, capsys):
    out, p = holder
    src = photos(tmp_path / "in")
    (out / "manifest.jsonl").write_text("")  # what the holder has written so far must stay as it is
    code = main(["build", "--input", str(src), "--output", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"output {out} is in use by another build" in err and f"process {p.pid}" in err and "--output" in err
    assert sorted(q.name for q in out.iterdir()) == [".dataprep", "manifest.jsonl"]  # nothing written or removed
    assert (out / "manifest.jsonl").read_text() == ""


def test_the_python_api_raises_at_start(tmp_path, holder):
    out, _ = holder
    with pytest.raises(InputError, match="in use by another build"):
        start(inputs=[str(photos(tmp_path / "in"))], output=str(out))


def test_a_killed_holder_leaves_the_folder_free(tmp_path, holder):
    out, p = holder
    with pytest.raises(OutputBusy):
        OutputLock(out).acquire()
    p.kill()
    p.wait()
    assert (out / ".dataprep" / "lock").exists()  # its file stays behind, but the kernel let go of its lock
    lock = OutputLock(out)
    assert lock.acquire()
    lock.release()
    assert not (out / ".dataprep" / "lock").exists()


def test_one_holder_at_a_time_within_a_process_too(tmp_path):
    first, second = OutputLock(tmp_path), OutputLock(tmp_path)
    assert first.acquire()
    with pytest.raises(OutputBusy) as busy:
        second.acquire()
    assert busy.value.holder["pid"] == os.getpid()
    first.release()
    assert second.acquire()
    second.release()


def test_a_lock_taken_on_a_file_its_holder_just_removed_is_taken_again(tmp_path, monkeypatch):
    """A build that opens the lock file just before the holder ends (which removes it) would lock a
    removed file while a third build locks a new one: it must notice and lock the current file."""
    import toolkit._fs as fs

    real_open, calls = os.open, []
    holder = OutputLock(tmp_path)
    assert holder.acquire()

    def open_then_holder_ends(path, flags, mode=0o777):
        fd = real_open(path, flags, mode)
        calls.append(path)
        if len(calls) == 1:
            holder.release()  # between our open and our flock
        return fd

    monkeypatch.setattr(fs.os, "open", open_then_holder_ends)
    lock = OutputLock(tmp_path)
    assert lock.acquire()
    assert len(calls) == 2 and calls[0] == lock.path  # the holder's file, then our new one
    assert os.stat(lock.path).st_ino == os.fstat(lock._fd).st_ino  # noqa: SLF001 - the file others will find
    lock.release()


def test_a_build_starting_as_another_ends_and_removes_the_lock_folder_takes_the_lock(tmp_path, monkeypatch):
    """A build that ends releases its lock, then removes .dataprep/. One starting at that moment
    (it found no lock file, and .dataprep/ went before its record was made) must look again, not
    refuse the output as unusable (exit 2)."""
    import shutil

    import toolkit._lock as lk

    ended = OutputLock(tmp_path)
    assert ended.acquire()
    ended.release()
    real_hex, calls = lk.secrets.token_hex, []

    def folder_goes_first(n):
        calls.append(n)
        if len(calls) == 1:
            shutil.rmtree(tmp_path / ".dataprep")  # the ending build's clean-up, just then
        return real_hex(n)

    monkeypatch.setattr(lk.secrets, "token_hex", folder_goes_first)
    lock = OutputLock(tmp_path)
    assert lock.acquire() and len(calls) == 2
    lock.release()


def test_placed_outputs_are_removed_only_while_they_are_still_ours(tmp_path):
    mine, theirs = tmp_path / "mine.jpg", tmp_path / "theirs.jpg"
    placed = Placed()
    for p in (mine, theirs):
        write_bytes_atomic(p, b"from the stopped run")
        placed.add(p)
    write_bytes_atomic(theirs, b"from a later build")  # a new file under the same name
    assert placed.remove() == 1
    assert not mine.exists() and theirs.read_bytes() == b"from a later build"


def test_a_file_stopped_between_its_outputs_leaves_a_later_builds_output_alone(tmp_path, monkeypatch):
    """Two image ops: the first output lands, then the run is stopped and a later build writes the
    same name; the stopped file fails as ``stopped`` and must not remove the later build's file."""
    from toolkit._media import MediaItem
    from toolkit._ops import OpSpec
    from toolkit._ops import image as iops
    from toolkit._worker import JobSpec, process_item

    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(src)
    out = tmp_path / "out"
    job = JobSpec(ops=(OpSpec.make("thumbnail", size=16), OpSpec.make("resize", size=32)), output=str(out), run_id="r1")
    os.makedirs(job.journal_dir)
    open(job.alive_file, "w").close()
    item = MediaItem(
        path=str(src),
        rel="a.png",
        root=str(src.parent),
        kind="image",
        format="png",
        size=src.stat().st_size,
        mtime_ns=src.stat().st_mtime_ns,
        out_rel="a.png",
    )
    real_render, calls = iops.render, []

    def render(im, spec, **kw):
        calls.append(spec.name)
        if len(calls) == 2:  # between the two outputs: the run ends and a later build writes the first
            os.unlink(job.alive_file)
            write_bytes_atomic(out / "a.png.thumbnail.jpg", b"the later build's thumbnail")
        return real_render(im, spec, **kw)

    monkeypatch.setattr(iops, "render", render)
    row = process_item(item, job).to_row()
    assert row["status"] == "failed" and row["error"]["type"] == "stopped" and row["outputs"] == []
    assert (out / "a.png.thumbnail.jpg").read_bytes() == b"the later build's thumbnail"
    assert not (out / "a.png.resize.jpg").exists()


def test_without_flock_builds_run_unlocked_and_leave_nothing_behind(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")  # as some network file systems answer

    monkeypatch.setattr(fcntl, "flock", no_locks)
    lock = OutputLock(tmp_path)
    assert lock.acquire() is False
    lock.release()
    assert not (tmp_path / ".dataprep" / "lock").exists()


PAUSE_AFTER_LOCK = textwrap.dedent("""
    # A build that has just taken the lock and is paused right there (before anything else it does):
    # the moment when two builds start at the same instant.
    import fcntl, json, sys
    real = fcntl.flock
    def flock(fd, op):
        real(fd, op)
        if op & fcntl.LOCK_EX and not flock.paused:
            flock.paused = True
            print("locked", flush=True)
            sys.stdin.readline()
    flock.paused = False
    fcntl.flock = flock
    from toolkit._lock import OutputBusy, OutputLock
    lock = OutputLock(sys.argv[1])
    try:
        print("held" if lock.acquire() else "unlocked", flush=True)
    except OutputBusy as busy:
        print("refused " + json.dumps(busy.holder), flush=True)
    sys.stdin.readline()
""")


def paused_build(out):
    p = subprocess.Popen(
        [sys.executable, "-c", PAUSE_AFTER_LOCK, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "locked"
    return p


@pytest.mark.parametrize("earlier", ["none", "killed"])
def test_two_builds_starting_together_the_refused_one_names_the_holder_or_says_it_just_started(tmp_path, earlier):
    """The other build has taken the lock and not yet gone on: the refused build's message names
    it (pid, host, start time) or says it has just started; never a holder left out, nor the record
    of a killed build whose stale lock file the other one is taking over."""
    import json

    from toolkit._preflight import lock_output as _lock_output

    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    if earlier == "killed":  # its file, with its record, is still there
        (out / ".dataprep").mkdir(parents=True)
        (out / ".dataprep" / "lock").write_text(
            json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "2020-01-01 00:00:00"})
        )
    other = paused_build(out)
    try:
        try:
            ours = _lock_output(str(out))
        except InputError as exc:
            message = str(exc)
            assert "in use by another build" in message and str(dead.pid) not in message
            assert f"process {other.pid} on {socket.gethostname()}, started " in message or "just started" in message
            other.stdin.write("\n")
            other.stdin.flush()
            assert other.stdout.readline().strip() == "held"
        else:  # we were first after all: the other one is refused and names us
            other.stdin.write("\n")
            other.stdin.flush()
            refused = other.stdout.readline().strip()
            assert refused.startswith("refused ") and json.loads(refused[8:])["pid"] == os.getpid()
            ours.release()
    finally:
        other.kill()
        other.wait()
