"""Exceptions for misuse and configuration only.

A bad *file* is never an exception: it becomes a ``failed`` row in the manifest.
Exceptions are for things the user must fix before any work starts::

    ToolkitError
     ├── ConfigError        a setting is unknown or has a bad value (names the key)
     ├── InputError         an input folder is missing, or input/output overlap
     └── ClusterError       the scheduler cannot be reached or started

All of them map to exit status 2 on the command line.
"""

from __future__ import annotations

__all__ = ["ToolkitError", "ConfigError", "InputError", "ClusterError", "Stopped"]


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
