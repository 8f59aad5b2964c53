"""`streamproc kafka ...`: start, stop and inspect the project's local Kafka broker."""

from __future__ import annotations

import time

import click

from streamproc.settings import Settings, SettingsError
from streamproc.testing import broker

ENV_HELP = """\b
Environment:
  STREAMPROC_KAFKA_PORT     broker port (default 9092; the KRaft controller uses port+1)
  STREAMPROC_DATA_DIR       state dir (default ./.data); broker data, logs, pid in DATA_DIR/kafka
  STREAMPROC_CACHE_DIR      jar cache shared by checkouts (default ~/.cache/streamproc)
  STREAMPROC_KAFKA_VERSION  Kafka release (default 4.1.1)
  STREAMPROC_KAFKA_HEAP     broker JVM heap (default 512m)
  STREAMPROC_SECURITY_PROTOCOL  PLAINTEXT (default) or SASL_PLAINTEXT: then the broker
                            accepts only STREAMPROC_SASL_USERNAME/_PASSWORD (PLAIN, and
                            SCRAM-SHA-256/512 when the storage was formatted in this mode)
"""


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(
    "kafka",
    help="Run a real single-node Apache Kafka broker (KRaft) for development and tests.\n\n"
    "Needs java (17+); the first `up` also needs mvn to download the broker jars once.\n\n"
    + ENV_HELP,
)
def kafka() -> None:
    """Local Kafka broker."""


@kafka.command(
    help="Start the broker (no-op if it already runs) and wait until it serves.\n\n" + ENV_HELP
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=90.0,
    show_default=True,
    help="Seconds to wait for the started broker to answer.",
)
def up(timeout_s: float) -> None:
    """Start the broker."""
    settings = _settings()
    try:
        st = broker.up(settings, timeout_s=timeout_s)
    except broker.BrokerError as exc:
        raise click.ClickException(str(exc)) from None
    if st.warning:
        click.echo(f"warning: {st.warning}", err=True)
    if st.started_in_s is None:
        click.echo(f"broker already running on {st.bootstrap} (pid {st.pid})")
    else:
        click.echo(
            f"broker up on {st.bootstrap} ({settings.security_protocol}) in "
            f"{st.started_in_s:.1f} s (pid {st.pid}, data in {st.data_dir})"
        )


@kafka.command(
    help="Stop the broker (SIGTERM, SIGKILL after --timeout); data is kept.\n\n" + ENV_HELP
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
def down(timeout_s: float) -> None:
    """Stop the broker."""
    settings = _settings()
    before = broker.status(settings)
    if before.pid is None:
        click.echo("broker not running")
        return
    t0 = time.monotonic()
    try:
        broker.down(settings, timeout_s=timeout_s)
    except broker.BrokerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"broker stopped (pid {before.pid}) in {time.monotonic() - t0:.1f} s; "
        f"data kept in {before.data_dir}"
    )


@kafka.command(
    help="Show whether the broker runs; exit status 0 if it does, 3 if not.\n\n" + ENV_HELP
)
def status() -> None:
    """Broker status."""
    settings = _settings()
    try:
        st = broker.status(settings)
    except broker.BrokerError as exc:
        raise click.ClickException(str(exc)) from None
    if st.running:
        click.echo(f"running on {st.bootstrap} (pid {st.pid}, data in {st.data_dir})")
        return
    if st.pid is not None:
        click.echo(
            f"starting or unresponsive: pid {st.pid} alive but {st.bootstrap} "
            f"does not answer; see `kafka logs`"
        )
    else:
        click.echo(f"not running (port {st.port}, data in {st.data_dir})")
    raise click.exceptions.Exit(3)


@kafka.command(help="Print the end of the broker's log.\n\n" + ENV_HELP)
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="How many lines.",
)
def logs(lines: int) -> None:
    """Broker log tail."""
    settings = _settings()
    path = broker.broker_log(settings)
    text = broker.tail_lines(path, lines)
    if not text:
        raise click.ClickException(
            f"no broker log at {path}: has `kafka up` run with this STREAMPROC_DATA_DIR?"
        )
    click.echo(f"==> {path} <==")
    click.echo(text)
