"""A file the client listed that a worker cannot find: said as what it is, naming the worker and the path.

On a cluster of several machines every worker must see the inputs at the path the client scanned
(a shared mount at the same place). A worker that does not see the input folder at all gets
``FileNotFoundError`` for each of its files; without this, its rows would say "moved or deleted
since the scan", blaming the files. :func:`on_this_worker` turns that ``not-found`` into a
``not-on-worker`` row naming the worker's address and host, the path, and the fix.

The output folder is another matter: workers write the outputs and the build's journal there, and
a worker that does not see it would stop the build with a fault blamed on the output disk.
:func:`check_output_seen` asks every worker before the first batch, and names those that do not.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket

from ._errors import ClusterError
from ._fs import TMP_SUFFIX, path_text
from ._media import MediaItem, Problem
from ._store import is_url

__all__ = ["on_this_worker", "worker_name", "check_output_seen", "settle", "settle_rows", "NOT_ON_WORKER"]

NOT_ON_WORKER = "not-on-worker"


def worker_name() -> str | None:
    """``tcp://10.0.0.5:40123 (host node-3)`` inside a Dask worker's task; None elsewhere (the client)."""
    try:
        from distributed import get_worker

        address = get_worker().address
    except (ImportError, ValueError):  # not in a worker's task
        return None
    return f"{address} (host {socket.gethostname()})"


def on_this_worker(problem: Problem | None, item: MediaItem) -> Problem | None:
    """``problem``, or for a ``not-found`` on a worker that cannot see ``item``'s input folder a
    ``not-on-worker`` problem naming the worker and the path: the folder is not there, or is empty
    there (a mount point with nothing mounted on it). A file missing from a folder the worker does
    see stays ``not-found`` (it was moved or deleted since the scan), with the worker named. The
    client has the last word (:func:`settle_rows`): a file it no longer sees either is ``not-found``."""
    if problem is None or problem.type != "not-found":
        return problem
    where = worker_name()
    if where is None or is_url(item.root):  # an object gone from a store is gone for everyone: not-found
        return problem
    root = item.root
    if os.path.isdir(root) and not _empty(root):
        return Problem(problem.type, f"{problem.message} (looked for on worker {where})")
    state = "is empty" if os.path.isdir(root) else "does not exist"
    return Problem(
        NOT_ON_WORKER,
        f"worker {where} cannot see {path_text(item.path)}: the input folder {path_text(root)} {state} there, "
        "though the client listed the file in it; mount the inputs at the same path on every worker (or build from a "
        "folder they all share), then run again to do the files that failed",
    )


def _empty(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:  # cannot be listed: not known to be empty (a permission problem is the file's to say)
        return False


def settle(problem: Problem | None, path: str | bytes) -> Problem | None:
    """In the client, as rows come back from the workers: a ``not-on-worker`` problem for a file the
    client does not see either is ``not-found`` (moved or deleted since the scan, its folder with it),
    not a worker's fault; on a LocalCluster, say, the workers see what the client sees."""
    if problem is None or problem.type != NOT_ON_WORKER or os.path.lexists(path):
        return problem
    where = problem.message.split(" cannot see ", 1)[0].removeprefix("worker ")
    return Problem(
        "not-found",
        f"{path_text(os.fsdecode(path))} does not exist (moved or deleted since the scan?; seen neither by worker {where} nor here)",
    )


def settle_rows(rows: list[dict]) -> None:
    """:func:`settle` for the rows of finished batches, changed in place."""
    for row in rows:
        error = row.get("error")
        if not error or error.get("type") != NOT_ON_WORKER:
            continue
        rel = base64.b64decode(row["source_b64"]) if row.get("source_b64") else os.fsencode(row.get("source") or "")
        path = os.path.join(os.fsencode(row.get("input_root") or ""), rel)  # the exact bytes of the name
        found = settle(Problem(error["type"], error["message"]), path)
        if found is not None and found.type != NOT_ON_WORKER:
            row["error"] = {**error, "type": found.type, "message": found.message}


def _sees(path: str) -> tuple[bool, str]:
    return os.path.exists(path), socket.gethostname()


def check_output_seen(client, output: str) -> None:
    """Raise :class:`ClusterError` naming the workers of ``client`` that do not see ``output``: a file
    of a name made for this check, put in its ``.dataprep`` folder (which the build made before it
    connects) and removed again, is not there for them. Not the lock file: a worker's own folder at
    the same path may hold a stale one, and where the file system has no locks there is none. Nothing
    is asked while that folder is not here (an object store's output) or cannot be written."""
    folder = os.path.join(os.path.abspath(output), ".dataprep")
    marker = os.path.join(folder, f".seen.{secrets.token_hex(8)}{TMP_SUFFIX}")  # a killed build's is cleaned up
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError:  # not here, or not writable: the build's own writes say so
        return
    try:
        answers = client.run(_sees, marker)
    except Exception:  # noqa: BLE001 - no answer (no worker yet): the batches will say
        return
    finally:
        with contextlib.suppress(OSError):
            os.unlink(marker)
    blind = [f"{addr} (host {host})" for addr, (seen, host) in sorted(answers.items()) if not seen]
    if blind:
        raise ClusterError(
            f"worker{'s' * (len(blind) > 1)} {', '.join(blind[:3])}{' and more' * (len(blind) > 3)} cannot see the output "
            f"folder {path_text(os.path.abspath(output))} (workers write the outputs there themselves); mount it at the same "
            "path on every worker, or choose an output folder they all share (`output`)"
        )
