"""``streamproc live-api``: the real-time metrics API as a stand-alone aiohttp service."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import click
from aiohttp import web

from streamproc.settings import Settings, SettingsError

FEED_TASK = web.AppKey("live_feed_task", asyncio.Task[None])
CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}


@click.command("live-api", context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", help="Interface to listen on (0.0.0.0 for all).")
@click.option("--port", type=click.IntRange(1, 65535), default=8089, help="TCP port.")
@click.option(
    "--loglevel", type=click.Choice(["debug", "info", "warning", "error"]), default="info"
)
def live_api_command(host: str, port: int, loglevel: str) -> None:
    """Serve /api/v1/metrics (15-minute aggregates of the read model), /api/v1/live and
    /api/v1/live/stream (the metrics feed topic STREAMPROC_TOPIC_METRICS) and
    /api/v1/openapi.json. Reads STREAMPROC_READMODEL_PATH (run it next to the exporter,
    which keeps that file and emits the feed). Ctrl-C to stop.
    """
    from streamproc.live.api import LiveView, follow_feed, live_app

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    view = LiveView()
    app = live_app(settings.readmodel_file, view)
    stop = asyncio.Event()

    async def start_feed(_app: web.Application) -> None:
        task = asyncio.create_task(follow_feed(settings, view, stop))
        _app[FEED_TASK] = task

    async def stop_feed(_app: web.Application) -> None:
        stop.set()
        with contextlib.suppress(Exception):
            await _app[FEED_TASK]

    app.on_startup.append(start_feed)
    app.on_cleanup.append(stop_feed)
    try:
        web.run_app(app, host=host, port=port, print=None)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
