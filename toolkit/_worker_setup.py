"""Worker preload for the local cluster: Ctrl-C in a terminal goes to the whole process group;
the workers ignore it so the CLI can stop the run gracefully (finish, write the manifest)."""

import signal


def _ignore_sigint() -> None:
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to do
        pass


_ignore_sigint()


def dask_setup(worker) -> None:  # noqa: ARG001 - the preload hook distributed calls
    _ignore_sigint()
