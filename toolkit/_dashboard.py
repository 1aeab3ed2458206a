"""The Dask dashboard of a build: its links (behind JupyterHub too) and, on our own cluster, pages built at the first visit.

``dashboard_link(client)`` is the link to show (``client.dashboard_link``, or the proxied one inside
JupyterHub); ``dashboard_urls`` its sibling single-plot pages. ``_dashboard_on_visit`` lets a
build's scheduler start without bokeh's pages and build them when someone first opens the link.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["dashboard_link", "dashboard_urls"]


def dashboard_urls(link: str | None) -> dict[str, str]:
    """The dashboard link and its sibling single-plot pages.

    ``link`` is ``client.dashboard_link``: it already follows the ``distributed.dashboard.link``
    template (``{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status`` behind JupyterHub or
    jupyter-server-proxy), so siblings are derived by replacing its last path segment.

    >>> dashboard_urls("/user/ann/proxy/8787/status")["progress"]
    '/user/ann/proxy/8787/individual-progress'
    >>> dashboard_urls("http://127.0.0.1:8787/status")["workers_memory"]
    'http://127.0.0.1:8787/individual-workers-memory'
    """
    if not link:
        return {}
    base, query = (link.split("?", 1) + [""])[:2]
    base = base.rstrip("/")
    if base.rsplit("/", 1)[-1] == "status":
        base = base.rsplit("/", 1)[0]
    q = f"?{query}" if query else ""
    return {
        "status": link,
        "progress": f"{base}/individual-progress{q}",
        "workers_memory": f"{base}/individual-workers-memory{q}",
        "task_stream": f"{base}/individual-task-stream{q}",
        "health": f"{base}/health{q}",
    }


_DEFAULT_LINK = "{scheme}://{host}:{port}/status"


def dashboard_link(client: Any) -> str | None:
    """``client.dashboard_link`` (it follows ``distributed.dashboard.link``). Inside JupyterHub
    (``JUPYTERHUB_SERVICE_PREFIX`` set) with the default template and jupyter-server-proxy
    installed, the proxied ``{prefix}proxy/{port}/status`` instead: the browser cannot reach the
    scheduler's own address there."""
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - a template naming a missing variable, no dashboard
        return None
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if not link or not prefix:
        return link
    import dask

    if dask.config.get("distributed.dashboard.link", _DEFAULT_LINK) != _DEFAULT_LINK:
        return link
    try:
        import jupyter_server_proxy  # noqa: F401
    except ImportError:
        return link
    from urllib.parse import urlsplit

    port = urlsplit(link).port
    return f"{prefix.rstrip('/')}/proxy/{port}/status" if port else link


#: Dask's scheduler route that proxies a worker's own dashboard (``/proxy/<port>/<host>/...``).
#: Our workers run no dashboard (``worker_dashboard_address=None``), so on our cluster it has
#: nothing to reach; importing it imports jupyter-server-proxy and aiohttp when they are
#: installed (the notebook extras install them): ~0.1 s of CPU in the scheduler's start, on the
#: path to the first batch.
WORKER_PROXY_ROUTE = "distributed.http.proxy"


def _scheduler_routes() -> list[str]:
    """The scheduler's HTTP route modules for our own cluster: Dask's (or yours), less the worker proxy."""
    import dask

    return [m for m in dask.config.get("distributed.scheduler.http.routes", None) or () if m != WORKER_PROXY_ROUTE]


def _dashboard_on_visit(scheduler) -> None:
    """Add Dask's bokeh dashboard pages to a scheduler started without them, the first time
    anyone opens the dashboard.

    Importing bokeh and building the pages costs ~0.35 s of CPU in this process, on the cores the
    workers need. Until the first visit a catch-all page stands in, which builds the pages on its
    first request (importing off the event loop) and redirects to the same address, now served
    by them. The link is valid from the start: the scheduler's HTTP server (Dask's plain routes)
    runs from the scheduler's start.
    """
    import asyncio

    from tornado import web

    app = scheduler.http_application
    attaching: list = []  # the one attach, shared by every request that waits for it

    async def attach() -> None:
        try:
            loop = asyncio.get_running_loop()
            pages = await loop.run_in_executor(None, _import_pages)  # the slow part, off the loop
            if pages is not None and scheduler.status.name == "running":
                pages.connect(app, scheduler.http_server, scheduler, prefix="/")
        except Exception:  # noqa: BLE001 - no dashboard pages is not worth failing a build
            logging.getLogger(__name__).warning("could not start the dashboard's pages", exc_info=True)
        finally:
            if stand_in in app.applications:
                app.applications.remove(stand_in)  # from now on Dask's router finds the pages (or a 404)

    async def attach_once() -> None:
        if not attaching:
            attaching.append(asyncio.ensure_future(attach()))
        await asyncio.shield(attaching[0])

    class FirstVisit(web.RequestHandler):
        async def get(self, *_args: str) -> None:
            await attach_once()
            self.redirect(_same_page(self.request.path, self.request.query))

    stand_in = web.Application([(r"/.*", FirstVisit)])
    app.add_application(stand_in)  # asked only after Dask's own routes (RoutingApplication)


def _same_page(path: str, query: str = "") -> str:
    """A relative address of the page at ``path``: a proxy's prefix (``.../proxy/8787/status``) is
    kept, and it never leads to another host (a path such as ``//example.org/x`` stays here).

    >>> _same_page("/status", "x=1"), _same_page("/"), _same_page("//example.org/x")
    ('./status?x=1', './', './x')
    """
    return "./" + path.rsplit("/", 1)[-1] + (f"?{query}" if query else "")


def _import_pages():
    try:
        import distributed.dashboard.scheduler as pages
    except ImportError:  # pragma: no cover - bokeh missing: Dask's own pages only
        return None
    return pages
