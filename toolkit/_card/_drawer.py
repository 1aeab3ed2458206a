"""A second process for the card's pictures when ``toolkit.curate`` runs in a fresh process.

Importing matplotlib costs a third of a second and drawing the plots half a second more, all under
one GIL. Started as the re-curation begins, this process imports matplotlib on another core while
the caller reads, curates and writes the manifest; it is then sent the pictures whose digest changed
(their data only, small) and sends back their PNG bytes, which the caller writes (atomically, its
output faults its own). A picture it could not draw (or a process that could not start, or died)
is drawn by the caller as before: the card is the same either way, only sooner. Not started when
matplotlib is imported already (a notebook's second call: the caller draws faster than a process
starts) or on one CPU; ended unused when no picture changed.

Run as ``python -m toolkit._card._drawer``: reads a pickled list of ``(name, draw, data, output,
digest)`` from stdin (``draw``: the picture's drawing function, pickled by name), writes a pickled
``{name: png bytes or None}`` to stdout.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["Drawer", "main"]

#: (picture, its drawing function, its data, the output folder, its digest)
Task = tuple[str, Callable[[Any, Path, str], bytes], Any, str, str]


class Drawer:
    """The drawing process, started by :meth:`start`; :meth:`draw` once, or :meth:`close`."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # where this toolkit is imported from, first
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "toolkit._card._drawer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    @classmethod
    def start(cls) -> "Drawer | None":
        """A drawing process, or None where it would not help (matplotlib loaded here, one CPU)."""
        if "matplotlib.figure" in sys.modules or (os.cpu_count() or 1) < 2 or not sys.executable:
            return None
        try:
            return cls()
        except OSError:  # cannot start a process here: the caller draws
            return None

    def draw(self, tasks: Sequence[Task]) -> dict[str, bytes | None]:
        """The PNG bytes of each task's picture (None: not drawn there); the process ends."""
        if not tasks:
            self.close()
            return {}
        try:
            data, _ = self.proc.communicate(pickle.dumps(list(tasks)), timeout=300)
            got = pickle.loads(data) if self.proc.returncode == 0 else {}
        except Exception:  # noqa: BLE001 - it died or hung: the caller draws them all
            got = {}
        finally:
            self.close()
        return {name: got.get(name) if isinstance(got.get(name), bytes) else None for name, *_ in tasks}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None and not f.closed:
                f.close()


def main() -> None:
    import matplotlib.backends.backend_agg  # noqa: F401 - what this process is for: imported while the caller curates
    import matplotlib.figure  # noqa: F401

    tasks: list[Task] = pickle.load(sys.stdin.buffer)
    done: dict[str, bytes | None] = {}
    for name, draw, data, output, digest in tasks:
        try:
            done[name] = draw(data, Path(output), digest)
        except Exception:  # noqa: BLE001 - the caller draws it, and reports what goes wrong
            done[name] = None
    pickle.dump(done, sys.stdout.buffer)


if __name__ == "__main__":
    main()
