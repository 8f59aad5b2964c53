"""`streamproc web`: run the HTTP service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

import click

from streamproc.settings import Settings, SettingsError

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}


@click.command("web", context_settings=CONTEXT)
@click.option("--host", default=None, help="Address to listen on [default: STREAMPROC_HTTP_HOST].")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port to listen on [default: STREAMPROC_HTTP_PORT].",
)
@click.option(
    "--loglevel", type=click.Choice(["debug", "info", "warning", "error"]), default="info"
)
def web_command(host: str | None, port: int | None, loglevel: str) -> None:
    """Serve the HTTP API (/api/v1): export downloads, recent exports, OpenAPI, health.

    Reads the exporter's results (its read model, STREAMPROC_READMODEL_PATH) and files
    (STREAMPROC_EXPORT_DIR): run it where those are, e.g. beside `streamproc exporter`
    or in a container sharing its volume. Export results link to STREAMPROC_PUBLIC_URL
    (default http://127.0.0.1:<port>). Ctrl-C to stop.
    """
    from streamproc.web.app import serve

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if host is not None:
        settings = replace(settings, http_host=host)
    if port is not None:
        settings = replace(settings, http_port=port)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {settings.http_host}:{settings.http_port}: {exc.strerror or exc}. "
            "Choose another port with --port or STREAMPROC_HTTP_PORT."
        ) from None
