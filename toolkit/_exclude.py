"""Which folders and links a scan must not follow because they lead into an output folder.

An input may link into an output (a symbolic link to the output or to a folder or file in it), or
hold one (an earlier build's output kept beside the photos). Its files are outputs, not inputs: a
build would make thumbnails of its own thumbnails, and ``dataprep scan`` would count them. The
build and ``dataprep scan`` decide this here, the same way, so they agree:

* the folders given (the build's ``output``), and everything whose real path lies inside one;
* every output folder dataprep wrote, recognised by its marker (a ``.dataprep`` folder or
  dataprep's own ``manifest.jsonl``, the test the build uses before writing into a folder), so a
  scan that is not told the output (``dataprep scan photos/``) still knows one when it meets it.

A folder that is itself a scanned root, or holds one, is never left out: it was asked for.
"""

from __future__ import annotations

import os
from typing import Iterable

__all__ = ["OutputExclusion", "is_output_folder"]


def is_output_folder(folder: str | os.PathLike, names: Iterable[str] | None = None, *, empty_manifest: bool = False) -> bool:
    """Whether ``folder`` is an output folder dataprep wrote: it holds ``.dataprep/`` or dataprep's
    ``manifest.jsonl`` with a row of ours (another tool's, or an empty file, does not count: a
    user's photo folder must never vanish from the input for it; ``empty_manifest=True`` lets one
    count, for the build's "may I write into this folder?"). ``names``: its listing, if read."""
    from ._manifest import MANIFEST, is_our_manifest

    if names is not None:
        names = set(names)
        return ".dataprep" in names or (
            MANIFEST in names and is_our_manifest(os.path.join(folder, MANIFEST), empty=empty_manifest)
        )
    return os.path.isdir(os.path.join(folder, ".dataprep")) or (
        os.path.isfile(os.path.join(folder, MANIFEST)) and is_our_manifest(os.path.join(folder, MANIFEST), empty=empty_manifest)
    )


class OutputExclusion:
    """For one scanned root: :meth:`skips` says whether a folder or link met in it leads into an output."""

    def __init__(self, root: str, excluded: Iterable[str | os.PathLike] = ()):
        self.root = os.path.realpath(root)
        self.excluded = {os.path.realpath(os.fspath(e)) for e in excluded}
        self._marked: dict[str, bool] = {}  # real folder path -> holds an output's marker

    def skips(self, path: str, *, is_link: bool) -> bool:
        """``path``: a folder met in the walk, or a link (to a folder or a file).

        A folder reached without a link is checked itself (its parents were walked, so checked);
        a link's target is checked with every folder above it, up to the scanned root's own.
        """
        real = os.path.realpath(path)
        if any(real == e or real.startswith(e.rstrip(os.sep) + os.sep) for e in self.excluded):
            return True
        if not is_link:
            return self._holds_marker(real)
        p = real if os.path.isdir(real) else os.path.dirname(real)
        while not self._above_root(p):
            if self._holds_marker(p):
                return True
            parent = os.path.dirname(p)
            if parent == p:
                return False
            p = parent
        return False

    def _above_root(self, p: str) -> bool:
        """The scanned root itself or a folder holding it: asked for, so never left out."""
        return p == self.root or self.root.startswith(p.rstrip(os.sep) + os.sep)

    def _holds_marker(self, real: str) -> bool:
        if self._above_root(real):
            return False
        found = self._marked.get(real)
        if found is None:
            found = self._marked[real] = is_output_folder(real)
        return found
