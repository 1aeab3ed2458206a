"""Output names that fit the file system: each component within NAME_MAX, the whole path within PATH_MAX.

An output name is its input's relative path plus what the ops add (``.thumbnail.webp``,
``.contact.jpg``, a frame folder's ``000001.jpg``) and, while it is being written, a temporary
name around it (``.<name>.<token>.dataprep-tmp``). An input name near the 255-byte limit would
make names the disk refuses. Such a component is shortened here, deterministically: a readable
prefix cut on a character boundary plus ``~`` and a short hash of the original path, the same
hash the collision rule adds (``~<sha1(root/rel)[:8]>``). The same inputs and output give the
same names on every run, so resuming and removing stale outputs work for shortened names too.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ._fs import nearest_existing, tmp_path_for
from ._ops import EXT, OPS

__all__ = ["NameLimits", "path_hash", "fit_stem"]

#: what a temporary name adds around a final name (``.`` + name + ``.<token>.dataprep-tmp``)
TMP_EXTRA = len(tmp_path_for(Path("x")).name) - len("x")
#: the longest suffix an op adds to a stem's last component: ``.<op name>.<ext>`` when several
#: image ops run (the longest op name covers ``.poster.``, ``.contact.`` and ``.mp4`` too)
SUFFIX_MAX = max(len(f".{op}.{ext}") for op in OPS for ext in (*EXT.values(), "mp4"))
#: room kept in a stem's last component: a suffix, then the temporary name around it
NAME_RESERVE = SUFFIX_MAX + TMP_EXTRA
#: room kept after a whole stem: the above, or a file inside a video's folder (``/clip-0000.mp4``,
#: ``/000001.webp``, their temporaries ``/.000001.webp.<token>.dataprep-tmp``), with digits to spare
PATH_RESERVE = max(NAME_RESERVE, 1 + len("clip-000000000.webp") + TMP_EXTRA)
HASH_LEN = 1 + 8  # "~" + 8 hex digits
MIN_READABLE = 16  # bytes of the original name kept, at least, when a path must be flattened


def path_hash(path: str) -> str:
    """``~`` + 8 hex digits of the SHA-1 of ``path`` (a root, or root + '/' + rel): the collision rule's hash."""
    return "~" + hashlib.sha1(os.fsencode(path)).hexdigest()[:8]


@dataclass(frozen=True)
class NameLimits:
    """The output file system's limits, in bytes: a name (``NAME_MAX``), a whole path (``PATH_MAX``,
    counting the final NUL), and the absolute output folder every output path starts with."""

    name_max: int = 255
    path_max: int = 4096
    output: str = ""

    @classmethod
    def for_output(cls, output: str | os.PathLike | None) -> NameLimits:
        """Measured with ``os.pathconf`` on the output folder (or its nearest existing parent)."""
        if not output:
            return cls()
        out = os.path.abspath(os.fspath(output))
        probe = nearest_existing(out)
        return cls(_pathconf(probe, "PC_NAME_MAX", 255), _pathconf(probe, "PC_PATH_MAX", 4096), out)


def _pathconf(path: str, name: str, default: int) -> int:
    try:
        value = os.pathconf(path, name)
    except (OSError, ValueError, AttributeError):  # not measurable here (Windows, some file systems)
        return default
    return value if value and value > 0 else default


def _cut(text: str, limit: int) -> str:
    """The longest prefix of ``text`` of at most ``limit`` UTF-8 bytes, never half a character."""
    raw = os.fsencode(text)
    return raw[: max(limit, 0)].decode("utf-8", errors="ignore") if len(raw) > limit else text


def _short(name: str, limit: int, source: str) -> str:
    """``name`` if it fits in ``limit`` bytes, else its prefix + the hash of ``source``."""
    if len(os.fsencode(name)) <= limit:
        return name
    return _cut(name, limit - HASH_LEN) + path_hash(source)


def fit_stem(folders: list[tuple[str, str]], last: str, source: str, *, hashed: bool, limits: NameLimits) -> str:
    """The output stem for ``folders`` (each: its output name, the path its hash is taken of) and
    the last component ``last`` (hashed with ``source``, root + '/' + rel; ``hashed``: the collision
    rule asked for the hash) that fits ``limits`` with room for every suffix and temporary name.

    A component too long is shortened. If the whole path is still too long, the deepest folders
    are left out and the file goes into the deepest folder that fits, under a shortened name; its
    hash covers the full original path, so it cannot meet another file's name.
    """
    dirs = [_short(name, limits.name_max, src) for name, src in folders]
    room_last = limits.name_max - NAME_RESERVE
    tail = last + path_hash(source) if hashed else last
    if len(os.fsencode(tail)) > room_last:
        tail = _cut(last, room_last - HASH_LEN) + path_hash(source)
    base = len(os.fsencode(limits.output)) + 1 if limits.output else 0
    budget = limits.path_max - 1 - base - PATH_RESERVE  # bytes the stem may take
    if len(os.fsencode("/".join([*dirs, tail]))) <= budget:
        return "/".join([*dirs, tail])

    def room() -> int:  # bytes the file's name may take under the folders kept
        return min(room_last, budget - len(os.fsencode("/".join(dirs))) - (1 if dirs else 0))

    while dirs:  # flatten: the deepest folders go, the file keeps a readable name and the full path's hash
        dirs.pop()
        if room() >= MIN_READABLE + HASH_LEN:
            break
    tail = _cut(last, room() - HASH_LEN) + path_hash(source)
    return "/".join([*dirs, tail])
