"""Run a build to its end in the foreground, the way a terminal user expects Ctrl-C to work.

``toolkit.build`` and ``dataprep build`` both wait here, so Ctrl-C means the same in a script, a
notebook cell and the CLI: the first stops the build (pending batches are cancelled, running
ones finish the file they are on, for up to a grace period), a second one abandons the running
batches at once. Either way the finished rows are kept and the next run resumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ._runreport import RunReport

__all__ = ["run_to_end", "STOP_GRACE"]

#: seconds a running batch gets after the first Ctrl-C to finish the file it is on
STOP_GRACE = 5.0
#: after a second Ctrl-C, how long the run gets to write its manifest and summary
_ABANDON_WAIT = 15.0
#: the main thread waits in short steps: a signal handler (Ctrl-C) runs between two of them at once
_POLL = 0.2


def run_to_end(run, *, on_interrupt: Callable[[], None] | None = None) -> tuple[RunReport, bool]:
    """Wait for a started ``Run`` to finish -> (its report, whether Ctrl-C stopped it).

    ``on_interrupt`` is called at the first Ctrl-C, before the run is told to stop (the CLI
    says there what happens to the rows). Uses only the Run's public ``wait``, ``stop``, ``result``.
    """
    interrupted = False
    try:
        while not run.wait(_POLL):
            pass
    except KeyboardInterrupt:
        interrupted = True
        if on_interrupt is not None:
            on_interrupt()
        run.stop(grace=STOP_GRACE)
        try:
            while not run.wait(_POLL):
                pass
        except KeyboardInterrupt:
            run.stop(grace=0.0)
            run.wait(_ABANDON_WAIT)
    return run.result(), interrupted
