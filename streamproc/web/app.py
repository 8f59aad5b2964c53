"""The aiohttp application of `streamproc web`: routes, JSON errors, and running it."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from streamproc.settings import Settings
from streamproc.web import dashboard, exports
from streamproc.web.common import API, SETTINGS, json_errors
from streamproc.web.openapi import openapi_document

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("streamproc")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


async def health(request: web.Request) -> web.Response:
    """Liveness and what this service can reach."""
    settings = request.app[SETTINGS]
    return web.json_response(
        {
            "status": "ok",
            "version": _version(),
            "read_model": settings.readmodel_file.exists(),
            "export_dir": settings.exports_dir.is_dir(),
        }
    )


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 document of this API."""
    return web.json_response(openapi_document(request.app[SETTINGS]))


LIVE_FEED_TASK = web.AppKey("live_feed_task", asyncio.Task[None])
LIVE_FEED_STOP = web.AppKey("live_feed_stop", asyncio.Event)


def create_app(settings: Settings, *, follow_live_feed: bool = True) -> web.Application:
    """The application: export downloads and the real-time metrics API (``/metrics``,
    ``/live``, ``/live/stream``; the feed topic followed in the background)."""
    from streamproc.live.api import LiveView, add_live_routes, follow_feed

    app = web.Application(middlewares=[json_errors])
    app[SETTINGS] = settings
    app.router.add_get(f"{API}/health", health)
    app.router.add_get(f"{API}/openapi.json", openapi)
    exports.add_routes(app)
    dashboard.add_routes(app)
    view = LiveView()
    add_live_routes(app, readmodel=settings.readmodel_file, view=view)
    if follow_live_feed:

        async def start_feed(app: web.Application) -> None:
            app[LIVE_FEED_STOP] = asyncio.Event()
            app[LIVE_FEED_TASK] = asyncio.create_task(
                follow_feed(settings, view, app[LIVE_FEED_STOP])
            )

        async def stop_feed(app: web.Application) -> None:
            app[LIVE_FEED_STOP].set()
            app[LIVE_FEED_TASK].cancel()
            await asyncio.gather(app[LIVE_FEED_TASK], return_exceptions=True)

        app.on_startup.append(start_feed)
        app.on_cleanup.append(stop_feed)
    return app


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Listen on ``settings.http_host:http_port`` until ``stop`` is set (or cancelled)."""
    runner = web.AppRunner(create_app(settings), access_log=log)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info(
        "serving http://%s:%d%s (exports link to %s)",
        settings.http_host,
        settings.http_port,
        API,
        settings.export_base_url,
    )
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
