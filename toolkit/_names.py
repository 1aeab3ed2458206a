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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ._fs import nearest_existing, tmp_path_for
from ._media import MediaItem
from ._ops import EXT, OPS

__all__ = ["NameLimits", "path_hash", "fit_stem", "assign_outputs", "utf8_name", "RESERVED"]

#: names at the top of an output folder that the exports and the dataset card own: an input's
#: top-level folder (or a top-level video's frame folder) of such a name gets the collision hash
RESERVED = frozenset({"webdataset", "imagefolder", "parquet", "card", "readme.md", "manifest.parquet"})

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


def assign_outputs(items: Sequence[MediaItem], *, multi_root: bool, output: str | os.PathLike | None = None) -> list[MediaItem]:
    """Give every item a collision-free output stem ``out_rel`` (deterministic for a given input set).

    The natural stem is the relative path without its extension (``trips/a/photo``). Items whose
    stems collide (``photo.jpg`` and ``photo.png``; ``A.JPG`` and ``a.jpg`` on a case-insensitive
    disk; an image and a video's frame folder) keep their extension (``photo.jpg``, ``photo.png``),
    and if that still collides, a short hash of the source path is added.
    With several inputs, each root's tree goes under a folder named after it.
    A name the output's file system could not hold (``output``: where it is measured) is
    shortened by :func:`toolkit._names.fit_stem`, with the same hash.
    """
    limits = NameLimits.for_output(output)
    prefixes = _root_prefixes(items) if multi_root else {}

    # a plain name (ASCII, every part and the whole path well within the limits, no reserved
    # folder, one input) is its own stem: fit_stem would give it back unchanged, at ~20 us a file
    plain_part = limits.name_max - NAME_RESERVE
    plain_path = limits.path_max - 1 - (len(os.fsencode(limits.output)) + 1 if limits.output else 0) - PATH_RESERVE

    def natural(it: MediaItem, level: int) -> str:
        rel = utf8_name(it.rel)
        base = rel if level >= 1 else (os.path.splitext(rel)[0] if os.path.splitext(rel.rsplit("/", 1)[-1])[0] else rel)
        if level < 2 and not prefixes and _plain(base, plain_part, plain_path):
            return base
        *dirs, last = base.split("/")
        originals = it.rel.split("/")  # each folder's hash is of its own original path, so a folder keeps one name
        folders = [(d, it.root + "/" + "/".join(originals[: k + 1])) for k, d in enumerate(dirs)]
        pre = prefixes.get(it.root)
        if pre:
            folders.insert(0, (pre, it.root))
        if folders and folders[0][0].casefold() in RESERVED:
            folders[0] = (folders[0][0] + path_hash(folders[0][1]), folders[0][1])
        elif not folders and it.kind == "video" and last.casefold() in RESERVED:
            last += path_hash(it.root + "/" + it.rel)
        return fit_stem(folders, last, it.root + "/" + it.rel, hashed=level >= 2, limits=limits)

    level = [0] * len(items)
    stems: list[str] = []
    made_at: list[int] = []
    for _ in range(3):
        stems = [natural(it, level[i]) for i, it in enumerate(items)]
        made_at = list(level)
        names = [stem.casefold() for stem in stems]
        owners: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            owners.setdefault(n, []).append(i)
        video_dirs = {names[i] + "/": i for i, it in enumerate(items) if it.kind == "video"}
        bumped = False
        for i, n in enumerate(names):
            clash = len(owners[n]) > 1
            if not clash and video_dirs:
                parts = n.split("/")
                clash = any("/".join(parts[:k]) + "/" in video_dirs for k in range(1, len(parts)))
                if clash:  # rename the video (its frame folder), not the image inside the folder
                    parts_i = [
                        video_dirs["/".join(parts[:k]) + "/"]
                        for k in range(1, len(parts))
                        if "/".join(parts[:k]) + "/" in video_dirs
                    ]
                    for j in parts_i:
                        if level[j] < 2:
                            level[j] += 1
                            bumped = True
                    continue
            if clash and level[i] < 2:
                level[i] += 1
                bumped = True
        if not bumped:
            break
    stems = [stem if level[i] == made_at[i] else natural(items[i], level[i]) for i, stem in enumerate(stems)]
    return [_with_stem(it, stem) for it, stem in zip(items, stems)]


def _plain(base: str, part_max: int, path_max: int) -> bool:
    """Whether ``base`` is its own stem (what :func:`fit_stem` gives back, unhashed): ASCII (a byte a
    character), the whole within ``path_max``, each part within ``part_max``, no reserved top folder."""
    if not base.isascii() or len(base) > path_max:
        return False
    parts = base.split("/")
    return max(map(len, parts)) <= part_max and parts[0].casefold() not in RESERVED


def _with_stem(it: MediaItem, stem: str) -> MediaItem:
    """``replace(it, out_rel=stem)``, at a third of its cost (a million items: ~2 s saved)."""
    return MediaItem(
        it.path, it.rel, it.root, it.kind, it.format, it.size, it.mtime_ns, stem, it.info, it.caption_path, it.meta_path
    )


def utf8_name(name: str) -> str:
    """``name`` with each byte that is not UTF-8 (a surrogate-escaped character) written as ``%XX``.

    Output names are always valid UTF-8, so the manifest can hold them and the tools that read a
    dataset can open them. Two inputs that end up with the same name this way (``a\\xff.jpg`` and
    a real ``a%FF.jpg``) are told apart like any other collision.
    """
    if name.isascii():
        return name
    return "".join(f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else c for c in name)


def _root_prefixes(items: Sequence[MediaItem]) -> dict[str, str]:
    """Each root's folder in the output: its name, plus a short hash of its absolute path when
    two roots share a name. Stable across runs: it depends on the root alone, not the other inputs."""
    base = {r: utf8_name(os.path.basename(r.rstrip("/"))) or "input" for r in sorted({it.root for it in items})}
    uses = Counter(name.casefold() for name in base.values())
    return {
        r: name if uses[name.casefold()] == 1 else f"{name}-{hashlib.sha1(os.fsencode(r)).hexdigest()[:6]}"
        for r, name in base.items()
    }
