"""The card as an export sink: drawn on a worker while the other sinks write their shards.

``CardSink.export`` hands the drawing to the cluster (``ctx.client.submit``) and returns at once
when a :meth:`CardSink.collector` sink is placed after the other sinks; the collector waits for it
(the pictures are usually done by then). Alone, the sink waits for its own task. The card needs
the same output folder on the worker as the batches do (they write the outputs there too).
"""

from __future__ import annotations

import contextlib

import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .._errors import OutputWriteError
from ._write import CARD_DIR, PICTURES, draw_picture, write_card, write_readme

if TYPE_CHECKING:
    from .._stages import StageContext

__all__ = ["CardSink", "CardCollector", "slim"]

Row = dict[str, Any]
#: the fields the card reads: a row is sent to the worker with these alone (the pictures' digests read
#: ``source_b64``, ``content_hash`` and ``settings`` too: without them a card drawn on the cluster and one
#: drawn by ``toolkit.curate`` would pick other samples and never agree on a grid's digest)
FIELDS = (
    "source source_b64 input_root status curated_from label label_index caption split duplicate_of width height "
    "sharpness phash content_hash settings outputs output_bytes bytes_in bytes_out probe_filtered"
).split()


def slim(row: Row) -> Row:
    out = {k: row[k] for k in FIELDS if k in row}
    out["warnings"] = (row.get("warnings") or [])[:1]
    err = row.get("error")
    if err:
        out["error"] = {"type": (err or {}).get("type")}
    return out


#: the pictures by the time they take to draw, longest first (measured: benchmarks/card_cost.py)
COST = ("sizes", "sharpness", "labels", "samples", "duplicates")


class CardSink:
    """Writes ``OUT/README.md`` and ``OUT/card/*.png`` (:func:`toolkit._card.write_card`) at the
    end of a build. ``source``, ``license``: the card's source and licence (None: the settings
    ``card_source``, ``card_license`` when the config has them, else ``unknown``); ``exports``:
    the exports the card names (None: the config's ``exports``, else those on disk);
    ``curation``: gives summary.json's ``curation`` section once curation has run (the build's
    ``BuildCurator.report``), so the card shows the build's leakage figures and split conflicts;
    without it they are counted again from the rows (split conflicts then unknown)."""

    name = "card"

    def __init__(
        self,
        source: str | None = None,
        license: str | None = None,
        *,
        exports: Sequence[str] | None = None,
        pictures: bool = True,
        curation: Callable[[], dict[str, Any] | None] | None = None,
    ):
        self.source, self.license, self.exports, self.pictures = source, license, exports, pictures
        self.curation = curation
        self._deferred = False
        self._future: Any = None
        self._local: tuple[Any, ...] | None = None
        self._ctx: StageContext | None = None
        self._waited = 0.0

    def collector(self) -> "CardCollector":
        """A sink to place after the others: it collects the card this one started."""
        self._deferred = True
        return CardCollector(self)

    def export(self, rows: Sequence[Row], ctx: StageContext) -> dict[str, Any] | None:
        t0 = time.perf_counter()
        cfg = ctx.config
        exports = self.exports if self.exports is not None else getattr(cfg, "exports", None)
        kwargs = {
            "exports": list(exports) if exports is not None else None,
            "source": self.source if self.source is not None else getattr(cfg, "card_source", None),
            "license": self.license if self.license is not None else getattr(cfg, "card_license", None),
        }
        summary: dict[str, Any] = {"settings": cfg.to_dict()}
        report = self.curation() if self.curation is not None else None
        if report:  # the build's own figures: its leakage check and split conflicts, not counted again
            summary["curation"] = report
        # sent to the workers with the fields the card reads alone; drawn here (no cluster), as they are
        out, slimmed = str(ctx.output), [slim(r) for r in rows] if ctx.client is not None else list(rows)
        self._local, self._ctx = (out, slimmed, summary, kwargs), ctx
        if ctx.client is not None:
            try:
                self._future = self._submit(ctx.client, out, slimmed, summary, kwargs)
            except Exception:  # noqa: BLE001 - the cluster is gone: collect() draws it here
                self._future = None
        self._waited = time.perf_counter() - t0
        return None if self._deferred else self.collect()

    def _submit(self, client: Any, out: str, rows: list[Row], summary: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        """The README and each picture a task, side by side on the workers -> their futures."""
        run = uuid.uuid4().hex[:8]
        # sent once, not once a picture; as one object: a list given to scatter would be one future a row (a
        # task with 100,000 dependencies: minutes of scheduler work at scale)
        [shared] = client.scatter([rows], hash=False)
        listed: list[str] | None = None if self.pictures else []
        readme = client.submit(
            write_readme, out, shared, summary, listed, **kwargs, key=f"dataprep-card-readme-{run}", pure=False
        )
        names = list(PICTURES) if self.pictures else []
        slow = {n: COST.index(n) if n in COST else len(COST) for n in names}  # the slowest first: the last ends soonest
        drawn = [
            client.submit(draw_picture, out, n, shared, summary, key=f"dataprep-card-{n}-{run}", pure=False, priority=-slow[n])
            for n in names
        ]
        return readme, drawn

    def abandon(self) -> None:
        """The build ends without the card (a later sink stopped or failed): its tasks are cancelled,
        so none writes README.md or a picture after the run has reported (the next build draws it)."""
        fut, ctx = self._future, self._ctx
        self._local = self._future = None
        if fut is not None and ctx is not None and ctx.client is not None:
            readme, drawn = fut
            with contextlib.suppress(Exception):
                ctx.client.cancel([readme, *drawn])

    def collect(self) -> dict[str, Any] | None:
        """The card's figures, once written (here, if the worker could not do it). An output fault
        is raised as ``OutputWriteError``; anything else is a warning: the build's rows stand."""
        if self._local is None:
            return None
        t0 = time.perf_counter()
        (out, rows, summary, kwargs), ctx, fut = self._local, self._ctx, self._future
        self._local = self._future = None
        try:
            figures = None
            if fut is not None:
                try:
                    readme, drawn = fut
                    done = [d.result() for d in drawn]  # a picture's fault first: the README names them all
                    figures = readme.result()
                    if figures["pictures"] != [f"{CARD_DIR}/{n}.png" for n in done if n]:  # cannot be, but then say it true
                        figures = None
                except OutputWriteError:
                    raise
                except Exception:  # noqa: BLE001 - a worker was lost: draw it here instead
                    figures = None
            if figures is None:
                figures = write_card(out, rows, summary, **kwargs, pictures=self.pictures)
            return {**figures, "waited_seconds": round(self._waited + time.perf_counter() - t0, 3)}
        except OutputWriteError:
            raise
        except OSError as exc:
            raise OutputWriteError(exc.errno or 0, exc.strerror or str(exc), exc.filename or out) from exc
        except Exception as exc:  # noqa: BLE001 - a card that cannot be drawn never fails the build
            if ctx is not None:
                ctx.emit("warning", message=f"the dataset card was not written: {type(exc).__name__}: {exc}")
            return {"error": f"{type(exc).__name__}: {exc}"}


class CardCollector:
    """The second half of a deferred :class:`CardSink`: waits for the card, gives its figures."""

    name = "card"
    stage = "card_wait"  # its stage event: the wait for the pictures drawn meanwhile

    def __init__(self, card: CardSink):
        self.card = card

    def export(self, rows: Sequence[Row], ctx: StageContext) -> dict[str, Any] | None:
        return self.card.collect()
