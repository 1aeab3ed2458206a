"""One build at a time per output URL on S3: a lock object made by a conditional put.

``PUT`` with ``If-None-Match: *`` succeeds only where no object has the name, so of two builds
(any machines) one gets the lock object, the other is told who holds it. The object holds the
holder's record (process, host, start), as the local lock's file does (:mod:`toolkit._lock`): a
record of this host naming a process that is gone is taken over (a killed build's). Other stores'
libraries offer no conditional put through fsspec: there, one writer per URL is the rule (docs).
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from .._errors import InputError
from .._lock import holder_gone, holder_text
from ._url import explain, join, scheme

__all__ = ["hold", "let_go", "LOCK"]

LOCK = ".dataprep-lock"


def hold(fs: Any, path: str, url: str) -> str | None:
    """Take the lock object under ``path`` (-> its path, for :func:`let_go`), or None where the store
    has no conditional put. Raises :class:`InputError` naming the holder when another build has it."""
    if scheme(url) not in ("s3", "s3a"):
        return None
    lock = f"{path}/{LOCK}"
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    body = json.dumps(record).encode()
    for _ in range(2):
        try:
            fs.pipe_file(lock, body, mode="create")
            return lock
        except FileExistsError:
            holder = _holder(fs, lock)
            if not holder_gone(holder):
                raise InputError(
                    f"output {url} is being written by another build ({holder_text(holder)}); wait for it to finish, "
                    f"or, if it is no longer running, delete {join(url, LOCK)} and retry (`output`)"
                ) from None
            fs.rm_file(lock)  # a killed build of this host: take over
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{explain(exc, url, 'write to').message} (`output`)") from None
    raise InputError(f"output {url}: its lock object keeps changing; another build is starting there (`output`)")


def _holder(fs: Any, lock: str) -> dict:
    try:
        holder = json.loads(fs.cat_file(lock))
    except Exception:  # noqa: BLE001 - torn or gone: a build that has just started
        return {}
    return holder if isinstance(holder, dict) else {}


def let_go(fs: Any, lock: str | None) -> None:
    if lock is None:
        return
    try:
        fs.rm_file(lock)
    except Exception:  # noqa: BLE001 - a lock object left behind names a gone process: the next build takes it over
        pass
