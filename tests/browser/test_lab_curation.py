"""Curation in the panel, in a real browser: after a build in JupyterLab, changing a curation
control re-curates the build and the split x label table, the duplicates view and the card follow."""

import json
import re

import pytest

from curation_media import class_folders
from helpers import wait_until
from toolkit._manifest import read_rows
from lab_harness import screenshot_on_failure, set_text, shot, start_panel, write_notebook

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api")
pytest.importorskip("jupyterlab")

PANEL = """import toolkit

panel = toolkit.Panel(inputs=[{src!r}], output={out!r}, op="thumbnail", size=96, labels="folder",
                      splits={{"train": 0.5, "test": 0.5}}, jobs=1, memory_limit="1GiB")
panel"""


def table_text(panel) -> list[list[str]]:
    rows = panel.locator("table.dp-split-table tr")
    return [re.split(r"\s+", rows.nth(i).inner_text().strip()) for i in range(rows.count())]


def by_split(table):
    """The panel's split x label table (its text, header first) by split: cat, dog, total."""
    return {row[0]: row[1:] for row in table[1:]}


def split_counts(out):
    """The same table from the manifest's rows: what the panel must show."""
    rows = [r for r in read_rows(out / "manifest.jsonl") if r["status"] == "ok"]
    table = {}
    for s in sorted({r["split"] for r in rows}) + ["total"]:
        per = [sum(r["label"] == lb and s in (r["split"], "total") for r in rows) for lb in ("cat", "dog")]
        table[s] = [str(n) for n in (*per, sum(per))]
    return table


def test_changing_a_curation_control_after_a_build_recurates_it(page, lab, site):
    pg = page
    src, out = site["base"] / "classes", site["out"] / "curated"
    class_folders(src)
    name = write_notebook(site["nbdir"] / "panel-curation.ipynb", PANEL.format(src=str(src), out=str(out))).name
    with screenshot_on_failure(pg, "curation"):
        panel = start_panel(pg, lab, name)
        panel.locator(".dp-done").wait_for(timeout=180_000)
        panel.locator("table.dp-split-table").wait_for(timeout=30_000)
        before = table_text(panel)
        assert before[0] == ["split", "\\", "label", "cat", "dog", "total"]
        assert by_split(before) == split_counts(out) and by_split(before)["total"] == ["6", "6", "12"]
        # the duplicates view: two groups, the kept one of each marked, thumbnails drawn
        assert panel.locator(".dp-dup-group").count() == 2
        assert panel.locator(".dp-dup-kept").count() == 2 and panel.locator(".dp-dup img").count() == 5
        assert "exact" in panel.locator(".dp-duplicates").inner_text()
        # the dataset card's pictures under it, decoded by the browser, and the Exports group above
        card_drawn = "imgs => imgs.length >= 3 && imgs.every(i => i.complete && i.naturalWidth > 0)"
        assert panel.locator(".dp-card img").evaluate_all(card_drawn)
        assert "README.md" in panel.locator(".dp-card summary").inner_text()
        assert panel.locator(".dp-export-controls", has_text="WebDataset shards").count() == 1
        # a split the user types: a bad one is said beside the box, a good one re-curates the build
        set_text(panel, "Splits", "train=0.75, test=0.2")
        panel.locator(".dp-splits-error", has_text="must sum to 1").wait_for(timeout=30_000)
        set_text(panel, "Splits", "train=0.75, test=0.25")
        panel.locator(".dp-recurated").wait_for(timeout=60_000)
        assert panel.locator(".dp-splits-error").count() == 0
        assert wait_until(lambda: by_split(table_text(panel)) == split_counts(out), 30)  # the table of the new rows
        assert by_split(table_text(panel))["total"] == ["6", "6", "12"]
        assert "re-curated in" in panel.locator(".dp-status").inner_text()
        assert panel.locator(".dp-card img").evaluate_all(card_drawn)  # the card re-curation rewrote
        panel.locator(".dp-curation").scroll_into_view_if_needed()
        shot(pg, "curation-recurated", panel)
        shot(pg, "panel-curation-controls", panel.locator(".dp-curation-controls"))  # docs/panel.md shows these two
        shot(pg, "panel-curation", panel.locator(".dp-curation"))
        shot(pg, "panel-exports", panel.locator(".dp-export-controls"))
        shot(pg, "panel-card", panel.locator(".dp-card"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decoded"] == 0 and summary["settings"]["splits"] == {"train": 0.75, "test": 0.25}
