"""Schedule file parsing, cadences, periods and due times (DST exact); pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exporter.request import parse_request
from exporter.schedules import (
    DirectoryDestination,
    Schedule,
    ScheduleError,
    SftpDestination,
    load_schedules,
    parse_request_id,
    parse_schedule,
)

H = timedelta(hours=1)


def schedule(**overrides: Any) -> Schedule:
    entry: dict[str, Any] = {
        "name": "ops",
        "exports": ["messages"],
        "cadence": "daily at 06:00",
        "timezone": "America/New_York",
        "destination": {"type": "directory", "path": "/srv/exports"},
    }
    entry.update(overrides)
    return parse_schedule(entry)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- cadences ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("hourly", "hourly"),
        ("hourly at :15", "hourly at :15"),
        ("daily at 06:00", "daily at 06:00"),
        ("Daily at 23:59", "daily at 23:59"),
        ("weekly on monday at 07:30", "weekly on monday at 07:30"),
        ("weekly on Sunday at 00:00", "weekly on sunday at 00:00"),
    ],
)
def test_cadences_parse(text: str, described: str) -> None:
    assert schedule(cadence=text).cadence.describe() == described


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("daily", "'cadence' must be"),
        ("daily at 6:00", "'cadence' must be"),
        ("daily at 24:00", "not a time"),
        ("hourly at :60", "minute must be 00-59"),
        ("weekly on funday at 07:00", "unknown weekday"),
        ("every day", "'cadence' must be"),
        (5, "'cadence' must be"),
    ],
)
def test_bad_cadences_are_refused(text: Any, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        schedule(cadence=text)


# -- periods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/New_York", "2026-03-08", 23),  # spring forward
        ("America/New_York", "2026-11-01", 25),  # fall back
        ("America/New_York", "2026-11-02", 24),
        ("Europe/Madrid", "2026-03-29", 23),
        ("Europe/Madrid", "2026-10-25", 25),
        ("Asia/Kolkata", "2026-03-29", 24),
        ("UTC", "2026-10-25", 24),
        ("America/Santiago", "2026-09-06", 23),  # the local midnight itself is skipped
    ],
)
def test_a_daily_period_is_the_whole_local_day(zone: str, day: str, hours: int) -> None:
    s = schedule(timezone=zone)
    tz = ZoneInfo(zone)
    noon = datetime.fromisoformat(f"{day}T12:00").replace(tzinfo=tz)
    period = s.period_containing(noon)
    assert period.end - period.start == hours * H
    assert period.local_start.date().isoformat() == day
    # exactly what an on-demand request for that day covers
    request = parse_request(s.request("messages", period))
    assert (request.start, request.end) == (period.start, period.end)
    assert s.request("messages", period)["from"] == s.request("messages", period)["to"] == day


def test_a_week_with_a_dst_change_has_169_hours() -> None:
    s = schedule(cadence="weekly on monday at 07:00")
    period = s.period_containing(utc(2026, 10, 30, 12))
    assert period.local_start.isoformat() == "2026-10-26T00:00:00-04:00"
    assert period.local_end.isoformat() == "2026-11-02T00:00:00-05:00"
    assert period.end - period.start == 169 * H
    request = s.request("teams", period)
    assert (request["from"], request["to"]) == ("2026-10-26", "2026-11-01")
    parsed = parse_request(request)
    assert (parsed.start, parsed.end) == (period.start, period.end)


def test_the_repeated_hour_gives_two_hourly_periods_with_distinct_ids() -> None:
    s = schedule(cadence="hourly")
    first = s.period_containing(utc(2026, 11, 1, 5, 30))  # 01:30 EDT
    second = s.next_period(first)  # 01:00 EST: the same wall hour again
    assert first.local_start.isoformat() == "2026-11-01T01:00:00-04:00"
    assert second.local_start.isoformat() == "2026-11-01T01:00:00-05:00"
    assert first.end == second.start and second.end - second.start == H
    assert s.request_id("messages", first) != s.request_id("messages", second)
    assert s.file_name_for("messages", first) != s.file_name_for("messages", second)
    for period in (first, second):
        parsed = parse_request(s.request("messages", period))
        assert (parsed.start, parsed.end) == (period.start, period.end)


def test_hourly_periods_follow_local_hours_in_a_half_hour_zone() -> None:
    s = schedule(cadence="hourly", timezone="Asia/Kolkata")
    period = s.period_containing(utc(2026, 11, 3, 12, 0))
    assert (period.start, period.end) == (utc(2026, 11, 3, 11, 30), utc(2026, 11, 3, 12, 30))
    assert period.local_start.minute == 0


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/Madrid", "Australia/Lord_Howe", "America/Santiago"]
)
@pytest.mark.parametrize(
    ("cadence", "count", "lengths"),
    [
        ("hourly", 24 * 366, {0.5, 1, 1.5}),
        ("daily at 00:00", 366, {23, 23.5, 24, 24.5, 25}),
        ("weekly on wednesday at 00:00", 53, {167, 167.5, 168, 168.5, 169}),
    ],
)
def test_periods_tile_a_year_without_gaps(
    zone: str, cadence: str, count: int, lengths: set[float]
) -> None:
    s = schedule(timezone=zone, cadence=cadence)
    period = s.period_containing(utc(2026, 1, 1))
    for _ in range(count):
        following = s.next_period(period)
        assert following.start == period.end
        assert (period.end - period.start) / H in lengths
        assert s.period_containing(period.start) == period
        assert s.period_containing(period.end - timedelta(microseconds=1)) == period
        assert s.due_at(period) >= period.end
        period = following


# -- due times -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "zone", "period_day", "due"),
    [
        ("daily at 06:00", "America/New_York", "2026-11-01", "2026-11-02T06:00:00-05:00"),
        ("daily at 00:00", "Europe/Madrid", "2026-03-28", "2026-03-29T00:00:00+01:00"),
        # 02:30 does not exist on 2026-03-29 in Madrid: it runs just after the skipped hour
        ("daily at 02:30", "Europe/Madrid", "2026-03-28", "2026-03-29T03:30:00+02:00"),
        # 01:30 happens twice on 2026-11-01 in New York: the first time
        ("daily at 01:30", "America/New_York", "2026-10-31", "2026-11-01T01:30:00-04:00"),
        ("weekly on monday at 07:30", "UTC", "2026-11-02", "2026-11-09T07:30:00+00:00"),
    ],
)
def test_due_times(cadence: str, zone: str, period_day: str, due: str) -> None:
    s = schedule(cadence=cadence, timezone=zone)
    noon = datetime.fromisoformat(f"{period_day}T12:00").replace(tzinfo=ZoneInfo(zone))
    assert s.due_at(s.period_containing(noon)) == datetime.fromisoformat(due)


def test_hourly_at_a_minute_is_due_that_long_after_the_hour() -> None:
    s = schedule(cadence="hourly at :15")
    period = s.period_containing(utc(2026, 11, 1, 6, 30))
    assert s.due_at(period) == period.end + timedelta(minutes=15)


def test_missed_periods_are_caught_up_in_order_up_to_until() -> None:
    s = schedule(start="2026-10-30", until="2026-11-02")
    got = [p.local_start.date().isoformat() for p in s.due_periods(None, utc(2026, 12, 1))]
    assert got == ["2026-10-30", "2026-10-31", "2026-11-01"]
    after = s.period_containing(utc(2026, 10, 31, 12)).end
    assert [p.local_start.day for p in s.due_periods(after, utc(2026, 12, 1))] == [1]


def test_only_due_periods_are_run() -> None:
    s = schedule(start="2026-11-01")
    # 2026-11-02 05:59 EST: Nov 1 is not due before 06:00
    assert list(s.due_periods(None, utc(2026, 11, 2, 10, 59))) == []
    (period,) = s.due_periods(None, utc(2026, 11, 2, 11, 0))
    assert period.local_start.day == 1


def test_without_start_only_the_latest_due_period_runs() -> None:
    s = schedule()
    (period,) = s.due_periods(None, utc(2026, 11, 20, 10))  # 05:00 EST: the 18th is latest
    assert period.local_start.date().isoformat() == "2026-11-18"


def test_request_ids_are_deterministic_and_decode() -> None:
    s = schedule(exports=["messages", "teams"], channels=["b", "a"], locale="es")
    period = s.period_containing(utc(2026, 11, 2, 12))
    request = s.request("teams", period)
    assert request == {
        "request_id": "schedule:ops:teams:2026-11-02T00:00:00-05:00",
        "export_type": "teams",
        "timezone": "America/New_York",
        "channels": ["a", "b"],
        "locale": "es",
        "from": "2026-11-02",
        "to": "2026-11-02",
    }
    run = parse_request_id(request["request_id"])
    assert run is not None
    assert (run.schedule, run.export_type, run.period_start) == ("ops", "teams", period.start)
    assert parse_request_id("cli-123") is None
    assert parse_request_id("schedule:x:y:not-a-date") is None


def test_conversations_open_has_no_range() -> None:
    s = schedule(exports=["conversations_open"])
    request = s.request("conversations_open", s.period_containing(utc(2026, 11, 2, 12)))
    assert "from" not in request and "to" not in request
    parse_request(request)


def test_file_names() -> None:
    s = schedule(
        exports=["messages", "teams"], file_name="{schedule}-{type}-{period_start:%Y%m%d}.csv"
    )
    period = s.period_containing(utc(2026, 11, 2, 12))
    assert s.file_name_for("teams", period) == "ops-teams-20261102.csv"
    h = schedule(cadence="hourly")
    assert h.file_name_for("messages", h.period_containing(utc(2026, 11, 1, 6, 30))) == (
        "ops-messages-20261101T0600Z.csv"
    )


# -- validation ----------------------------------------------------------------------------


SFTP = {"type": "sftp", "host": "h", "user": "u", "key_file": "/k", "path": "in"}


SFTP = {"type": "sftp", "host": "h", "user": "u", "key_file": "/k", "path": "in"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "a:b"}, "'name' must be"),
        ({"name": ""}, "'name' must be"),
        ({"exports": []}, "non-empty list"),
        ({"exports": ["nope"]}, "unknown export type 'nope'"),
        ({"exports": ["teams", "teams"]}, "twice"),
        ({"timezone": "Mars/Base"}, "unknown timezone"),
        ({"timezone": "../etc/passwd"}, "not a valid IANA"),
        ({"locale": "fr"}, "unknown locale"),
        ({"channels": "ch-1"}, "'channels' must be a list"),
        ({"destination": None}, "'destination' is required"),
        ({"destination": {"type": "ftp"}}, "'directory' or 'sftp'"),
        ({"destination": {"type": "directory", "path": "rel/dir"}}, "absolute"),
        ({"destination": {"type": "directory", "path": "/x", "mode": 1}}, "unknown destination"),
        ({"destination": SFTP}, "'known_hosts' must be a non-empty string"),
        (
            {"destination": {**SFTP, "known_hosts": "/kh", "port": 70000}},
            "'port' must be a number from 1 to 65535",
        ),
        ({"destination": {**SFTP, "known_hosts": "kh"}}, "'known_hosts' must be an absolute"),
        ({"start": "2026-11-05", "until": "2026-11-01"}, "'until' must be after 'start'"),
        ({"start": "2026-11-05T00:00:00"}, "needs a UTC offset"),
        ({"start": "yesterday"}, "neither a date"),
        ({"file_name": "{schedule}-{when}.csv"}, r"uses \{when\}"),
        ({"file_name": "{schedule}.csv"}, "gives the same name"),
        ({"exports": ["messages", "teams"], "file_name": "{period_start:%Y%m%d}.csv"}, "same name"),
        ({"cadence": "hourly", "file_name": "{type}-{period_start:%Y%m%d%H}.csv"}, "same name"),
        ({"file_name": "{type}/{period_start:%Y%m%d}.csv"}, "must not"),
        ({"file_name": ".{type}-{period_start:%Y%m%d}.csv"}, "must not"),
        ({"file_name": "{type}-{period_start:%Y%m%d}.part"}, r"\.part"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_bad_schedules_get_clear_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        schedule(**overrides)


def test_hourly_with_an_offset_in_the_name_is_accepted() -> None:
    s = schedule(cadence="hourly", file_name="{type}-{period_start:%Y%m%dT%H%z}.csv")
    assert s.cadence.kind == "hourly"


FILE = """
[[schedule]]
name = "daily-ops"
exports = ["conversations_resolved", "agent_metrics"]
cadence = "daily at 06:00"
timezone = "Europe/Madrid"
channels = ["ch-1"]
locale = "es"
start = 2026-11-01
destination = { type = "directory", path = "/srv/exports" }

