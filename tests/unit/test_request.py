"""Export request parsing: defaults, DST-correct day ranges, datetime ranges, bad requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exporter.request import BadRequest, ExportRequest, parse_request
from exporter.schema import EXPORTS


def req(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_id": "r-1",
        "export_type": "messages",
        "from": "2026-01-01",
        "to": "2026-01-31",
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not ...}


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def test_minimal_defaults() -> None:
    r = parse_request(req())
    assert r == ExportRequest(
        request_id="r-1",
        export_type="messages",
        tz_name="UTC",
        tz=r.tz,
        start=utc(2026, 1, 1),
        end=utc(2026, 2, 1),
        channels=frozenset(),
        locale="en",
    )
    assert r.tz.key == "UTC"
    assert r.spec is EXPORTS["messages"]


def test_all_fields_and_unknown_extras_ignored() -> None:
    r = parse_request(
        req(
            export_type="agent_metrics",
            timezone="Europe/Madrid",
            channels=["c1", "c2", "c1"],
            locale="es",
            extra={"anything": 1},
        )
    )
    assert r.export_type == "agent_metrics"
    assert r.tz_name == "Europe/Madrid"
    assert r.start == utc(2025, 12, 31, 23)
    assert r.end == utc(2026, 1, 31, 23)
    assert r.channels == frozenset({"c1", "c2"})
    assert r.locale == "es"


@pytest.mark.parametrize("export_type", [e for e, s in EXPORTS.items() if s.needs_range])
def test_every_ranged_type_accepted(export_type: str) -> None:
    assert parse_request(req(export_type=export_type)).spec.id == export_type


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("tz", "day", "start", "length"),
    [
        ("UTC", "2026-11-01", utc(2026, 11, 1), 24 * H),
        ("America/New_York", "2026-11-01", utc(2026, 11, 1, 4), 25 * H),  # fall back
        ("America/New_York", "2026-03-08", utc(2026, 3, 8, 5), 23 * H),  # spring forward
        ("America/New_York", "2026-07-04", utc(2026, 7, 4, 4), 24 * H),
        ("Europe/Madrid", "2026-03-29", utc(2026, 3, 28, 23), 23 * H),
        ("Europe/Madrid", "2026-10-25", utc(2026, 10, 24, 22), 25 * H),
        ("Asia/Kolkata", "2026-05-01", utc(2026, 4, 30, 18, 30), 24 * H),
        ("Australia/Lord_Howe", "2026-04-05", utc(2026, 4, 4, 13), 24.5 * H),  # 30-min shift
        ("Etc/GMT+5", "2026-01-01", utc(2026, 1, 1, 5), 24 * H),
    ],
)
def test_single_day_in_zone(tz: str, day: str, start: datetime, length: timedelta) -> None:
    r = parse_request(req(timezone=tz, **{"from": day, "to": day}))
    assert r.start == start
    assert r.end is not None and r.start is not None
    assert r.end - r.start == length
    assert r.start.tzinfo is UTC and r.end.tzinfo is UTC


def test_multi_day_range_across_both_dst_changes() -> None:
    r = parse_request(
        req(timezone="America/New_York", **{"from": "2026-03-08", "to": "2026-11-01"})
    )
    assert r.start == utc(2026, 3, 8, 5)
    assert r.end == utc(2026, 11, 2, 5)
    days = (datetime(2026, 11, 2) - datetime(2026, 3, 8)).days  # noqa: DTZ001 - day count
    assert r.end - r.start == timedelta(days=days)  # the lost and the regained hour cancel


def test_skipped_midnight_starts_the_day_at_the_transition() -> None:
    # America/Santiago springs forward at 00:00 -> 01:00 on 2026-09-06.
    r = parse_request(
        req(timezone="America/Santiago", **{"from": "2026-09-06", "to": "2026-09-06"})
    )
    assert r.start == utc(2026, 9, 6, 4)
    assert r.end is not None and r.start is not None
    assert r.end - r.start == timedelta(hours=23)


@pytest.mark.parametrize(
    ("frm", "to", "start", "end"),
    [
        ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", utc(2026, 1, 1), utc(2026, 1, 2)),
        (
            "2026-11-01T00:00:00-04:00",
            "2026-11-02T00:00:00-05:00",
            utc(2026, 11, 1, 4),
            utc(2026, 11, 2, 5),
        ),
        (
            "2026-01-01t10:15:30.123456789+05:30",
            "2026-01-01 04:45:31z",
            utc(2026, 1, 1, 4, 45, 30, 123456),
            utc(2026, 1, 1, 4, 45, 31),
        ),
        (
            "2026-06-30T23:59:59.5+00:00",
            "2026-07-01T00:00:00-00:00",
            utc(2026, 6, 30, 23, 59, 59, 500000),
            utc(2026, 7, 1),
        ),
    ],
)
def test_datetime_range(frm: str, to: str, start: datetime, end: datetime) -> None:
    r = parse_request(req(timezone="America/New_York", **{"from": frm, "to": to}))
    assert (r.start, r.end) == (start, end)
    assert r.start is not None and r.start.tzinfo is UTC
    assert r.end is not None and r.end.tzinfo is UTC
    assert r.tz_name == "America/New_York"  # the zone still governs how timestamps are written


def test_datetime_range_of_exactly_400_days_is_allowed() -> None:
    r = parse_request(req(**{"from": "2025-01-01T00:00:00Z", "to": "2026-02-05T00:00:00Z"}))
    assert r.end is not None and r.start is not None
    assert r.end - r.start == timedelta(days=400)


def test_date_range_of_exactly_400_days_is_allowed() -> None:
    r = parse_request(req(**{"from": "2025-01-01", "to": "2026-02-04"}))
    assert r.end is not None and r.start is not None
    assert r.end - r.start == timedelta(days=400)


def test_open_conversations_needs_no_range() -> None:
    r = parse_request(req(export_type="conversations_open", **{"from": ..., "to": ...}))
    assert (r.start, r.end) == (None, None)
    r = parse_request(req(export_type="conversations_open", **{"from": None, "to": None}))
    assert (r.start, r.end) == (None, None)


@pytest.mark.parametrize("channels", [..., None, []])
def test_channels_absent_or_empty_means_all(channels: Any) -> None:
    assert parse_request(req(channels=channels)).channels == frozenset()


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        # not an object
        ([], "must be a JSON object, got list"),
        ("{}", "must be a JSON object, got str"),
        (None, "must be a JSON object, got NoneType"),
        # request_id
        (req(request_id=...), "missing field 'request_id'"),
        (req(request_id=None), "missing field 'request_id'"),
        (req(request_id=""), "'request_id' must be a non-empty string"),
        (req(request_id=7), "'request_id' must be a non-empty string, got 7"),
        (req(request_id="x" * 201), "'request_id' is 201 characters long; the maximum is 200"),
        # export_type
        (req(export_type=...), "missing field 'export_type'; valid types: conversations_resolved"),
        (
            req(export_type="nope"),
            "unknown export_type 'nope'; valid types: conversations_resolved",
        ),
        (req(export_type=["messages"]), "unknown export_type ['messages']"),
        # timezone
        (req(timezone="Mars/Olympus"), "unknown timezone 'Mars/Olympus'"),
        (req(timezone="America"), "unknown timezone 'America'"),  # a directory
        (req(timezone="leapseconds"), "unknown timezone 'leapseconds'"),  # not a TZif file
        (req(timezone="../../etc/passwd"), "is not a valid IANA time zone name"),
        (req(timezone="/etc/localtime"), "is not a valid IANA time zone name"),
        (req(timezone="America//New_York"), "is not a valid IANA time zone name"),
        (req(timezone="Europe/Madrid/"), "is not a valid IANA time zone name"),
        (req(timezone="zone.tab"), "is not a valid IANA time zone name"),
        (req(timezone=""), "is not a valid IANA time zone name"),
        (req(timezone="UTC\n"), "is not a valid IANA time zone name"),
        (req(timezone="localtime"), "'timezone' 'localtime' is not usable (host-dependent"),
        (req(timezone="posixrules"), "is not usable"),
        (req(timezone="right/America/New_York"), "is not usable"),
        (req(timezone=5), "'timezone' must be an IANA time zone name, got 5"),
        # range presence
        (req(**{"from": ..., "to": ...}), "missing fields 'from' and 'to' (required for messages)"),
        (req(**{"to": ...}), "missing field 'to' (required for messages)"),
        (req(**{"from": None}), "missing field 'from' (required for messages)"),
        (
            req(export_type="conversations_open"),
            "conversations_open takes no 'from'/'to' (it reflects the moment of the export)",
        ),
        (
            req(export_type="conversations_open", **{"from": ...}),
            "conversations_open takes no 'from'/'to'",
        ),
        # range format
        (req(**{"from": 20260101}), "'from' must be a date YYYY-MM-DD or an RFC 3339 datetime"),
        (req(**{"to": "2026/01/31"}), "'to' '2026/01/31' is neither a date YYYY-MM-DD nor"),
        (req(**{"from": "2026-1-1"}), "'from' '2026-1-1' is neither a date"),
        (req(**{"from": "2026-02-30"}), "'from' '2026-02-30' is not a valid date"),
        (req(**{"from": "2026-01-01T00:00:00"}), "nor an RFC 3339 datetime with an offset"),
        (req(**{"from": "2026-01-01T00:00Z"}), "is neither a date"),
        (
            req(**{"from": "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0661"}),
            "is neither a date",
        ),  # non-ASCII digits
        (
            req(**{"from": "2026-01-01T25:00:00Z", "to": "2026-01-02T00:00:00Z"}),
            "'from' '2026-01-01T25:00:00Z' is not a valid datetime",
        ),
        (
            req(**{"from": "2026-12-31T23:59:60Z", "to": "2027-01-02T00:00:00Z"}),
            "is not a valid datetime",
        ),
        (
            req(**{"from": "2026-01-01", "to": "2026-01-02T00:00:00Z"}),
            "must both be dates (YYYY-MM-DD) or both RFC 3339 datetimes, not a mix",
        ),
        (
            req(**{"from": "2026-01-01T00:00:00Z", "to": "2026-01-02"}),
            "not a mix",
        ),
        # range order and length
        (
            req(**{"from": "2026-01-02", "to": "2026-01-01"}),
            "'to' 2026-01-01 is before 'from' 2026-01-02",
        ),
        (
            req(**{"from": "2026-01-01T10:00:00Z", "to": "2026-01-01T10:00:00Z"}),
            "'to' 2026-01-01T10:00:00Z is not after 'from' 2026-01-01T10:00:00Z",
        ),
        (
            req(**{"from": "2026-01-01T10:00:00+01:00", "to": "2026-01-01T08:30:00Z"}),
            "is not after 'from'",
        ),
        (
            req(**{"from": "2025-01-01", "to": "2026-02-05"}),
            "the range is 401 days long; the maximum is 400 days",
        ),
        (
            req(**{"from": "2025-01-01T00:00:00Z", "to": "2026-02-05T00:00:00.000001Z"}),
            "the range is longer than the maximum of 400 days",
        ),
        (
            req(**{"from": "9999-12-31", "to": "9999-12-31"}),
            "the range 9999-12-31..9999-12-31 is out of bounds",
        ),
        # channels
        (req(channels="c1"), "'channels' must be a list of channel ids, got 'c1'"),
        (req(channels=["c1", ""]), "'channels' entries must be non-empty strings, got ''"),
        (req(channels=["c1", 2]), "'channels' entries must be non-empty strings, got 2"),
        # locale
        (req(locale="fr"), "unknown locale 'fr'; valid locales: en, es"),
        (req(locale="EN"), "unknown locale 'EN'"),
    ],
)
def test_bad_request(obj: Any, reason: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_request(obj)
    assert reason in info.value.reason
    assert str(info.value) == info.value.reason
    assert "\n" not in info.value.reason
    assert isinstance(info.value, ValueError)


def test_unknown_type_lists_all_valid_types() -> None:
    with pytest.raises(BadRequest) as info:
        parse_request(req(export_type="nope"))
    assert all(eid in info.value.reason for eid in EXPORTS)


def test_long_values_are_truncated_in_the_reason() -> None:
    with pytest.raises(BadRequest) as info:
        parse_request(req(timezone="A" * 5000))
    assert len(info.value.reason) < 200


def test_request_id_of_200_chars_is_fine() -> None:
    assert parse_request(req(request_id="x" * 200)).request_id == "x" * 200
