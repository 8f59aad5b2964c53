"""Command-line behaviour that needs no broker: help, and bad arguments that say how to fix them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from streamproc.cli import main


@pytest.mark.parametrize(
    "args", [[], ["kafka"], ["topics"], ["produce"], ["worker"], ["stats"], ["simulate"]]
)
def test_help(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_main_help_names_the_environment() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "STREAMPROC_BOOTSTRAP_SERVERS" in result.output
    for command in ("kafka", "topics", "simulate", "produce", "worker", "stats"):
        assert command in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["produce", "no-such-file.jsonl"], {}, "does not exist"),
        (["produce", "--rate", "0", "{file}"], {}, "not in the range x>0"),
        (["stats"], {"STREAMPROC_EVENTS_PARTITIONS": "eight"}, "STREAMPROC_EVENTS_PARTITIONS"),
        (["stats"], {"STREAMPROC_LATENESS_S": "-5"}, "must be positive"),
        (["no-such-command"], {}, "No such command"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_fix(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n")
    args = [a.replace("{file}", str(events)) for a in args]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code != 0
    assert message in result.output
