"""Where the engine was: it is now stages, each a module (see docs/architecture.md). These names
stay importable from here until the modules that still use them (_cli, _widgets) import the new
ones; then this module goes."""

from __future__ import annotations

from ._planning import plan
from ._preflight import validate_paths
from ._run import Run, build, start

__all__ = ["Run", "start", "build", "plan", "validate_paths"]
