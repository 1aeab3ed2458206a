"""``toolkit.report(output)``: what an output folder holds, read from its manifest and summary.

It backs ``dataprep report``, and renders in a notebook, so a folder reads the same from the
terminal and from Python (the panel shows the report of the build it just ran, a ``RunReport``):
counts by status, error types, the warning types of files kept ``ok``, every failure
(source, type, message), and whether the build finished: stopped (and why, from ``summary.json``),
or still running (another process holds the folder's lock).

>>> # r = toolkit.report("thumbs"); print(r); r.to_csv("thumbs.csv"); r.exit_code
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, NamedTuple

from ._errors import InputError
from ._fs import path_text, printable
from ._lock import holder_text, lock_holder
from ._manifest import MANIFEST, SUMMARY, export_csv, read_rows
from ._runreport import Counts, tally_rows, warnings_line
from ._store import is_url
from ._store._stage import fetch_report_files

__all__ = ["DatasetReport", "Failure", "report"]

_HTML_FAILURES = 20  # a notebook shows the first ones; to_csv or .failures has them all


class Failure(NamedTuple):
    """A failed file: its source path, the error type (``decode-error``...) and the message."""

    source: str
    type: str
    message: str


@dataclass(frozen=True)
class DatasetReport:
    """What an output folder holds. ``str()`` is the text ``dataprep report`` prints."""

    output: str
    manifest: str
    counts: dict[str, int]  # by status: ok, failed, skipped
    errors: dict[str, int]  # failed files by error type
    warnings: dict[str, int]  # files kept ok with a warning, by warning type
    failures: tuple[Failure, ...] = ()
    #: the build did not finish: stopped (Ctrl-C, ``Run.stop()``, an output fault) or still running
    stopped: bool = False
    #: why the build stopped by itself (``{type, message, ...}``; ``output-write-failed``), from summary.json
    stop_reason: dict[str, Any] | None = None
    #: the build still writing this folder (``{pid, host, started}``; ``{}``: one just starting), or None
    holder: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        for name in ("counts", "errors", "warnings"):
            object.__setattr__(self, name, Counts(getattr(self, name)))

    @property
    def files(self) -> int:
        return sum(self.counts.values())

    @property
    def running(self) -> bool:
        """A build still writes this folder: the counts are those so far."""
        return self.holder is not None

    @property
    def exit_code(self) -> int:
        """``dataprep report``'s status: 1 if a file failed or the build did not finish, else 0."""
        return 1 if self.counts["failed"] or self.stopped else 0

    def summary_text(self) -> str:
        """Counts by status, then one line per error type, then the warnings: what goes to stdout."""
        lines = [f"{self.files} files: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))]
        lines += [f"  {k:<20} {v}" for k, v in sorted(self.errors.items())]
        if self.warnings:
            lines.append(warnings_line(self.warnings))
        return "\n".join(lines)

    def state_text(self) -> str | None:
        """Whether the build finished, if it did not (still running, stopped and why); else None."""
        if self.holder is not None:
            return f"a build is still writing this folder ({holder_text(self.holder)}): these are the counts so far"
        if self.stop_reason:
            why = self.stop_reason
            return printable(f"the build stopped [{why.get('type')}]: {why.get('message')}")
        if self.stopped:
            return "the build did not finish (stopped or interrupted): run it again to complete it"
        return None

    def failure_lines(self, words: Callable[[str], str] | None = None) -> list[str]:
        """One line per failed file, ``source<TAB>type<TAB>message``; a name's newline, tab or bidi
        control is shown escaped (as in the manifest), so one file is always one line. ``words``
        rewords the messages only (the CLI shows the settings they name as flags), never a name."""
        reword = words or (lambda text: text)
        return ["\t".join(printable(v) for v in (f.source, f.type, reword(f.message))) for f in self.failures]

    def to_csv(self, path: str | os.PathLike) -> Path:
        """The manifest flattened to CSV at ``path`` (written atomically); returns the path.
        An ``OSError`` if it cannot be written there."""
        return export_csv(self.manifest, path)

    def __str__(self) -> str:
        state = self.state_text()
        return self.summary_text() + (f"\n{state}" if state else "")

    def _repr_html_(self) -> str:
        e = html.escape
        rows = [(k, v) for k, v in sorted(self.counts.items())] + [
            (f"&nbsp;&nbsp;{e(k)}", v) for k, v in sorted(self.errors.items())
        ]
        rows += [(f"ok with a warning: {e(k)}", v) for k, v in sorted(self.warnings.items())]
        body = "".join(f"<tr><td style='text-align:left'>{k}</td><td>{v}</td></tr>" for k, v in rows)
        parts = [f"<b>{e(path_text(self.output))}</b>: {self.files} files", f"<table>{body}</table>"]
        state = self.state_text()
        if state:
            parts.append(f"<p><i>{e(state)}</i></p>")
        if self.failures:
            shown = self.failures[:_HTML_FAILURES]
            cells = "".join(
                "<tr>" + "".join(f"<td style='text-align:left'>{e(printable(str(v)))}</td>" for v in f) + "</tr>" for f in shown
            )
            more = f"<p>and {len(self.failures) - len(shown)} more (<code>.failures</code>, <code>.to_csv()</code>)</p>"
            parts.append(
                "<table><tr><th>source</th><th>type</th><th>message</th></tr>"
                + cells
                + "</table>"
                + (more if len(self.failures) > len(shown) else "")
            )
        if (Path(self.output) / "README.md").is_file():  # the dataset card's pictures, as the panel shows them
            from ._card import card_html

            parts.append(
                f"<details class='dataprep-card-pictures'><summary><b>Dataset card</b></summary>{card_html(self.output)}</details>"
            )
        return "<div class='dataprep-report'>" + "".join(parts) + "</div>"


def report(output: str | os.PathLike) -> DatasetReport:
    """Read the build output folder ``output``: its manifest, summary and lock.

    Raises :class:`InputError` naming the folder if it does not exist or holds no manifest.
    A URL (``s3://bucket/out``): its published manifest and summary, copied down (``manifest`` names the copy).
    """
    if is_url(output):  # an object store (toolkit/_store)
        return replace(report(fetch_report_files(str(output))), output=str(output))
    folder = Path(output)
    mpath = folder / MANIFEST
    if not folder.is_dir():
        raise InputError(f"{path_text(folder)} does not exist or is not a folder (`output`)")
    if not mpath.exists():
        raise InputError(
            f"{path_text(mpath)} does not exist: {path_text(folder)} is not a build's output folder yet; "
            "build with it as `output` first"
        )
    counted = tally_rows(read_rows(mpath))
    try:
        summary = json.loads((folder / SUMMARY).read_text())
        stopped, why = bool(summary.get("stopped")), summary.get("stop_reason")
    except (OSError, ValueError, AttributeError):  # no summary: the build never reached its end
        stopped, why = True, None
    return DatasetReport(
        output=os.fspath(output),
        manifest=os.fspath(mpath),
        counts=counted.counts,
        errors=counted.errors,
        warnings=counted.warned,
        failures=tuple(Failure(*f) for f in counted.failures),
        stopped=stopped,
        stop_reason=why or None,
        holder=lock_holder(output) if stopped else None,
    )
