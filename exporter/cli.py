"""Command line of the exporter: `streamproc exporter` (service) and `streamproc export`."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import click
import orjson

from exporter.request import BadRequest, parse_request
from exporter.schema import EXPORTS
from streamproc.settings import Settings, SettingsError

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.command("exporter", context_settings=CONTEXT)
@click.option(
    "--loglevel", type=click.Choice(["debug", "info", "warning", "error"]), default="info"
)
def exporter_command(loglevel: str) -> None:
    """Serve export requests from the command topic (STREAMPROC_TOPIC_EXPORT_REQUESTS).

    Keeps the read model (STREAMPROC_READMODEL_PATH, default $STREAMPROC_DATA_DIR/
    readmodel.sqlite) in step with the tables' changelogs, writes each CSV under
    STREAMPROC_EXPORT_DIR (default $STREAMPROC_DATA_DIR/exports) and publishes the result
    on STREAMPROC_TOPIC_EXPORT_RESULTS. Runs the scheduled exports of STREAMPROC_SCHEDULES
    (a TOML file; see `streamproc schedules check`). Ctrl-C to stop.
    """
    import logging

    from exporter.service import serve
    from streamproc.topics import ensure_topics

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(message)s")
    settings = _settings()
    try:
        asyncio.run(ensure_topics(settings))
    except Exception as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}. "
            "Start it with `streamproc kafka up` or set STREAMPROC_BOOTSTRAP_SERVERS."
        ) from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


@click.command("export", context_settings=CONTEXT)
@click.argument("export_type", required=False, type=click.Choice(list(EXPORTS)), metavar="TYPE")
@click.option("--from", "from_", help="First day (YYYY-MM-DD) or start instant (RFC 3339).")
@click.option("--to", help="Last day (YYYY-MM-DD, inclusive) or end instant (RFC 3339, exclusive).")
@click.option("--timezone", default="UTC", help="IANA time zone of the range and timestamps.")
@click.option("--channel", "channels", multiple=True, help="Only this channel id (repeatable).")
@click.option("--locale", type=click.Choice(["en", "es"]), default="en", help="Header language.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Copy the CSV here.")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, help="Seconds to wait.")
@click.option("--list", "list_types", is_flag=True, help="List the export types and exit.")
def export_command(
    export_type: str | None,
    from_: str | None,
    to: str | None,
    timezone: str,
    channels: tuple[str, ...],
    locale: str,
    out: Path | None,
    timeout: float,
    list_types: bool,
) -> None:
    """Request an export from the exporter service and wait for its CSV.

    Sends the request to STREAMPROC_TOPIC_EXPORT_REQUESTS, shows progress while the
    exporter works, and copies the CSV to --out. Needs `streamproc exporter` running.
    """
    if list_types:
        for spec in EXPORTS.values():
            click.echo(f"{spec.id:24} {spec.description}")
        return
    if export_type is None:
        raise click.UsageError("give an export TYPE (see `streamproc export --list`)")
    request: dict[str, Any] = {
        "request_id": f"cli-{uuid.uuid4()}",
        "export_type": export_type,
        "timezone": timezone,
        "channels": list(channels),
        "locale": locale,
    }
    if from_ is not None:
        request["from"] = from_
    if to is not None:
        request["to"] = to
    try:
        parse_request(request)
    except BadRequest as exc:
        raise click.UsageError(str(exc)) from None
    settings = _settings()
    result = asyncio.run(_request_and_wait(settings, request, timeout))
    if result.get("status") != "succeeded":
        raise click.ClickException(f"export failed: {result.get('error')}")
    click.echo(
        f"{result['rows']:,} rows, {result['bytes']:,} bytes, sha256 {result['sha256']}, "
        f"as of {result['as_of']}",
        err=True,
    )
    if out is not None:
        shutil.copyfile(result["path"], out)
        click.echo(str(out))
    else:
        click.echo(result["path"])


async def _request_and_wait(
    settings: Settings, request: dict[str, Any], timeout: float
) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from streamproc.topics import ensure_topics

    try:
        await ensure_topics(settings)
    except Exception as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}"
        ) from None
    results = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await results.start()
    await producer.start()
    try:
        tp = TopicPartition(settings.topic_export_results, 0)
        results.assign([tp])
        await results.seek_to_end(tp)
        await results.position(tp)
        await producer.send_and_wait(
            settings.topic_export_requests,
            value=orjson.dumps(request),
            key=request["request_id"].encode(),
        )
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise click.ClickException(
                    f"no result after {timeout:.0f} s: is `streamproc exporter` running?"
                )
            click.echo(f"\rwaiting for the exporter... {elapsed:.0f} s", nl=False, err=True)
            batch = await results.getmany(tp, timeout_ms=500)
            for message in batch.get(tp, []):
                result = orjson.loads(message.value)
                if result.get("request_id") == request["request_id"]:
                    click.echo("", err=True)
                    return dict(result)
    finally:
        await results.stop()
        await producer.stop()
