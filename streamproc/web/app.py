"""The aiohttp application of `streamproc web`: routes, JSON errors, and running it."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from streamproc.settings import Settings
from streamproc.web import exports
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


def create_app(settings: Settings) -> web.Application:
    """The application; more route groups (issue 14's live API) are added the same way."""
    app = web.Application(middlewares=[json_errors])
    app[SETTINGS] = settings
    app.router.add_get(f"{API}/health", health)
    app.router.add_get(f"{API}/openapi.json", openapi)
    exports.add_routes(app)
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
