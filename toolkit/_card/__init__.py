"""The dataset card: ``OUT/README.md`` in the Hugging Face dataset-card form, with plots and
picture grids in ``OUT/card/`` (see docs/card.md).

:func:`write_card` writes it from a build's rows and summary (no cluster); :class:`CardSink` is
the export sink that draws it on a worker during a build; :func:`show` shows the pictures in a
notebook.
"""

from ._facts import CardFacts, card_facts
from ._show import card_html, card_pictures, show
from ._sink import CardCollector, CardSink
from ._write import CARD_DIR, README, exports_on_disk, write_card

__all__ = [
    "CardFacts",
    "card_facts",
    "write_card",
    "exports_on_disk",
    "CardSink",
    "CardCollector",
    "show",
    "card_html",
    "card_pictures",
    "README",
    "CARD_DIR",
]
