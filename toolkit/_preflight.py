"""Preflight: misuse is reported before any work starts, and the output folder is ours.

Path checks (inputs exist, do not overlap each other or the output, by identity: links and bind
mounts included), the output is a folder dataprep wrote or an empty one, writable, and the lock
that keeps a second build (here or in another process) off the same output folder.
"""

from __future__ import annotations

import errno
import os

from ._config import BuildConfig
from ._errors import ConfigError, InputError
from ._fs import nearest_existing, path_text
from ._lock import OutputBusy, OutputLock, holder_text
from ._outfault import fix_for, is_dead
from ._store import is_url

__all__ = ["validate_paths", "require_paths", "lock_output"]


def lock_output(output: str) -> OutputLock:
    """The output folder's lock, held (made with the folder if need be), or a clear InputError."""
    lock = OutputLock(output)
    try:
        lock.acquire()
    except OutputBusy as busy:  # the holder named, or said to have just started: never left out
        raise InputError(
            f"output {path_text(output)} is in use by another build ({holder_text(busy.holder)}); wait for it to end, "
            "or choose another output folder (`output`)"
        ) from None
    except OSError as exc:
        fix = fix_for(exc, output) if is_dead(exc, output) else "check the path and its permissions (`output`)"
        raise InputError(f"output {path_text(output)} cannot be used: {exc.strerror or exc}; {fix}") from None
    return lock


def require_paths(cfg: BuildConfig) -> None:
    if not cfg.inputs:
        raise ConfigError("inputs: give at least one input folder (`inputs`)")
    if not cfg.output:
        raise ConfigError("output: give an output folder (`output`)")


def validate_paths(cfg: BuildConfig) -> None:
    """Misuse is reported before any work starts."""
    require_paths(cfg)

    def ident(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def chain(path: str) -> list[tuple[int, int]]:  # the folder and every folder above it, by identity
        ids, p = [], os.path.abspath(path)
        while True:
            i = ident(p)
            if i is not None:
                ids.append(i)
            parent = os.path.dirname(p)
            if parent == p:
                return ids
            p = parent

    out_id = ident(cfg.output)  # None while it does not exist yet
    seen: dict[tuple[int, int] | None, tuple[str, set[tuple[int, int]]]] = {}  # id -> (input, its chain)
    for inp in cfg.inputs:
        if is_url(inp):  # an object store: the scan lists it and says what is wrong (toolkit/_store)
            continue
        if not os.path.exists(inp):
            raise InputError(f"input {path_text(inp)} does not exist; check the path (`inputs`)")
        in_id, in_chain = ident(inp), set(chain(inp))
        if in_id == out_id:  # by identity: also through a link, a bind mount or another spelling of the name
            raise InputError(
                f"output {path_text(cfg.output)} is the same folder as input {path_text(inp)}; "
                "choose a separate output folder so inputs are never overwritten"
            )
        if out_id is not None and out_id in in_chain:
            raise InputError(
                f"input {path_text(inp)} lies inside the output folder {path_text(cfg.output)}; "
                "choose an output folder outside the inputs"
            )
        for other_id, (other, other_chain) in seen.items():
            if other_id in in_chain or in_id in other_chain:
                raise InputError(
                    f"inputs {path_text(other)} and {path_text(inp)} overlap (one is, or is inside, the other); "
                    "give each folder once"
                )
        seen[in_id] = (inp, in_chain)
    if os.path.exists(cfg.output) and not os.path.isdir(cfg.output):
        raise InputError(f"output {path_text(cfg.output)} exists and is not a folder")
    _check_output_is_ours(cfg.output)
    parent = nearest_existing(cfg.output)
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        raise InputError(
            f"output {path_text(cfg.output)} is on a read-only file system; "
            f"{fix_for(OSError(errno.EROFS, os.strerror(errno.EROFS), parent), cfg.output)}"
        )
    if not os.access(parent, os.W_OK):
        raise InputError(f"output {path_text(cfg.output)} is not writable; check its permissions")


_FOLDER_FURNITURE = frozenset({"lost+found", ".ipynb_checkpoints", ".Trashes", ".Spotlight-V100", ".fseventsd"})


def _check_output_is_ours(output: str) -> None:
    """An existing output folder must be empty or one dataprep wrote (it holds our manifest or our
    ``.dataprep`` folder): outputs are written over same-named files, so a folder of other files
    (the user's originals, another tool's dataset) is refused rather than overwritten."""
    from ._exclude import is_output_folder
    from ._sniff import is_junk

    try:
        names = os.listdir(output)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(
            f"output {path_text(output)} cannot be read: {exc.strerror or exc}; check the path and its permissions (`output`)"
        ) from None
    if is_output_folder(output, names, empty_manifest=True):  # a build killed as it began leaves an empty one
        return
    # what a disk or a desktop puts in any folder: not anybody's data, and never an output's name
    foreign = sorted(n for n in names if not (is_junk(n) or n in _FOLDER_FURNITURE or n.startswith(".Trash-")))
    if foreign:
        shown = ", ".join(path_text(n) for n in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise InputError(
            f"output {path_text(output)} already holds files that dataprep did not write ({shown}); "
            "outputs would overwrite same-named files there. Choose a new or empty folder (`output`), "
            "or move those files away"
        )
