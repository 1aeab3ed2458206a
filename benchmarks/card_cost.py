"""What the dataset card adds to the end of a build, on the sample's class folders.

Builds of ``datasets/sample/pets`` (labels from folders, the two filters, near dedupe, 80/10/10
splits, 128 px thumbnails) on one LocalCluster of 2 workers, each into a new output folder, with
and without the card (``toolkit._card.CardSink``: the pictures drawn as tasks on the workers,
then the README), interleaved (without, with, with, without, ...); then the same builds again into
their folders (every file carried over: the run is little more than its end stages). Reported:
the median build seconds of each, the difference, the median time the build's thread waited
for the card (``summary.json`` ``exports.card.waited_seconds``: the hold-up at the end of the build),
and the CPU seconds of the whole card drawn in one process (warm): what the workers spend on it
(and of the same card written again from the same rows: no picture drawn, their digests read).
The first card on a new cluster pays the workers' matplotlib import; it is reported apart.

    python benchmarks/card_cost.py [--input datasets/sample/pets] [--rounds 4] [--preload] [--json out.json]

``--preload``: the workers' fork server imports matplotlib too (``toolkit._spawn.WORKER_MODULES``),
so no card pays the import.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import toolkit  # noqa: E402
from toolkit._card import CardSink  # noqa: E402

SETTINGS = dict(
    op="thumbnail",
    size=128,
    labels="folder",
    filters={"min_side": 64, "max_aspect": 4},
    splits={"train": 0.8, "val": 0.1, "test": 0.1},
)


def one(src: Path, out: Path, client, card: bool) -> tuple[float, float | None]:
    """-> (the build's seconds, the seconds it waited for the card or None)."""
    exports = [CardSink(source="the dataprep sample", license="cc0-1.0")] if card else []
    t0 = time.perf_counter()
    toolkit.build(inputs=[str(src)], output=str(out), client=client, progress=False, exports=exports, **SETTINGS)
    wall = time.perf_counter() - t0
    summary = json.loads((out / "summary.json").read_text())
    waited = (summary.get("exports") or {}).get("card", {}).get("waited_seconds") if card else None
    return wall, waited


def card_cpu(src: Path, repeats: int = 3) -> dict[str, float]:
    """CPU seconds of the whole card drawn in this process (warm), median: what the workers spend."""
    from toolkit._card import write_card
    from toolkit._manifest import read_rows

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        toolkit.build(inputs=[str(src)], output=str(out), progress=False, jobs=2, memory_limit="1GiB", **SETTINGS)
        rows, summary = read_rows(out / "manifest.jsonl"), json.loads((out / "summary.json").read_text())
        write_card(out, rows, summary)  # imports matplotlib, loads the fonts
        cpu, wall, same = [], [], []
        for _ in range(repeats):
            shutil.rmtree(out / "card")  # drawn again: a picture that would be the same is otherwise left as it is
            t, c = time.perf_counter(), time.process_time()
            write_card(out, rows, summary)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - t)
            c = time.process_time()
            write_card(out, rows, summary)  # nothing changed: each picture's digest read, none drawn
            same.append(time.process_time() - c)
    return {
        "cpu": round(statistics.median(cpu), 3),
        "wall": round(statistics.median(wall), 3),
        "unchanged_cpu": round(statistics.median(same), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=str(HERE.parent / "datasets" / "sample" / "pets"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--json", default=None)
    ap.add_argument("--preload", action="store_true", help="workers start with matplotlib imported (the fork server's preload)")
    args = ap.parse_args()
    if args.preload:  # what the merger may add to toolkit._spawn.WORKER_MODULES
        from toolkit import _spawn

        _spawn.WORKER_MODULES += ["matplotlib.figure", "matplotlib.backends.backend_agg"]
    src = Path(args.input)
    if not src.is_dir():
        sys.exit(f"{src}: no such folder (make sample)")
    client = toolkit.connect(None, jobs=2, memory_limit="1GiB", dashboard_address="127.0.0.1:0")
    times: dict[str, list[float]] = {"fresh-without": [], "fresh-with": [], "again-without": [], "again-with": []}
    waits: dict[str, list[float]] = {"fresh": [], "again": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _, first_wait = one(src, Path(tmp) / "warm-up", client, True)  # the workers import matplotlib for it
            one(src, Path(tmp) / "warm-up-2", client, False)
            print(f"warm-up: the first card waited {first_wait} s", flush=True)
            for r in range(args.rounds):
                order = (False, True) if r % 2 == 0 else (True, False)
                for card in order:
                    out = Path(tmp) / f"r{r}-{'with' if card else 'without'}"
                    for phase in ("fresh", "again"):
                        wall, waited = one(src, out, client, card)
                        times[f"{phase}-{'with' if card else 'without'}"].append(wall)
                        if waited is not None:
                            waits[phase].append(waited)
                        print(f"round {r} {phase:5} card={card!s:5} {wall:6.2f} s  waited {waited}", flush=True)
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    med = {k: round(statistics.median(v), 3) for k, v in times.items() if v}
    cpu = card_cpu(src)
    result = {
        "median_seconds": med,
        "card_cost_fresh": round(med["fresh-with"] - med["fresh-without"], 3),
        "card_cost_again": round(med["again-with"] - med["again-without"], 3),
        "median_waited": {k: round(statistics.median(v), 3) for k, v in waits.items() if v},
        "first_card_waited": first_wait,
        "card_cpu_seconds": cpu,
        "rounds": args.rounds,
        "preload": args.preload,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
