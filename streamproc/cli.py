"""The ``streamproc`` command line (click): broker, topics, simulator, producer and worker."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from pathlib import Path

import click

from streamproc.settings import Settings, SettingsError

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}


def load_settings() -> Settings:
    """Settings from the environment, or a usage error that names the bad variable."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="streamproc")
def main() -> None:
    """Continuous inbox analytics: Faust agents on Kafka and Hootsuite-style CSV exports.

    Configuration comes from STREAMPROC_* environment variables (see README), e.g.
    STREAMPROC_BOOTSTRAP_SERVERS (default 127.0.0.1:9092), STREAMPROC_DATA_DIR (default
    ./.data), STREAMPROC_EVENTS_PARTITIONS (default 8). A secured cluster:
    STREAMPROC_SECURITY_PROTOCOL, STREAMPROC_SASL_*, STREAMPROC_SSL_* (docs/security.md).
    """


@main.group(context_settings=CONTEXT)
def topics() -> None:
    """The service's own topics (inbound, re-route, dead-letter, export command and results)."""


@topics.command("create")
def topics_create() -> None:
    """Create every missing topic with its configured partition count (idempotent)."""
    from streamproc.topics import ensure_topics

    settings = load_settings()
    try:
        created = asyncio.run(ensure_topics(settings))
    except Exception as exc:  # connection failures come in many types
        raise click.ClickException(
            f"cannot create topics on {settings.bootstrap_servers}: {exc}. "
            "Is the broker up? (streamproc kafka up) Does it expect "
            f"STREAMPROC_SECURITY_PROTOCOL={settings.security_protocol} and these "
            "credentials? (docs/security.md)"
        ) from None
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


@main.command("produce", context_settings=CONTEXT)
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Cap on lines per second (default: as fast as the broker takes them).",
)
def produce(events: Path, rate: float | None) -> None:
    """Publish a JSON-lines EVENTS file (e.g. from `streamproc simulate`) to the inbound topics.

    Each line goes to its type's topic keyed by the contract key (conversation id, else
    the entity id); lines that are not valid events are published as they are (to the
    topic their type names, else inbox.messages) so they reach the dead-letter topic.
    """
    from streamproc.testing.produce import produce_lines, read_lines
    from streamproc.topics import ensure_topics

    settings = load_settings()

    def progress(lines: int, elapsed: float) -> None:
        speed = lines / elapsed if elapsed > 0 else 0.0
        click.echo(
            f"\rproduced {lines:,} lines in {elapsed:.1f} s ({speed:,.0f}/s)", nl=False, err=True
        )

    async def run() -> None:
        await ensure_topics(settings)
        summary = await produce_lines(settings, read_lines(events), rate=rate, progress=progress)
        click.echo("", err=True)
        for topic, count in sorted(summary.lines_by_topic.items()):
            click.echo(f"{topic:28} {count:>10,}")

    asyncio.run(run())


@main.command("worker", context_settings=CONTEXT)
@click.option(
    "--loglevel",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    help="Worker log level.",
)
def worker(loglevel: str) -> None:
    """Run a Faust worker: consume the inbound topics into the tables (Ctrl-C to stop).

    Start several with different STREAMPROC_TABLES_DIR to share the partitions.
    """
    from faust import Worker

    from streamproc.app import create_app
    from streamproc.live.prom import serve_metrics
    from streamproc.tables.unclean import discard_if_unclean, mark_clean
    from streamproc.topics import ensure_topics

    settings = load_settings()
    try:
        asyncio.run(ensure_topics(settings))
    except Exception as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}. "
            "Start it with `streamproc kafka up` or set STREAMPROC_BOOTSTRAP_SERVERS."
        ) from None
    if discard_if_unclean(settings.table_state_dir):
        click.echo(
            f"the previous worker on {settings.table_state_dir} did not stop cleanly: its "
            "local table state was discarded and is rebuilt from the changelogs",
            err=True,
        )
    app, _tables = create_app(settings)

    # Profiled: with their loggers at DEBUG, aiokafka and faust built a log record per
    # produced message (12% of the worker's CPU) that was then discarded.
    library_level = max(logging.INFO, logging.getLevelName(loglevel.upper()))
    for name in ("aiokafka", "faust", "mode"):
        logging.getLogger(name).setLevel(library_level)
    # The batch path allocates a few dicts per event and keeps few cycles: collect the
    # young generation every 50k allocations instead of every 700, and leave everything
    # allocated during start-up out of the collector's scans.
    gc.set_threshold(50_000, 20, 20)
    gc.freeze()
    serve_metrics(settings.metrics_port)  # Prometheus /metrics (0 = off)
    try:
        Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    except SystemExit as stopped:
        if stopped.code in (None, 0):  # a graceful stop (exits 70/71/75 never get here)
            mark_clean(settings.table_state_dir)
        raise


@main.command("stats", context_settings=CONTEXT)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=0,
    help="First wait up to this many seconds for the workers to catch up (lag 0).",
)
def stats(wait_s: float) -> None:
    """Show what the workers have processed: events by type, dead letters, re-routed events
    by source topic and reason, consumer lag."""
    from streamproc.stats import collect_stats, wait_caught_up

    settings = load_settings()

    async def run() -> None:
        if wait_s and not await wait_caught_up(settings, wait_s):
            click.echo(f"warning: workers still behind after {wait_s:.0f} s", err=True)
        report = await collect_stats(settings)
        click.echo(report.render())

    try:
        asyncio.run(run())
    except OSError as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}"
        ) from None


def _register_optional_commands() -> None:
    """Commands that live in their own modules."""
    from exporter.cli import export_command, exporter_command
    from exporter.schedule_cli import schedules_command
    from streamproc.live.cli import live_api_command
    from streamproc.testing.broker.cli import kafka
    from streamproc.testing.oracle import oracle_command
    from streamproc.testing.simulate import simulate_command
    from streamproc.web.cli import web_command

    for command in (
        kafka,
        simulate_command,
        exporter_command,
        export_command,
        oracle_command,
        web_command,
    ):
        main.add_command(command)
    main.add_command(schedules_command)
    main.add_command(live_api_command)


_register_optional_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
