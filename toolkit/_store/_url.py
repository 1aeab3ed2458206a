"""URLs against paths, the file system behind a URL, an object's stamp, and store errors in words.

A URL is ``scheme://...`` with a scheme of two letters or more (so ``C:/photos`` stays a path) other
than ``file``. The file system behind it is fsspec's (``s3fs`` for ``s3://``, ``gcsfs``, ``adlfs``...),
configured the way each library documents: for S3 the standard environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL``...). Credentials are never put in a
message: errors are worded from their type and the store's error code, not from the request.
"""

from __future__ import annotations

import os
import re
from typing import Any

import xxhash

__all__ = ["StoreError", "filesystem", "is_url", "join", "scheme", "stamp", "explain"]

_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")

#: what a user does when the store refuses: the standard places each library reads credentials from
_CREDENTIALS = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS or log in with gcloud",
    "gcs": "set GOOGLE_APPLICATION_CREDENTIALS or log in with gcloud",
    "az": "set AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME and a key)",
    "abfs": "set AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME and a key)",
}


class StoreError(Exception):
    """An object store refused or failed: ``code`` is a manifest error type (``not-found``,
    ``permission-denied``, ``store-error``), ``message`` names the URL and the fix."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def is_url(path: Any) -> bool:
    """Whether ``path`` names an object store (any fsspec protocol but ``file``) rather than a local path."""
    if not isinstance(path, str):
        return False
    m = _URL.match(path)
    return m is not None and m.group(1).lower() not in ("file", "local")


def scheme(url: str) -> str:
    m = _URL.match(url)
    return m.group(1).lower() if m else ""


def join(url: str, rel: str) -> str:
    """``url`` and a '/'-separated relative name: one URL."""
    return url.rstrip("/") + "/" + rel.lstrip("/") if rel else url


#: the environment that configures the stores' libraries: an instance made before it changed is not reused
_ENV_PREFIXES = ("AWS_", "FSSPEC_", "GOOGLE_", "GCE_", "AZURE_")
_MADE: dict[tuple[str, int], Any] = {}  # (scheme, the environment above) -> file system


def filesystem(url: str, *, fresh: bool = False) -> tuple[Any, str]:
    """The fsspec file system serving ``url`` and the path it knows the object by. One instance per
    scheme and process, made again when the environment that configures it changes (credentials
    set in a notebook after a first try); ``fresh``: a new one in any case, with no listing cached."""
    import fsspec.core

    key = (scheme(url), hash(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)))))
    fs = None if fresh else _MADE.get(key)
    try:
        if fs is not None:
            return fs, fs._strip_protocol(url)
        fs, path = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    except ImportError as exc:
        raise StoreError(
            "store-error", f"reading {url.split('://')[0]}:// URLs needs a library fsspec names: {exc}; install it and retry"
        ) from None
    except ValueError as exc:
        raise StoreError("store-error", f"{url} is not a URL fsspec knows ({exc}); check the URL") from None
    _MADE[key] = fs
    return fs, path


def stamp(info: dict[str, Any]) -> int:
    """An object's version as one integer, kept where a file keeps its mtime (``mtime_ns``): a hash
    of its ETag (it changes with every write of the object), else its last-modified time, else 0."""
    tag = info.get("ETag") or info.get("etag") or info.get("md5_hash") or info.get("generation")
    if tag:
        return xxhash.xxh64_intdigest(str(tag).strip('"').encode()) >> 1  # fits a signed 64-bit field
    when = info.get("LastModified") or info.get("last_modified") or info.get("mtime") or info.get("updated")
    if when is not None and hasattr(when, "timestamp"):
        return int(when.timestamp() * 1e9)
    if isinstance(when, (int, float)):
        return int(when * 1e9)
    return 0


def explain(exc: BaseException, url: str, doing: str = "read") -> StoreError:
    """Any error from fsspec or the store's library as a :class:`StoreError` naming ``url`` and the fix."""
    if isinstance(exc, StoreError):
        return exc
    name = type(exc).__name__
    fix = _CREDENTIALS.get(scheme(url), "check the credentials that library reads")
    if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "DefaultCredentialsError"):
        return StoreError("permission-denied", f"cannot {doing} {url}: no credentials were found; {fix}")
    if isinstance(exc, PermissionError) or name in ("ClientAuthenticationError",):
        return StoreError("permission-denied", f"cannot {doing} {url}: access denied; {fix}, and check the bucket's policy")
    if isinstance(exc, FileNotFoundError):
        return StoreError("not-found", f"cannot {doing} {url}: it does not exist; check the bucket and the prefix")
    reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0][:200] if str(exc) else name
    return StoreError("store-error", f"cannot {doing} {url}: {name}: {reason}; check the URL and the network, then run again")