[[schedule]]
name = "weekly-sftp"
exports = ["teams"]
cadence = "weekly on monday at 07:30"
timezone = "America/New_York"
file_name = "{schedule}-{type}-{period_start:%Y%m%d}-{period_end:%Y%m%d}.csv"
until = 2027-01-01T00:00:00Z

[schedule.destination]
type = "sftp"
host = "sftp.example.com"
user = "exports"
key_file = "/etc/streamproc/id_ed25519"
known_hosts = "/etc/streamproc/known_hosts"
path = "incoming/inbox"
"""


def test_a_whole_file() -> None:
    daily, weekly = load_schedules(FILE)
    assert daily.exports == ("conversations_resolved", "agent_metrics")
    assert daily.destination == DirectoryDestination("/srv/exports")
    assert daily.start == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert daily.channels == ("ch-1",) and daily.locale == "es"
    assert isinstance(weekly.destination, SftpDestination)
    assert weekly.destination.port == 22 and weekly.destination.attempts == 5
    assert weekly.until == utc(2027, 1, 1)
    assert weekly.destination.describe() == "sftp://exports@sftp.example.com:22/incoming/inbox"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[schedule]\nname=1", "not valid TOML"),
        ("name = 'x'", "unknown top-level key"),
        ("schedule = 3", "array of tables"),
        (FILE + FILE.split("[[schedule]]")[1].join(["[[schedule]]", ""]), "used twice"),
        ("[[schedule]]\nname = 'x'", "schedule #1 \\('x'\\): 'exports'"),
    ],
)
def test_bad_files_get_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        load_schedules(text, origin="s.toml")


def test_an_empty_file_has_no_schedules() -> None:
    assert load_schedules("") == []
