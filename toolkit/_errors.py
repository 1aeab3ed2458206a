"""Exceptions for misuse and configuration only.

A bad *file* is never an exception: it becomes a ``failed`` row in the manifest.
Exceptions are for things the user must fix before any work starts::

    ToolkitError
     ├── ConfigError        a setting is unknown or has a bad value (names the key)
     ├── InputError         an input folder is missing, or input/output overlap
     └── ClusterError       the scheduler cannot be reached or started

All of them map to exit status 2 on the command line.

Messages name a setting by its key in backticks (`` raise `memory_limit` or use fewer `jobs` ``),
never by a CLI flag: a Python user reads the key they pass, and each front end words it its own
way (``dataprep`` shows ``--memory-limit`` through ``toolkit._settings.for_cli``).

:class:`OutputWriteError` is of another kind: writing an output or the build's bookkeeping failed
(disk full, read-only, no permission, the folder gone). It is the output's condition, never an
input's: the write helpers raise it so that no input classifier ever sees it, and a build whose
output takes no more stops like a stop, with ``output-write-failed`` as its reason (exit status 1).
"""

from __future__ import annotations

__all__ = ["ToolkitError", "ConfigError", "InputError", "ClusterError", "Stopped", "OutputWriteError"]


class ToolkitError(Exception):
    """Base class: something the user has to fix before a run can start."""


class ConfigError(ToolkitError, ValueError):
    """A setting is unknown or has a bad value. The message names the key."""


class InputError(ToolkitError):
    """An input or output path cannot be used as given."""


class ClusterError(ToolkitError):
    """The Dask scheduler could not be started or reached."""


class Stopped(Exception):
    """Raised inside the toolkit when a run is stopped while it scans or probes (not an error)."""


class OutputWriteError(OSError):
    """Writing an output, a temporary file, a journal, the manifest, the summary or the lock failed.

    An ``OSError`` (``errno``, ``strerror``, ``filename``: the path that could not be written) raised
    by the toolkit's write helpers (``toolkit._fs.writing``), so an error while *writing* is never
    taken for a damaged or unreadable *input*."""
