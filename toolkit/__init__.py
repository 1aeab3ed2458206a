"""dataprep-toolkit: turn folders of images and videos into ML datasets, in parallel on Dask,
within memory limits.

>>> import toolkit
>>> # report = toolkit.build(inputs=["photos"], output="thumbs", op="thumbnail", size=128)
"""

from ._config import BuildConfig, load_config_file
from ._curation import curate
from ._dryrun import plan
from ._planning import Plan
from ._run import Run, build, start
from ._runreport import RunReport
from ._errors import ClusterError, ConfigError, InputError, ToolkitError
from ._events import Event
from ._card import show as show_card
from ._load import load
from ._manifest import read_rows
from ._media import Batch, ItemResult, MediaInfo, MediaItem
from ._ops import OpSpec
from ._ops.custom import op
from ._recipes import recipes
from ._report import DatasetReport, report
from ._scan import ScanResult, scan

__version__ = "0.1.0"

# the public errors are named as users import them (``toolkit.ConfigError`` in a traceback), not by
# the private module that defines them; pickling finds them there too
for _error in (ToolkitError, ConfigError, InputError, ClusterError):
    _error.__module__ = __name__
del _error


def connect(target=None, **kwargs):
    """A ``distributed.Client``: a new LocalCluster (None), a scheduler address or file, a Cluster or Client."""
    from ._cluster import connect as _connect

    return _connect(target, **kwargs)


def __getattr__(name: str):
    if name == "Panel":  # ipywidgets is an optional extra: import it only when asked for
        from ._widgets import Panel

        return Panel
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")


__all__ = [
    "BuildConfig",
    "load_config_file",
    "Run",
    "build",
    "curate",
    "load",
    "show_card",
    "recipes",
    "plan",
    "start",
    "scan",
    "report",
    "connect",
    "Panel",
    "ToolkitError",
    "ConfigError",
    "InputError",
    "ClusterError",
    "Event",
    "read_rows",
    "Batch",
    "ItemResult",
    "MediaInfo",
    "MediaItem",
    "RunReport",
    "OpSpec",
    "op",
    "Plan",
    "ScanResult",
    "DatasetReport",
]
