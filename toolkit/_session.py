"""A cluster kept across builds: reused while the sizing settings stay the same, replaced when they change.

A notebook runs build after build; starting a LocalCluster each time costs seconds of CPU on the
cores the workers need. ``ClusterSession`` holds one client and hands it out again while the
settings that shaped it (workers, their memory limits, where the scheduler is, the dashboard's
address) are the same; when one of them changes, it closes what it made and starts anew. It only
ever closes what it made: a ``Client`` you pass in stays open, a ``Cluster`` you pass in keeps
running (only the client made for it is closed).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from distributed import Client

    from ._config import BuildConfig

__all__ = ["ClusterSession", "sizing_key"]


def sizing_key(cfg: BuildConfig) -> tuple:
    """The settings that shape a cluster: a client made for one key serves every build with that key.

    With an automatic memory limit on a local cluster, each worker's limit is its share of
    ``max_memory_percent``, so that percent shapes the cluster too; otherwise it does not."""
    local = cfg.scheduler is None and cfg.scheduler_file is None
    share = cfg.max_memory_percent if local and cfg.memory_limit is None else None
    return (cfg.jobs, cfg.memory_limit, share, cfg.scheduler, cfg.scheduler_file, cfg.dashboard_address)


def _as_file(path: str | None) -> Path | None:
    """A scheduler file as a path: ``connect`` then reads it as a file whatever its name (not as an address)."""
    return None if path is None else Path(path)


class ClusterSession:
    """One client for a series of builds.

    ``target``: None (a LocalCluster this session starts, or the scheduler the build's
    ``scheduler``/``scheduler_file`` names), or an address, scheduler file, ``Cluster`` or
    ``Client`` of yours, used for every build whatever its sizing settings.
    ``dashboard_on_visit``: build the dashboard's pages at the first visit (see ``_cluster.connect``).
    """

    def __init__(self, target: Any = None, *, dashboard_on_visit: bool = False) -> None:
        self._target = target
        self._on_visit = dashboard_on_visit
        self._lock = threading.RLock()
        self._client: Client | None = None
        self._key: tuple | None = None
        self._owns_client = False
        self._owns_cluster = False

    def _key_for(self, cfg: BuildConfig) -> tuple:
        return ("given",) if self._target is not None else sizing_key(cfg)

    def reuses(self, cfg: BuildConfig) -> bool:
        """Whether ``client(cfg)`` would hand out the client held now (no new cluster)."""
        with self._lock:
            return self._alive() and self._key == self._key_for(cfg)

    @property
    def started(self) -> bool:
        """Whether the session holds a client (a first build has connected)."""
        return self._client is not None

    @property
    def current(self) -> Client | None:
        """The client held now (None before the first build and after ``close``)."""
        return self._client

    @property
    def given_client(self) -> Client | None:
        """The ``Client`` you gave the session (None if you gave something else, or nothing)."""
        if self._target is None:
            return None
        from distributed import Client

        return self._target if isinstance(self._target, Client) else None

    def client(self, cfg: BuildConfig, stopped: Callable[[], bool] | None = None) -> Client:
        """The client for a build with ``cfg``: the one held if its sizing settings match, else a new one.
        ``stopped``: asked while a scheduler of yours has no workers yet (``Stopped`` when it says so)."""
        from ._cluster import connect

        with self._lock:
            key = self._key_for(cfg)
            if self._alive() and self._key == key:
                assert self._client is not None
                self._check_output(self._client, cfg)
                return self._client
            self.close()
            target = self._target if self._target is not None else (cfg.scheduler or _as_file(cfg.scheduler_file))
            client = connect(
                target,
                jobs=cfg.jobs,
                memory_limit=cfg.memory_limit,
                dashboard_address=cfg.dashboard_address,
                max_memory_percent=cfg.max_memory_percent,
                dashboard_on_visit=self._on_visit,
                stopped=stopped,
            )
            self._client, self._key = client, key
            self._owns_client = client is not target  # we made this Client: we close it
            self._owns_cluster = target is None  # we made the LocalCluster too
            self._check_output(client, cfg)
            return client

    def _check_output(self, client: Client, cfg: BuildConfig) -> None:
        """On a cluster of yours, every worker must see the build's output folder (``_unseen``)."""
        from distributed import LocalCluster

        if not self._owns_cluster and not isinstance(getattr(client, "cluster", None), LocalCluster):  # same machine
            from ._unseen import check_output_seen

            check_output_seen(client, cfg.output)

    def _alive(self) -> bool:
        if self._client is None:
            return False
        try:
            return self._client.status == "running"
        except Exception:  # noqa: BLE001 - a client that cannot say is not worth reusing
            return False

    def close(self) -> None:
        """Close what this session made (its client, and its LocalCluster); a client or cluster you gave stays."""
        with self._lock:
            client, self._client, self._key = self._client, None, None
            if client is None:
                return
            cluster = getattr(client, "cluster", None) if self._owns_cluster else None
            try:
                if self._owns_client:
                    client.close()
                if cluster is not None:
                    cluster.close()
            except Exception:  # noqa: BLE001 - closing is best effort: the processes are daemons
                pass

    @property
    def dashboard_link(self) -> str | None:
        """The held client's dashboard link (proxied inside JupyterHub), or None (no client yet, or no dashboard)."""
        from ._dashboard import dashboard_link

        return None if self._client is None else dashboard_link(self._client)
