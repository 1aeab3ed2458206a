"""Walk input folders into a sorted list of MediaItems, by content sniffing; no decoding.

Every file met gets exactly one outcome: a :class:`MediaItem` to process, or a row saying why
not (``skipped`` for junk and non-media on purpose, ``failed`` for special files, loops,
unreadable or empty media). Special files (FIFOs, devices, sockets) are never opened.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from ._fs import TMP_SUFFIX, path_text, printable
from ._errors import InputError, Stopped
from ._media import ItemResult, MediaItem, left_out_lines, problem_row
from ._units import format_bytes

__all__ = ["scan", "ScanResult", "sniff", "assign_outputs"]

JUNK_FILES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", ".localized", "icon\r"}
JUNK_DIRS = {
    "__macosx",
    "@eadir",
    ".git",
    ".svn",
    ".hg",
    "$recycle.bin",
    ".trash",
    ".trashes",
    ".spotlight-v100",
    ".fseventsd",
    ".ipynb_checkpoints",
    "__pycache__",
}
IMAGE_EXT = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".dib": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pbm": "PPM",
    ".ico": "ICO",
    ".icns": "ICNS",
    ".mpo": "MPO",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".hif": "HEIF",
    ".avif": "AVIF",
    ".eps": "EPS",
    ".ps": "EPS",
    ".psd": "PSD",
    ".jp2": "JPEG2000",
    ".tga": "TGA",
}
VIDEO_EXT = {
    ".mp4": "MP4",
    ".m4v": "MP4",
    ".mov": "MOV",
    ".mkv": "MKV",
    ".webm": "WEBM",
    ".avi": "AVI",
    ".mpg": "MPEG",
    ".mpeg": "MPEG",
    ".ts": "MPEG-TS",
    ".mts": "MPEG-TS",
    ".m2ts": "MPEG-TS",
    ".flv": "FLV",
    ".wmv": "ASF",
    ".3gp": "MP4",
    ".ogv": "OGG",
}


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, format) from a file's first bytes, or None if not recognised.

    >>> sniff(b"\\xff\\xd8\\xff\\xe0" + bytes(12))
    ('image', 'JPEG')
    """
    h = head
    if h.startswith(b"\xff\xd8\xff"):
        return "image", "JPEG"
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "PNG"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "GIF"
    if h.startswith(b"RIFF") and h[8:12] == b"WEBP":
        return "image", "WEBP"
    if h.startswith(b"RIFF") and h[8:12] in (b"AVI ", b"AVIX"):
        return "video", "AVI"
    if h.startswith(b"BM") and len(h) >= 14:
        return "image", "BMP"
    if h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image", "TIFF"
    if len(h) >= 3 and h[0:1] == b"P" and h[1:2] in b"123456" and h[2:3] in b" \t\r\n#":
        return "image", "PPM"
    if h.startswith(b"%!PS") or h.startswith(b"\xc5\xd0\xd3\xc6"):
        return "image", "EPS"
    if h.startswith(b"8BPS"):
        return "image", "PSD"
    if h.startswith(b"\x00\x00\x01\x00") and len(h) > 6 and h[4:6] != b"\x00\x00":
        return "image", "ICO"
    if h.startswith(b"icns"):
        return "image", "ICNS"
    if h[4:8] == b"ftyp":
        brand = h[8:12]
        if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"):
            return "image", "HEIF"
        if brand in (b"avif", b"avis"):
            return "image", "AVIF"
        return "video", "MOV" if brand == b"qt  " else "MP4"
    if h[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "video", "MOV"
    if h.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "WEBM" if b"webm" in h[:64] else "MKV"
    if h.startswith(b"FLV"):
        return "video", "FLV"
    if h.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video", "ASF"
    if h.startswith(b"\x00\x00\x01\xba") or h.startswith(b"\x00\x00\x01\xb3"):
        return "video", "MPEG"
    if h.startswith(b"\x00\x00\x00\x0cjP  ") or h.startswith(b"\xff\x4f\xff\x51"):
        return "image", "JPEG2000"
    return None


def _tga(head: bytes) -> bool:
    """Whether an 18-byte TGA header is consistent (TGA has no signature: its name says it, this checks it)."""
    if len(head) < 18:
        return False
    cmap, kind, entry_bits, depth, descriptor = head[1], head[2], head[7], head[16], head[17]
    width, height = int.from_bytes(head[12:14], "little"), int.from_bytes(head[14:16], "little")
    mapped = cmap == 1 and kind in (1, 9) and entry_bits in (15, 16, 24, 32)  # colour-mapped, plain or RLE
    direct = cmap == 0 and kind in (2, 3, 10, 11)  # true-colour or grey, plain or RLE
    return (mapped or direct) and width > 0 and height > 0 and depth in (1, 8, 15, 16, 24, 32) and not descriptor & 0xC0


#: formats without a signature, recognised by their extension plus a header check
_BY_NAME = {".tga": ("TGA", _tga)}


@dataclass
class ScanResult:
    """Items to process plus a row for every file left out, with the reason."""

    roots: tuple[str, ...]
    items: list[MediaItem] = field(default_factory=list)
    rows: list[ItemResult] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def total_bytes(self) -> int:
        return sum(i.size for i in self.items)

    def counts(self) -> dict[str, Counter]:
        by_kind = Counter(i.kind for i in self.items)
        by_format = Counter(f"{i.kind}/{i.format or '?'}" for i in self.items)
        problems = Counter(
            f"{r.status}:{r.error.type if r.error else (r.warnings[0].type if r.warnings else '')}" for r in self.rows
        )
        return {"kind": by_kind, "format": by_format, "left_out": problems}

    def summary(self) -> dict:
        """Counts as plain data (``dataprep scan --json``): files, bytes, by kind, by format, left out."""
        c = self.counts()
        return {
            "files": len(self),
            "bytes": self.total_bytes,
            "by_kind": c["kind"],
            "by_format": c["format"],
            "left_out": [r.to_row() for r in self.rows],
        }

    def __str__(self) -> str:
        c = self.counts()
        lines = [f"{len(self.items)} media files, {format_bytes(self.total_bytes)}, in {printable(', '.join(self.roots))}"]
        for k, n in sorted(c["format"].items()):
            lines.append(f"  {k:<16} {n:>7}")
        return "\n".join(lines + left_out_lines(self.rows))

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(str(self)) + "</pre>"


def _row(root: str, rel: str, status: str, code: str, message: str, size: int = 0) -> ItemResult:
    return problem_row(root, rel, status, code, message, size=size)  # type: ignore[arg-type]


def is_junk(name: str) -> bool:
    """System junk (.DS_Store, ._*, Thumbs.db, editor backups, our temporary files)."""
    low = name.lower()
    return low in JUNK_FILES or name.startswith("._") or name.endswith(TMP_SUFFIX) or low.endswith("~")


def _classify_file(abspath: str, st: os.stat_result) -> tuple[str, str | None] | tuple[None, tuple[str, str, str]]:
    """Open without following links or blocking, check it is regular, sniff. -> (kind, fmt) or (None, (status, code, msg))."""
    ext = os.path.splitext(abspath)[1].lower()
    by_ext = ("image", IMAGE_EXT[ext]) if ext in IMAGE_EXT else ("video", VIDEO_EXT[ext]) if ext in VIDEO_EXT else None
    shown = path_text(abspath)
    if st.st_size == 0:
        if by_ext:
            return None, ("failed", "empty-file", f"{shown} is empty (0 bytes); re-copy it from its source")
        return None, ("skipped", "not-media", f"{shown} is an empty file, not media")
    try:
        fd = os.open(abspath, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except PermissionError:
        return None, ("failed", "permission-denied", f"cannot read {shown}: permission denied; check its permissions")
    except FileNotFoundError:
        return None, ("failed", "not-found", f"{shown} vanished during the scan")
    except OSError as exc:
        return None, ("failed", "corrupt", f"cannot open {shown}: {exc.strerror}")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a special file since the stat
            return None, ("failed", "not-regular-file", f"{shown} is not a regular file; it was not opened")
        head = os.read(fd, 64)
    except OSError as exc:
        return None, ("failed", "corrupt", f"cannot read {shown}: {exc.strerror}")
    finally:
        os.close(fd)
    found = sniff(head)
    if found:
        return found
    if ext in _BY_NAME and _BY_NAME[ext][1](head):
        return "image", _BY_NAME[ext][0]
    if by_ext:  # claims to be media but the bytes say otherwise: fail it, never silently skip
        return by_ext[0], None
    return None, ("skipped", "not-media", f"{shown} is not an image or video (content not recognised)")


def scan(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    exclude: Iterable[str | os.PathLike] = (),
    follow_symlinks: bool = True,
    cancel: Callable[[], bool] | None = None,
) -> ScanResult:
    """Walk folders (or single files) into a deterministic, sorted :class:`ScanResult`.

    ``exclude``: folders never entered (the build passes its output folder), nor anything inside them,
    also through a link; output folders dataprep wrote are left out without being named
    (:class:`toolkit._exclude.OutputExclusion`, shared with the build).
    ``cancel``: asked before each folder; when it returns true the scan raises :class:`Stopped`.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    roots: list[str] = []
    for p in paths:
        ap = os.path.abspath(os.fspath(p))
        if not os.path.exists(ap):
            raise InputError(f"input {path_text(p)} does not exist; check the path")
        roots.append(ap)
    excluded = [os.fspath(e) for e in exclude]
    result = ScanResult(roots=tuple(path_text(r) for r in roots))
    for root in roots:
        if os.path.isfile(root):
            parent, name = os.path.split(root)
            _scan_one(result, parent, name, os.stat(root))
            continue
        _walk(result, root, excluded, follow_symlinks, cancel)
    return result


def _walk(result: ScanResult, root: str, excluded: list[str], follow: bool, cancel: Callable[[], bool] | None) -> None:
    from ._exclude import OutputExclusion

    outputs = OutputExclusion(root, excluded)
    root_st = os.stat(root)
    # depth-first with an explicit stack; ancestors tracked to detect loops
    stack: list[tuple[str, tuple[tuple[int, int], ...]]] = [("", ((root_st.st_dev, root_st.st_ino),))]
    seen_dirs = {(root_st.st_dev, root_st.st_ino)}
    while stack:
        rel_dir, ancestors = stack.pop()
        if cancel is not None and cancel():
            raise Stopped(f"stopped while scanning {path_text(root)}")
        abs_dir = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with os.scandir(abs_dir) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except PermissionError:
            result.rows.append(
                _row(
                    root,
                    rel_dir or ".",
                    "failed",
                    "permission-denied",
                    f"cannot list folder {path_text(abs_dir)}: permission denied; its files were not scanned",
                )
            )
            continue
        except OSError as exc:
            result.rows.append(
                _row(root, rel_dir or ".", "failed", "not-found", f"cannot list folder {path_text(abs_dir)}: {exc.strerror}")
            )
            continue
        subdirs = []
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                is_link = e.is_symlink()
                st = os.stat(e.path) if (is_link and follow) else e.stat(follow_symlinks=False)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    result.rows.append(
                        _row(root, rel, "failed", "symlink-loop", f"{path_text(e.path)} is a symbolic link loop; not followed")
                    )
                elif exc.errno == errno.ENOENT:
                    result.rows.append(
                        _row(
                            root,
                            rel,
                            "failed",
                            "not-found",
                            f"{path_text(e.path)} is a broken symbolic link (its target is missing)",
                        )
                    )
                else:
                    result.rows.append(
                        _row(root, rel, "failed", "permission-denied", f"cannot stat {path_text(e.path)}: {exc.strerror}")
                    )
                continue
            if stat.S_ISDIR(st.st_mode):
                if e.name.lower() in JUNK_DIRS or e.name.startswith("."):
                    continue
                if outputs.skips(e.path, is_link=is_link):  # an output folder, or a link into one
                    continue
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    result.rows.append(
                        _row(
                            root,
                            rel,
                            "failed",
                            "symlink-loop",
                            f"{path_text(e.path)} links back to a folder above it; not followed",
                        )
                    )
                    continue
                if key in seen_dirs:
                    result.rows.append(
                        _row(
                            root,
                            rel,
                            "skipped",
                            "duplicate",
                            f"{path_text(e.path)} is a folder already scanned through another path",
                        )
                    )
                    continue
                seen_dirs.add(key)
                subdirs.append((rel, ancestors + (key,)))
            elif is_link and follow and outputs.skips(e.path, is_link=True):  # a file in an output folder
                continue
            elif is_link and not follow:
                result.rows.append(
                    _row(root, rel, "skipped", "symlink", f"{path_text(e.path)} is a symbolic link; links are not followed")
                )
            else:
                _scan_one(result, root, rel, st)
        stack.extend(reversed(subdirs))
    # files before sub-folders, each level sorted: already deterministic; sort rows/items for stable output
    result.items.sort(key=lambda i: (i.root, os.fsencode(i.rel)))


def _scan_one(result: ScanResult, root: str, rel: str, st: os.stat_result) -> None:
    name = rel.rsplit("/", 1)[-1]
    abspath = os.path.join(root, rel)
    if not stat.S_ISREG(st.st_mode):
        result.rows.append(
            _row(
                root,
                rel,
                "failed",
                "not-regular-file",
                f"{path_text(abspath)} is a special file (FIFO, socket or device); it was not opened",
            )
        )
        return
    if is_junk(name):
        result.rows.append(
            _row(
                root, rel, "skipped", "junk", f"{path_text(abspath)} is system junk (e.g. .DS_Store, ._*, Thumbs.db)", st.st_size
            )
        )
        return
    kind, fmt = _classify_file(abspath, st)
    if kind is None:
        status, code, msg = fmt  # type: ignore[misc]
        result.rows.append(_row(root, rel, status, code, msg, st.st_size))
        return
    result.items.append(
        MediaItem(
            path=abspath,
            rel=rel,
            root=root,
            kind=kind,
            format=fmt,  # type: ignore[arg-type]
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
        )
    )


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
    from dataclasses import replace

    from ._names import NameLimits, fit_stem

    limits = NameLimits.for_output(output)
    prefixes = _root_prefixes(items) if multi_root else {}

    def natural(it: MediaItem, level: int) -> str:
        rel = utf8_name(it.rel)
        base = rel if level >= 1 else (os.path.splitext(rel)[0] if os.path.splitext(rel.rsplit("/", 1)[-1])[0] else rel)
        *dirs, last = base.split("/")
        originals = it.rel.split("/")  # each folder's hash is of its own original path, so a folder keeps one name
        folders = [(d, it.root + "/" + "/".join(originals[: k + 1])) for k, d in enumerate(dirs)]
        pre = prefixes.get(it.root)
        if pre:
            folders.insert(0, (pre, it.root))
        return fit_stem(folders, last, it.root + "/" + it.rel, hashed=level >= 2, limits=limits)

    level = [0] * len(items)
    for _ in range(3):
        names = [natural(it, level[i]).casefold() for i, it in enumerate(items)]
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
    return [replace(it, out_rel=natural(it, level[i])) for i, it in enumerate(items)]


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
