"""Live state and today's figures (streamproc.live.figures) on a hand-built day."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exporter.readmodel import ReadModel
from exporter.request import ExportRequest
from exporter.rows import Context, Directory, agent_metrics, teams, to_ms
from streamproc.live.figures import compute, day_bounds_ms, json_number, without_instant
from tests.unit.eventlog import ms
from tests.unit.live_day import live_day_model

AS_OF = ms("10:00:00")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ReadModel:
    return live_day_model(tmp_path_factory.mktemp("live") / "rm.sqlite")


def dig(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = value[part]
    return value


CASES = [
    # (as_of, timezone, scope, id, field, expected)
    (AS_OF, "UTC", "all", "all", "live.new", 2),
    (AS_OF, "UTC", "all", "all", "live.oldest_new_since", "2026-11-02T09:10:00.000Z"),
    (AS_OF, "UTC", "all", "all", "live.pending", 1),
    (AS_OF, "UTC", "all", "all", "live.locked", 1),
    (AS_OF, "UTC", "all", "all", "live.agents", {"available": 1, "away": 1, "offline": 1}),
    (AS_OF, "UTC", "all", "all", "today.received", 4),
    (AS_OF, "UTC", "all", "all", "today.resolved", 2),
    (AS_OF, "UTC", "all", "all", "today.replies", None),
    (AS_OF, "UTC", "all", "all", "today.resolved_with_reply", 1),
    (AS_OF, "UTC", "all", "all", "today.avg_first_response_ms", 100_000),
    (AS_OF, "UTC", "all", "all", "today.avg_handle_ms", 240_000),
    (AS_OF, "UTC", "all", "all", "today.csat_average", 4),
    (AS_OF, "UTC", "all", "all", "today.csat_count", 1),
    (AS_OF, "UTC", "team", "t1", "live.new", 0),
    (AS_OF, "UTC", "team", "t1", "live.oldest_new_since", None),
    (AS_OF, "UTC", "team", "t1", "live.pending", 1),
    (AS_OF, "UTC", "team", "t1", "live.locked", 0),
    (AS_OF, "UTC", "team", "t1", "live.agents", {"available": 1, "away": 0, "offline": 1}),
    (AS_OF, "UTC", "team", "t1", "today.received", 0),
    (AS_OF, "UTC", "agent", "a1", "today.received", None),
    (AS_OF, "UTC", "team", "t1", "today.resolved", 1),
    (AS_OF, "UTC", "team", "t1", "today.replies", 2),
    (AS_OF, "UTC", "agent", "a2", "today.replies", 1),
    (AS_OF, "UTC", "team", "t1", "today.avg_first_response_ms", 90_000),
    (AS_OF, "UTC", "team", "t1", "today.avg_handle_ms", 240_000),
    (AS_OF, "UTC", "team", "t1", "today.csat_count", 1),
    (AS_OF, "UTC", "team", "t2", "live.locked", 1),
    (AS_OF, "UTC", "team", "t2", "live.agents", {"available": 0, "away": 1, "offline": 0}),
    (AS_OF, "UTC", "team", "t2", "today.avg_first_response_ms", 120_000),
    (AS_OF, "UTC", "team", "t2", "today.avg_handle_ms", None),
    (AS_OF, "UTC", "team", "t2", "today.csat_count", 0),
    (AS_OF, "UTC", "agent", "a1", "live.pending", 1),
    (AS_OF, "UTC", "agent", "a1", "live.new", None),
    (AS_OF, "UTC", "agent", "a1", "today.avg_first_response_ms", 90_000),
    (AS_OF, "UTC", "agent", "a2", "live.locked", 1),
    (AS_OF, "UTC", "agent", "a3", "live.agents", {"available": 0, "away": 0, "offline": 1}),
    (AS_OF, "UTC", "channel", "ch-1", "live.new", 1),
    (AS_OF, "UTC", "channel", "ch-1", "live.oldest_new_since", "2026-11-02T09:20:00.000Z"),
    (AS_OF, "UTC", "channel", "ch-1", "today.received", 2),
    (AS_OF, "UTC", "channel", "ch-1", "today.avg_first_response_ms", 120_000),
    (AS_OF, "UTC", "channel", "ch-2", "live.pending", 1),
    (AS_OF, "UTC", "channel", "ch-2", "live.agents", None),
    (AS_OF, "UTC", "virtual_agent", "va-1", "today.resolved", 1),
    (AS_OF, "UTC", "virtual_agent", "va-1", "today.received", 1),
    (AS_OF, "UTC", "virtual_agent", "va-1", "live.new", None),
    # An earlier instant: cv1 waits in NEW and a1 holds its lock; nothing resolved yet.
    (ms("09:03:00"), "UTC", "all", "all", "live.new", 1),
    (ms("09:03:00"), "UTC", "all", "all", "live.locked", 1),
    (ms("09:03:00"), "UTC", "agent", "a1", "live.locked", 1),
    (ms("09:03:00"), "UTC", "all", "all", "today.resolved", 0),
    (ms("09:03:00"), "UTC", "all", "all", "today.avg_handle_ms", None),
    (ms("09:03:00"), "UTC", "all", "all", "today.avg_first_response_ms", 120_000),
    # Before the day's first event: only presence.
    (ms("08:45:00"), "UTC", "all", "all", "live.agents", {"available": 1, "away": 1, "offline": 1}),
    (ms("08:15:00"), "UTC", "all", "all", "live.agents", {"available": 1, "away": 0, "offline": 2}),
    # Tokyo's 2026-11-02 began at 2026-11-01 15:00 UTC: cv5 was received "today" there.
    (AS_OF, "Asia/Tokyo", "all", "all", "today.received", 5),
    (AS_OF, "Asia/Tokyo", "all", "all", "day", "2026-11-02"),
    # Los Angeles: 07:30 UTC is 23:30 PST on 2026-11-01 (a 25-hour day): cv5 only.
    (ms("07:30:00"), "America/Los_Angeles", "all", "all", "day", "2026-11-01"),
    (ms("07:30:00"), "America/Los_Angeles", "all", "all", "today.received", 1),
    (ms("07:30:00"), "America/Los_Angeles", "all", "all", "today.resolved", 0),
    (ms("07:30:00"), "America/Los_Angeles", "all", "all", "live.new", 0),
]


@pytest.mark.parametrize(("as_of", "tz", "scope", "entity", "path", "expected"), CASES)
def test_live_figures(
    model: ReadModel, as_of: int, tz: str, scope: str, entity: str, path: str, expected: Any
) -> None:
    record = compute(model.conn, as_of, tz).records[(scope, entity)]
    assert record["v"] == 1
    assert (record["scope"], record["id"], record["timezone"]) == (scope, entity, tz)
    assert dig(record, path) == expected


def test_every_directory_entity_has_a_record(model: ReadModel) -> None:
    keys = set(compute(model.conn, AS_OF, "UTC").records)
    assert keys == {
        ("all", "all"),
        *(("team", t) for t in ("t1", "t2")),
        *(("agent", a) for a in ("a1", "a2", "a3")),
        *(("channel", c) for c in ("ch-1", "ch-2")),
        ("virtual_agent", "va-1"),
    }


def test_only_as_of_differs_between_instants_without_change(model: ReadModel) -> None:
    first = compute(model.conn, ms("10:00:00"), "UTC").records
    second = compute(model.conn, ms("10:00:05"), "UTC").records
    assert first != second
    assert {k: without_instant(v) for k, v in first.items()} == {
        k: without_instant(v) for k, v in second.items()
    }


@pytest.mark.parametrize(
    ("day", "tz", "hours"),
    [("2026-11-02", "UTC", 24), ("2026-11-01", "America/Los_Angeles", 25),
     ("2026-03-29", "Europe/Paris", 23)],
)  # fmt: skip
def test_day_bounds_follow_dst(day: str, tz: str, hours: int) -> None:
    lo, hi = day_bounds_ms(datetime.fromisoformat(day).date(), ZoneInfo(tz))
    assert hi - lo == hours * 3_600_000


def _export_context(model: ReadModel, export_type: str) -> Context:
    request = ExportRequest(
        "t", export_type, "UTC", ZoneInfo("UTC"),
        datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC), frozenset(), "en",
    )  # fmt: skip
    return Context(model.conn, request, Directory.load(model.conn), AS_OF)


def test_team_and_agent_figures_equal_the_exports(model: ReadModel) -> None:
    records = compute(model.conn, AS_OF, "UTC").records
    team_rows = list(teams(_export_context(model, "teams")))
    assert {r["team_id"] for r in team_rows} == {"t1", "t2"}
    for row in team_rows:
        today = records[("team", row["team_id"])]["today"]
        assert today["resolved"] == row["resolves_with_reply"] + row["resolves_without_reply"]
        assert today["resolved_with_reply"] == row["resolves_with_reply"]
        assert today["replies"] == row["replies"]
        assert today["avg_first_response_ms"] == json_number(row["average_first_response_time"])
        assert today["avg_handle_ms"] == json_number(row["average_handle_time"])
        assert today["csat_count"] == sum(row[f"csat_with_score_{k}"] for k in range(1, 6))
    for row in agent_metrics(_export_context(model, "agent_metrics")):
        today = records[("agent", row["user_id"])]["today"]
        assert today["resolved"] == row["resolves_with_reply"] + row["resolves_without_reply"]
        assert today["avg_handle_ms"] == json_number(row["avg_handle_time_s"])
        assert today["replies"] == row["replies"]
    assert to_ms(datetime(2026, 11, 2, 10, tzinfo=UTC)) == AS_OF
