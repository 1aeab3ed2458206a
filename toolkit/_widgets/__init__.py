"""The notebook control panel: ``toolkit.Panel(inputs=[...], output=...)``.

A private package: ``_panel`` (the Panel: its controls and views), ``_runner`` (its builds: start,
watch the events, stop), ``_controls`` (the setting widgets, how messages name a setting),
``_curation_controls`` (the curation settings' widgets), ``_views`` (drawing the progress state,
the report and the dashboard), ``_curation_view`` (counts, split x label table, duplicates),
``_recurate`` (re-curating a finished build when a curation control changes), ``_preview``
(before/after thumbnails) and ``_code`` (the "copy as code" tab).

>>> # panel = toolkit.Panel(inputs=["photos"], output="thumbs", op="thumbnail", size=128); panel
"""

from __future__ import annotations

from ._code import build_code
from ._panel import Panel

__all__ = ["Panel", "build_code"]
