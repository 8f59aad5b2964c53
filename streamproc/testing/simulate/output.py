"""The simulator's outputs: the line iterator, a JSON-lines file with its summary, the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from os import PathLike
from typing import IO, Final

import click

from streamproc.testing.simulate.config import (
    EVENT_TYPES,
    MALFORMED_KINDS,
    SimulationConfig,
    SimulationConfigError,
    SimulationSummary,
    from_ms,
    parse_start,
)
from streamproc.testing.simulate.flows import Simulator
from streamproc.testing.simulate.stream import DUPLICATE, VALID


def simulate(config: SimulationConfig) -> Iterator[bytes]:
    """JSON lines (bytes, no line end) in arrival order; see SimulationConfig for the noise."""
    for record in Simulator(config).records():
        yield record[5]


def _write(config: SimulationConfig, out: IO[bytes]) -> SimulationSummary:
    counts = dict.fromkeys(EVENT_TYPES, 0)
    bad = dict.fromkeys(MALFORMED_KINDS, 0)
    duplicates = lines = 0
    first = last = None
    chunk: list[bytes] = []
    for _arrival, _seq, kind, name, occ, line in Simulator(config).records():
        chunk.append(line)
        lines += 1
        if kind == VALID:
            counts[name] += 1
            first = occ if first is None or occ < first else first
            last = occ if last is None or occ > last else last
        elif kind == DUPLICATE:
            duplicates += 1
        else:
            bad[name] += 1
        if len(chunk) >= 4096:
            out.write(b"\n".join(chunk) + b"\n")
            chunk.clear()
    if chunk:
        out.write(b"\n".join(chunk) + b"\n")
    return SimulationSummary(
        counts=counts,
        duplicates=duplicates,
        malformed=sum(bad.values()),
        malformed_by_kind=bad,
        lines=lines,
        first_occurred_at=None if first is None else from_ms(first),
        last_occurred_at=None if last is None else from_ms(last),
    )


def write_jsonl(config: SimulationConfig, path: str | PathLike[str]) -> SimulationSummary:
    """Write the simulation to ``path`` (one line per event, ``\\n`` ends) and summarise it."""
    with open(path, "wb") as out:
        return _write(config, out)


_OPTION_OF_FIELD: Final = {
    "seed": "--seed", "days": "--days", "conversations": "--conversations",
    "duplicates": "--duplicates", "shuffle_seconds": "--shuffle-seconds",
    "malformed": "--malformed", "start": "--start", "agents": "--agents", "teams": "--teams",
}  # fmt: skip


@click.command("simulate")
@click.option(
    "--seed", type=int, required=True, help="Random seed (integer >= 0); same seed, same bytes."
)
@click.option("--days", type=int, default=1, show_default=True, help="Days to simulate (1..3660).")
@click.option(
    "--conversations",
    type=int,
    default=200,
    show_default=True,
    help="New conversations per day (1..100000).",
)
@click.option(
    "--duplicates",
    type=float,
    default=0.05,
    show_default=True,
    help="Probability in [0, 1) that an event is delivered twice.",
)
@click.option(
    "--shuffle-seconds",
    type=int,
    default=300,
    show_default=True,
    help="Max arrival delay after occurred_at, in seconds (0..86400).",
)
@click.option(
    "--malformed",
    type=float,
    default=0.005,
    show_default=True,
    help="Probability in [0, 1), per event, of a bad line next to it.",
)
@click.option(
    "--start",
    default="2026-11-02",
    show_default=True,
    help="Start: YYYY-MM-DD (midnight UTC) or an RFC 3339 datetime.",
)
@click.option("--agents", type=int, default=12, show_default=True, help="Initial agents (2..999).")
@click.option("--teams", type=int, default=3, show_default=True, help="Teams (1..min(agents, 99)).")
@click.option("--out", required=True, help="Output JSON-lines file; '-' for stdout.")
def simulate_command(
    seed: int, days: int, conversations: int, duplicates: float, shuffle_seconds: int,
    malformed: float, start: str, agents: int, teams: int, out: str,
) -> None:  # fmt: skip
    """Generate a deterministic, realistic stream of inbox events (JSON lines, docs/events.md).

    Events arrive slightly out of order (up to --shuffle-seconds), some twice, and a few
    lines are malformed, as a real upstream would deliver them. A summary goes to stderr.
    """
    try:
        start_at = parse_start(start)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--start'") from None
    try:
        config = SimulationConfig(
            seed=seed,
            days=days,
            conversations=conversations,
            duplicates=duplicates,
            shuffle_seconds=shuffle_seconds,
            malformed=malformed,
            start=start_at,
            agents=agents,
            teams=teams,
        )
    except SimulationConfigError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{_OPTION_OF_FIELD[exc.field]}'") from None
    if out == "-":
        summary = _write(config, click.get_binary_stream("stdout"))
    else:
        try:
            summary = write_jsonl(config, out)
        except OSError as exc:
            raise click.FileError(out, hint=exc.strerror or str(exc)) from None
    click.echo(summary.format_table(), err=True)
