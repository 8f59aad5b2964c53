"""Command line of the exporter: `streamproc exporter` (service) and `streamproc export`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

import click
import orjson

from exporter.download import DownloadError, Unreachable, download
from exporter.formats import FORMATS
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
    readmodel.sqlite) in step with the tables' changelogs, writes each export file under
    STREAMPROC_EXPORT_DIR (default $STREAMPROC_DATA_DIR/exports) and publishes the result,
    with its download URL (STREAMPROC_PUBLIC_URL; served by `streamproc web`), on
    STREAMPROC_TOPIC_EXPORT_RESULTS. Removes files and results older than
    STREAMPROC_EXPORT_RETENTION_HOURS. Runs the scheduled exports of STREAMPROC_SCHEDULES
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
@click.option(
    "--format",
    "file_format",
    type=click.Choice(list(FORMATS)),
    default="csv",
    help="File format: csv, gzip-compressed csv, or Parquet with typed columns.",
)
@click.option(
    "--excel",
    is_flag=True,
    help="Start the CSV with a UTF-8 byte-order mark, so Excel shows accents right (csv, csv.gz).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the file here [default: the service's file name in the current directory].",
)
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, help="Seconds to wait.")
@click.option("--list", "list_types", is_flag=True, help="List the export types and exit.")
def export_command(
    export_type: str | None,
    from_: str | None,
    to: str | None,
    timezone: str,
    channels: tuple[str, ...],
    locale: str,
    file_format: str,
    excel: bool,
    out: Path | None,
    timeout: float,
    list_types: bool,
) -> None:
    """Request an export from the exporter service, wait for it and download the file.

    Sends the request to STREAMPROC_TOPIC_EXPORT_REQUESTS, shows progress while the
    exporter works, then downloads the file from the result's URL (`streamproc web`,
    STREAMPROC_PUBLIC_URL), verifying its SHA-256, to --out. Works from any machine that
    reaches Kafka and the web service. When nothing answers at the URL but the exporter's
    file is on this machine, it is copied from there instead. Needs `streamproc exporter`.
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
        "format": file_format,
    }
    if excel:
        if file_format not in ("csv", "csv.gz"):
            raise click.UsageError(
                f"--excel applies to --format csv and csv.gz only (a {file_format} file "
                "has no byte-order mark); drop --excel or choose csv"
            )
        request["bom"] = True
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
    click.echo(str(fetch(result, out, settings.exports_dir)))


def fetch(result: dict[str, Any], out: Path | None, exports_dir: Path) -> Path:
    """Get the file of a succeeded ``result`` to ``out`` (default: its file name in the
    current directory): downloaded from its ``url``, checksum-verified; or, when nothing
    answers there and the exporter's ``path`` is on this machine, copied from it after
    ``verified_export`` checked it (inside ``exports_dir``, size and SHA-256)."""
    # Only a bare file name: a result is read from a topic others may write to.
    name = Path(str(result.get("file_name") or result.get("path") or "export")).name
    target = out if out is not None else Path.cwd() / (name or "export")
    url = result.get("url")
    if url:
        try:
            download(
                url,
                target,
                sha256=result.get("sha256"),
                size=result.get("bytes"),
                progress=_progress,
            )
            click.echo("", err=True)
            return target
        except Unreachable as exc:
            if not Path(result["path"]).is_file():
                raise click.ClickException(
                    f"{exc}. Is `streamproc web` running there? (STREAMPROC_PUBLIC_URL sets "
                    "the URL the exporter hands out)"
                ) from None
            click.echo(f"{exc}; copying the exporter's local file instead", err=True)
        except DownloadError as exc:
            raise click.ClickException(f"download failed: {exc}") from None
    path = verified_export(result, exports_dir, out)
    return out if out is not None else path


def _progress(received: int, size: int | None) -> None:
    share = f" of {size:,}" if size else ""
    click.echo(f"\rdownloaded {received:,}{share} bytes", nl=False, err=True)


def verified_export(result: dict[str, Any], exports_dir: Path, out: Path | None) -> Path:
    """The CSV a ``succeeded`` result names, checked: it must be a file inside
    ``exports_dir`` whose size and SHA-256 are the result's ``bytes`` and ``sha256``.
    With ``out`` the bytes are copied there as they are hashed (written to
    ``out.partial`` first, renamed only when they match). Raises ClickException saying
    what did not match."""
    named = result.get("path")
    if not isinstance(named, str) or not named:
        raise click.ClickException("the exporter's result names no CSV path")
    root = exports_dir.resolve()
    path = Path(named).resolve()
    if not path.is_relative_to(root) or path == root:
        raise click.ClickException(
            f"refusing the result's path {named!r}: it is not inside the export directory"
            f" {root} (STREAMPROC_EXPORT_DIR); is this exporter using another directory?"
        )
    if not path.is_file():
        raise click.ClickException(f"the exported CSV {path} does not exist (or is not a file)")
    digest = hashlib.sha256()
    size = 0
    partial = None if out is None else out.with_name(out.name + ".partial")
    try:
        with contextlib.ExitStack() as files:
            source = files.enter_context(path.open("rb"))
            sink = None if partial is None else files.enter_context(partial.open("wb"))
            while chunk := source.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
                if sink is not None:
                    sink.write(chunk)
        if digest.hexdigest() != result.get("sha256") or size != result.get("bytes"):
            raise click.ClickException(
                f"the CSV {path} does not match the exporter's result (sha256"
                f" {digest.hexdigest()}, {size} bytes; the result says {result.get('sha256')},"
                f" {result.get('bytes')} bytes): it changed since; run the export again"
            )
        if partial is not None and out is not None:
            os.replace(partial, out)
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    return path


async def _request_and_wait(
    settings: Settings, request: dict[str, Any], timeout: float
) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from streamproc.security import client_kwargs
    from streamproc.topics import ensure_topics

    try:
        await ensure_topics(settings)
    except Exception as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}"
        ) from None
    results = AIOKafkaConsumer(**client_kwargs(settings), group_id=None)
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
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
