"""An output on an object store: the build writes a local staging folder, then publishes it.

Object stores have no rename and no append, so the build's own writing (outputs renamed into
place, the manifest appended as batches finish, journals, the lock) happens in a local folder kept
for the URL (``DATAPREP_STORE_CACHE``, else ``~/.cache/dataprep/stores``), and :meth:`Staged.publish`
then puts each new or changed file as one object (a put is atomic: a reader sees the old object or
the new one, never a part). Order keeps every reader consistent: the data objects first (outputs,
shards, card pictures), then the indexes inside the exports that name them (a split's
``*.index.json``, ``metadata.jsonl``, ``README.md``), then the top-level ones (card,
``manifest.parquet``, summary, ``manifest.jsonl`` last), then the objects nothing names any more are
deleted. A publish cut short is finished by the next run (what was published is recorded only once
it all landed).

The staging folder is the resume state: the same command on the same machine lists the input,
compares, publishes only what changed. On a machine without it, whose copy is older than the
bucket's (the published manifest's ETag is not the one it last put), or whose copy lost files since
it last published (a folder of it deleted by hand), the output is first copied down: decided once
the build holds the URL's locks, so no other build publishes in between.
One build at a time per URL: the local lock on the staging folder (:mod:`toolkit._lock`) on one
machine, a lock object made by a conditional put (:mod:`._hold`) across machines on S3.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._errors import InputError, OutputWriteError
from .._fs import atomic_write
from . import _hold
from ._url import explain, filesystem, join, stamp

__all__ = ["Staged", "stage_output", "fetch_report_files", "CACHE_ENV"]

CACHE_ENV = "DATAPREP_STORE_CACHE"
#: the bookkeeping that stays local (the lock, journals, the record of what was published)
LOCAL = ".dataprep"
RECORD = "published.json"
#: put after every other object, in this order: each names objects already there
INDEXES = ("README.md", "curation.json", "curation-splits.tsv", "manifest.parquet", "summary.json", "manifest.jsonl")
#: inside the exports, the files that name others (a split's shard index, imagefolder's metadata and card)
NESTED_INDEXES = ("README.md", "metadata.jsonl")


def _nested_index(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return "/" in rel and (name in NESTED_INDEXES or name.endswith(".index.json"))


def _cache_root() -> Path:
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dataprep" / "stores"


def stage_output(url: str, inputs: tuple[str, ...]) -> Staged:
    """The local folder a build into ``url`` writes. Raises :class:`InputError` before any work when
    the store cannot be written (no bucket, no credentials) or the output lies inside an input."""
    url = url.rstrip("/")
    for inp in (i.rstrip("/") for i in inputs):
        if url == inp or url.startswith(inp + "/") or inp.startswith(url + "/"):
            raise InputError(f"output {url} and input {inp} overlap; choose an output outside the inputs (`output`)")
    try:
        fs, path = filesystem(url, fresh=True)
        bucket = path.split("/", 1)[0]
        if not fs.exists(bucket):
            raise FileNotFoundError(bucket)
        staged = Staged(url, _cache_root() / hashlib.sha256(url.encode()).hexdigest()[:20], fs, path)
        staged.manifest_tag()  # readable (credentials, the bucket's policy) before any work
    except Exception as exc:  # noqa: BLE001 - any store error: said in words, with the fix
        raise InputError(f"{explain(exc, url, 'write to').message} (`output`)") from None
    return staged


def fetch_report_files(url: str) -> Path:
    """The published ``manifest.jsonl`` and ``summary.json`` of ``url``, copied into a local folder
    (:func:`toolkit.report` reads them there) -> that folder. Raises :class:`InputError`."""
    url = url.rstrip("/")
    folder = _cache_root() / "reports" / hashlib.sha256(url.encode()).hexdigest()[:20]
    try:
        fs, path = filesystem(url, fresh=True)
        names = [n for n in ("manifest.jsonl", "summary.json") if fs.exists(f"{path}/{n}")]
        folder.mkdir(parents=True, exist_ok=True)
        for n in ("manifest.jsonl", "summary.json"):
            (folder / n).unlink(missing_ok=True)
        for n in names:
            with atomic_write(folder / n) as fh:
                fh.write(fs.cat_file(f"{path}/{n}"))
    except OutputWriteError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{explain(exc, url, 'read').message} (`output`)") from None
    if "manifest.jsonl" not in names:
        raise InputError(f"{url} holds no manifest.jsonl: it is not a build's output yet; build with it as `output` first")
    return folder


class Staged:
    """``url`` and its local staging ``folder``; :meth:`publish` puts what changed."""

    def __init__(self, url: str, folder: Path, fs: Any, path: str):
        self.url, self.folder, self._fs, self._path = url, folder, fs, path
        self._lock: str | None = None

    def hold(self) -> None:
        """Take the output URL's lock object (S3; elsewhere one writer is the rule), then bring the
        staging folder up to the bucket's state (:meth:`sync`). Raises InputError."""
        self._lock = _hold.hold(self._fs, self._path, self.url)
        try:
            self.sync()
        except BaseException:
            self.let_go()
            raise

    def sync(self) -> None:
        """Called with the locks held (no build publishes meanwhile): the bucket's state wins over a
        staging folder another machine has overtaken (or that never published), or that lost files
        it had published (deleted by hand: publishing it would delete their objects); a bucket
        emptied by hand gets everything put again."""
        try:
            published = self.manifest_tag()
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{explain(exc, self.url, 'read').message} (`output`)") from None
        record = self.record()
        if published is not None and (record.get("manifest") != published or self._lost(record.get("files") or {})):
            self.pull()
        elif published is None and record.get("manifest") is not None:
            (self.folder / LOCAL / RECORD).unlink(missing_ok=True)

    def _lost(self, files: dict[str, list[int]]) -> bool:
        """Whether a file the last publish put is gone from the folder while no build has run since
        (its ``manifest.jsonl`` is the one published: a build that removes outputs rewrites it)."""
        try:
            st = os.stat(self.folder / "manifest.jsonl")
        except OSError:
            return True
        if files.get("manifest.jsonl") != [st.st_size, st.st_mtime_ns]:
            return False  # a build ran since (its publish was cut short): what it removed is its doing
        there: set[str] = set()
        for dirpath, dirs, names in os.walk(self.folder):
            rel = os.path.relpath(dirpath, self.folder).replace(os.sep, "/")
            if rel == ".":
                dirs[:] = [d for d in dirs if d != LOCAL]
            there.update(names if rel == "." else (f"{rel}/{n}" for n in names))
        return not there.issuperset(files)

    def let_go(self) -> None:
        _hold.let_go(self._fs, self._lock)
        self._lock = None

    def manifest_tag(self) -> int | None:
        """The stamp (ETag) of the published ``manifest.jsonl``, or None when there is none."""
        self._fs.invalidate_cache(self._path)
        try:
            return stamp(self._fs.info(f"{self._path}/manifest.jsonl"))
        except FileNotFoundError:
            return None

    def pull(self) -> None:
        """Copy the published output down into an emptied folder (a resume on a machine that never
        built it, or whose copy another machine's build has overtaken)."""
        try:
            self._empty()
            self._fs.get(self._path + "/", str(self.folder) + "/", recursive=True)
            (self.folder / _hold.LOCK).unlink(missing_ok=True)  # a killed build's lock object: not ours to keep
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{explain(exc, self.url, 'read').message} (`output`)") from None
        self._write_record(self._scan(), self.manifest_tag())  # what is there now is what is published

    def _empty(self) -> None:
        """Everything in the folder goes but the local lock this build holds."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for entry in _entries(str(self.folder)):
            if entry.name == LOCAL and entry.is_dir(follow_symlinks=False):
                for inner in _entries(entry.path):
                    if inner.name != "lock":
                        _remove(inner)
            else:
                _remove(entry)

    def _scan(self) -> dict[str, list[int]]:
        """Every file of the staging folder but the local bookkeeping -> [size, mtime_ns]."""
        found: dict[str, list[int]] = {}
        for dirpath, dirs, files in os.walk(self.folder):
            top = dirpath == str(self.folder)
            if top:
                dirs[:] = [d for d in dirs if d != LOCAL]
            for name in files:
                if name.endswith(".dataprep-tmp") or (top and name == _hold.LOCK):
                    continue
                full = os.path.join(dirpath, name)
                st = os.stat(full)
                found[os.path.relpath(full, self.folder).replace(os.sep, "/")] = [st.st_size, st.st_mtime_ns]
        return found

    def record(self) -> dict[str, Any]:
        """What was last published from here: ``files`` (name -> [size, mtime_ns]), ``manifest`` (its
        stamp), ``deleting`` (objects a publish cut short after its indexes had still to delete)."""
        try:
            found = json.loads((self.folder / LOCAL / RECORD).read_text())
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _write_record(self, files: dict[str, list[int]], manifest: int | None, deleting: list[str] | None = None) -> None:
        record = {"files": files, "manifest": manifest, **({"deleting": deleting} if deleting else {})}
        with atomic_write(self.folder / LOCAL / RECORD, durable=True) as fh:
            fh.write(json.dumps(record, sort_keys=True).encode())

    def publish(self, report: Any, verify: bool = False) -> Any:
        """Put the new and changed files, then the indexes, then delete what is gone -> ``report``
        naming the URL; a store that refuses a put stops it with the ``output-write-failed`` reason.
        ``verify``: the bucket is listed, and a file published before whose object is gone is put again."""
        now, record = self._scan(), self.record()
        before = record.get("files", {})
        gone = sorted((set(before) | set(record.get("deleting", ()))) - set(now))  # with a cut-short publish's
        try:
            if verify and before:
                self._fs.invalidate_cache(self._path)
                held = {n[len(self._path) + 1 :] for n in self._fs.find(self._path)}
                before = {rel: st for rel, st in before.items() if rel in held}
            changed = [rel for rel, stamp in now.items() if before.get(rel) != stamp]
            data = sorted(rel for rel in changed if rel not in INDEXES and not _nested_index(rel))
            nested = sorted(rel for rel in changed if _nested_index(rel))
            indexes = [rel for rel in INDEXES if rel in changed]
            for batch in (data, nested):  # one call each (concurrent requests): the second once the first landed
                if batch:
                    self._put(batch)
            for rel in indexes:
                self._put([rel])
            tag = self.manifest_tag()
            if gone:  # the indexes landed: recorded, with what is left to delete (a run cut short here finishes it)
                self._write_record(now, tag, gone)
                self._delete([f"{self._path}/{rel}" for rel in gone])
        except Exception as exc:  # noqa: BLE001 - the output's side: never blamed on an input
            err = exc if isinstance(exc, OutputWriteError) else self._fault(exc)
            reason = {"type": "output-write-failed", "message": str(err.strerror), "path": self.url, "errno": err.errno}
            return replace(report, output=self.url, manifest=join(self.url, "manifest.jsonl"), stopped=True, stop_reason=reason)
        self._write_record(now, tag)
        return replace(report, output=self.url, manifest=join(self.url, "manifest.jsonl"))

    def _put(self, rels: list[str]) -> None:
        self._fs.put([str(self.folder / rel) for rel in rels], [f"{self._path}/{rel}" for rel in rels])

    def _delete(self, paths: list[str]) -> None:
        """Delete these objects, by name: fsspec's ``rm`` takes a name with ``*``, ``?`` or ``[`` as a
        pattern (``photo [1].jpg`` would delete ``photo 1.jpg``), so those go one at a time."""
        plain = [p for p in paths if not glob.has_magic(p)]
        if plain:
            self._fs.rm(plain)
        for path in paths:
            if glob.has_magic(path):
                self._fs.rm_file(path)

    def _fault(self, exc: BaseException) -> OutputWriteError:
        problem = explain(exc, self.url, "write to")
        code = errno.EACCES if problem.code == "permission-denied" else errno.EIO
        message = f"{problem.message}; what was built is kept locally in {self.folder}: run the same command again to publish it"
        return OutputWriteError(code, message, self.url)


def _entries(folder: str) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return list(it)


def _remove(entry: os.DirEntry) -> None:
    if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
