"""The schedule file at the exporter's start and in `streamproc schedules check`."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from exporter.schedule_cli import schedules_command
from exporter.scheduler import ScheduleRunner, read_schedule_file
from streamproc.settings import Settings

GOOD = """
[[schedule]]
name = "daily-ops"
exports = ["agent_metrics"]
cadence = "daily at 06:00"
timezone = "Europe/Madrid"
destination = { type = "directory", path = "/srv/exports" }
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[schedule]]\nname = 'x'\n", "'exports' must be a non-empty list"),
        ("[[schedule]\n", "not valid TOML"),
    ],
)
def test_a_bad_schedule_file_turns_schedules_off_with_a_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, message: str
) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(text)
    settings = replace(Settings(), schedules=path)
    with caplog.at_level(logging.ERROR):
        assert ScheduleRunner.from_settings(settings, None) is None  # type: ignore[arg-type]
    assert "scheduled exports are OFF" in caplog.text
    assert str(path) in caplog.text and message in caplog.text
    with pytest.raises(ValueError, match=message):
        read_schedule_file(path)


def test_check_shows_the_schedules(tmp_path: Path) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(GOOD)
    result = CliRunner().invoke(schedules_command, ["check", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert "daily-ops: agent_metrics; daily at 06:00 (Europe/Madrid)" in result.output
    assert "file daily-ops-agent_metrics-" in result.output


def test_check_refuses_a_bad_file_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(GOOD.replace("daily at 06:00", "daily at 6"))
    result = CliRunner().invoke(schedules_command, ["check", "--file", str(path)])
    assert result.exit_code == 1
    assert "schedule #1 ('daily-ops'): 'cadence' must be" in result.output


def test_check_without_a_file_says_how_to_give_one() -> None:
    result = CliRunner().invoke(schedules_command, ["check"], env={"STREAMPROC_SCHEDULES": ""})
    assert result.exit_code == 2
    assert "STREAMPROC_SCHEDULES" in result.output
