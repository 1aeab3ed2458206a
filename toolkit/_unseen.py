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

import os
import socket

from ._errors import ClusterError
from ._fs import path_text
from ._media import MediaItem, Problem

__all__ = ["on_this_worker", "worker_name", "check_output_seen"]


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
    ``not-on-worker`` problem naming the worker and the path. A file missing from a folder the
    worker does see stays ``not-found`` (it was moved or deleted since the scan), with the worker named."""
    if problem is None or problem.type != "not-found":
        return problem
    where = worker_name()
    if where is None:
        return problem
    if os.path.isdir(item.root):
        return Problem(problem.type, f"{problem.message} (looked for on worker {where})")
    return Problem(
        "not-on-worker",
        f"worker {where} cannot see {path_text(item.path)}: the input folder {path_text(item.root)} does not exist there, "
        "though the client listed the file in it; mount the inputs at the same path on every worker (or build from a "
        "folder they all share), then run again to do the files that failed",
    )


def _sees(path: str) -> tuple[bool, str]:
    return os.path.exists(path), socket.gethostname()


def check_output_seen(client, output: str) -> None:
    """Raise :class:`ClusterError` naming the workers of ``client`` that do not see ``output``: its
    ``.dataprep/lock``, which a build takes before it connects, is not there for them. Nothing is
    asked while the client does not see that file either (before the build made it)."""
    marker = os.path.join(os.path.abspath(output), ".dataprep", "lock")
    if not os.path.exists(marker):
        return
    try:
        answers = client.run(_sees, marker)
    except Exception:  # noqa: BLE001 - no answer (no worker yet): the batches will say
        return
    blind = [f"{addr} (host {host})" for addr, (seen, host) in sorted(answers.items()) if not seen]
    if blind:
        raise ClusterError(
            f"worker{'s' * (len(blind) > 1)} {', '.join(blind[:3])}{' and more' * (len(blind) > 3)} cannot see the output "
            f"folder {path_text(os.path.abspath(output))} (workers write the outputs there themselves); mount it at the same "
            "path on every worker, or choose an output folder they all share (`output`)"
        )
