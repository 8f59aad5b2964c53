"""Command line of scheduled exports: `streamproc schedules check` and `... schedules status`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from exporter.cli import CONTEXT, _settings
from exporter.scheduler import fold_progress, progress_key, read_schedule_file
from exporter.schedules import Schedule, ScheduleError
from streamproc.settings import Settings


def _load(file: Path | None, settings: Settings) -> list[Schedule]:
    path = file or settings.schedules
    if path is None:
        raise click.UsageError("give the schedule file with --file or STREAMPROC_SCHEDULES")
    try:
        return read_schedule_file(path)
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("schedules", context_settings=CONTEXT)
def schedules_command() -> None:
    """Scheduled exports (STREAMPROC_SCHEDULES; docs/exports.md, "Scheduled exports")."""


@schedules_command.command("check", context_settings=CONTEXT)
@click.option(
    "--file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Schedule file (default: STREAMPROC_SCHEDULES).",
)
def check(file: Path | None) -> None:
    """Validate the schedule file and show each schedule's latest due period.

    Exits non-zero with the reason when the file is not valid.
    """
    moment = datetime.now(UTC)
    for s in _load(file, _settings()):
        latest = s.latest_due(moment)
        click.echo(
            f"{s.name}: {', '.join(s.exports)}; {s.cadence.describe()} ({s.tz_name}) -> "
            f"{s.destination.describe()}"
        )
        click.echo(
            f"  latest due period {latest.key} .. {latest.local_end.isoformat()}, "
            f"next run {s.due_at(s.next_period(latest)).astimezone(s.tz).isoformat()}, "
            f"file {s.file_name_for(s.exports[0], latest)}"
        )


@schedules_command.command("status", context_settings=CONTEXT)
@click.option(
    "--file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Schedule file (default: STREAMPROC_SCHEDULES).",
)
def status(file: Path | None) -> None:
    """Show the last delivered period of every schedule and type (from the progress topic)."""
    from streamproc.changelog import read_to_end

    settings = _settings()
    schedules = _load(file, settings)
    try:
        records = asyncio.run(read_to_end(settings, settings.topic_export_schedules))
    except OSError as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}"
        ) from None
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        fold_progress(latest, record.key, record.value, settings.topic_export_schedules)
    for s in schedules:
        for export_type in s.exports:
            entry = latest.get(progress_key(s.name, export_type))
            if entry is None:
                click.echo(f"{s.name}:{export_type}: nothing delivered yet")
            else:
                click.echo(
                    f"{s.name}:{export_type}: delivered through {entry['period_end']} "
                    f"({entry['file']} at {entry['delivered_at']})"
                )
