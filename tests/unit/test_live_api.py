"""The real-time metrics API (aiohttp test client) on a read model built offline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.readmodel import ReadModel
from exporter.request import parse_request
from exporter.rows import Context, Directory, agent_metrics, teams, to_ms
from streamproc.live.api import LiveView, interval_starts, live_app
from streamproc.live.figures import compute, json_number, key_text
from tests.unit.eventlog import ms
from tests.unit.live_day import live_day_model

AS_OF = ms("10:00:00")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "rm.sqlite"
    live_day_model(path).close()
    return path


def call(
    model_path: Path,
    body: Callable[[TestClient[Any, Any], LiveView], Awaitable[Any]],
    view: LiveView | None = None,
) -> Any:
    async def go() -> Any:
        v = view or LiveView()
        async with TestClient(TestServer(live_app(model_path, v))) as client:
            return await body(client, v)

    return asyncio.run(go())


def get(model_path: Path, path: str, **params: str) -> tuple[int, Any]:
    async def body(client: TestClient[Any, Any], _view: LiveView) -> tuple[int, Any]:
        response = await client.get(path, params=params)
        return response.status, await response.json()

    result: tuple[int, Any] = call(model_path, body)
    return result


def metric(model_path: Path, scope: str, entity: str, name: str, **extra: str) -> Any:
    params = {"scope": scope, "id": entity, "metric": name, "from": "2026-11-02",
              "to": "2026-11-02", "interval": "DAY", **extra}  # fmt: skip
    status, body = get(model_path, "/api/v1/metrics", **params)
    assert status == 200, body
    return body


def _context(model_path: Path, export_type: str) -> Context:
    request = parse_request({"request_id": "x", "export_type": export_type,
                             "from": "2026-11-02", "to": "2026-11-02"})  # fmt: skip
    model = ReadModel(model_path, 7_200_000)
    return Context(model.conn, request, Directory.load(model.conn), AS_OF)


TEAM_COLUMNS = [
    ("resolves_with_reply", "resolves_with_reply"),
    ("resolves_without_reply", "resolves_without_reply"),
    ("average_first_response_ms", "average_first_response_time"),
    ("average_resolution_ms", "average_resolution_time"),
    ("handle_ms", "total_handle_time"),
    ("average_handle_ms", "average_handle_time"),
    ("contacts_helped", "contacts_helped"),
    ("replies", "replies"),
    *((f"csat_with_score_{k}", f"csat_with_score_{k}") for k in range(1, 6)),
]


@pytest.mark.parametrize(("api_metric", "column"), TEAM_COLUMNS)
def test_team_day_values_equal_the_teams_export(
    model_path: Path, api_metric: str, column: str
) -> None:
    rows = list(teams(_context(model_path, "teams")))
    assert {r["team_id"] for r in rows} == {"t1", "t2"}
    for row in rows:
        body = metric(model_path, "team", row["team_id"], api_metric)
        assert len(body["intervals"]) == 1
        assert body["intervals"][0]["value"] == body["total"] == json_number(row[column])


@pytest.mark.parametrize(
    ("api_metric", "column"),
    [("replies", "replies"), ("resolved", None), ("average_handle_ms", "avg_handle_time_s"),
     ("contacts_helped", "contacts_helped"), ("csat_with_score_4", "csat_with_score_4")],
)  # fmt: skip
def test_agent_day_values_equal_the_agent_metrics_export(
    model_path: Path, api_metric: str, column: str | None
) -> None:
    for row in agent_metrics(_context(model_path, "agent_metrics")):
        body = metric(model_path, "agent", row["user_id"], api_metric)
        expected = (
            row["resolves_with_reply"] + row["resolves_without_reply"]
            if column is None
            else row[column]
        )
        assert body["total"] == (expected if expected is None else json_number(expected))


@pytest.mark.parametrize(
    ("scope", "entity", "name", "expected"),
    [("virtual_agent", "va-1", "resolved", 1), ("virtual_agent", "va-1", "total_conversations", 1),
     ("virtual_agent", "va-1", "messages", 1), ("team", "t1", "csat_average", 4),
     ("team", "t2", "csat_count", 0), ("team", "t9", "replies", 0),
     ("agent", "a1", "replies", 2), ("team", "t1", "outbound", 2)],
)  # fmt: skip
def test_scope_values(model_path: Path, scope: str, entity: str, name: str, expected: Any) -> None:
    assert metric(model_path, scope, entity, name)["total"] == expected


def test_hour_intervals_split_the_day(model_path: Path) -> None:
    body = metric(model_path, "agent", "a1", "replies", interval="HOUR")
    values = [i["value"] for i in body["intervals"]]
    assert len(values) == 24
    assert values[9] == 2 and sum(values) == body["total"] == 2
    assert body["intervals"][9]["start"] == "2026-11-02T09:00:00+00:00"
    tokyo = metric(model_path, "agent", "a1", "replies", interval="HOUR", timezone="Asia/Tokyo")
    assert tokyo["intervals"][0]["start"] == "2026-11-02T00:00:00+09:00"
    assert tokyo["total"] == 2  # 09:00 UTC is 18:00 in Tokyo, the same day


@pytest.mark.parametrize(
    ("start", "end", "tz", "interval", "count", "first_hours"),
    [
        ("2026-03-29", "2026-03-30", "Europe/Paris", "HOUR", 23, 1),
        ("2026-11-01", "2026-11-02", "America/New_York", "HOUR", 25, 1),
        ("2026-11-01", "2026-11-02", "America/New_York", "DAY", 1, 25),
        ("2026-03-29", "2026-03-30", "Europe/Paris", "DAY", 1, 23),
        ("2026-11-02", "2026-11-03", "Asia/Kolkata", "HOUR", 24, 1),
        ("2026-10-01", "2026-11-01", "Europe/Paris", "WEEK", 5, 4 * 24),
        ("2026-01-01", "2027-01-01", "Europe/Paris", "MONTH", 12, 31 * 24),
        ("2026-11-02", "2026-11-03", "UTC", "QUARTER_HOUR", 96, 0.25),
    ],
)
def test_interval_starts_are_local_and_dst_exact(
    start: str, end: str, tz: str, interval: str, count: int, first_hours: float
) -> None:
    zone = ZoneInfo(tz)
    lo = to_ms(datetime.fromisoformat(start).replace(tzinfo=zone).astimezone(UTC))
    hi = to_ms(datetime.fromisoformat(end).replace(tzinfo=zone).astimezone(UTC))
    starts = interval_starts(lo, hi, zone, interval)
    assert len(starts) == count
    assert ((starts[1] if count > 1 else hi) - starts[0]) == first_hours * 3_600_000


@pytest.mark.parametrize(
    ("params", "code", "needle"),
    [
        ({"metric": "replies", "id": "t1", "from": "2026-11-02", "to": "2026-11-02"},
         "bad_request", "'scope' must be one of"),
        ({"scope": "team", "metric": "nope", "id": "t1", "from": "2026-11-02", "to": "2026-11-02"},
         "bad_request", "'metric' must be one of"),
        ({"scope": "team", "metric": "replies", "from": "2026-11-02", "to": "2026-11-02"},
         "bad_request", "'id' is required"),
        ({"scope": "team", "metric": "replies", "id": "t1", "from": "2026-11-02",
          "to": "2026-11-02", "interval": "YEAR"}, "bad_request", "'interval' must be one of"),
        ({"scope": "team", "metric": "replies", "id": "t1", "from": "2026-11-02",
          "to": "2026-11-02", "timezone": "Mars/Base"}, "bad_request", "timezone"),
        ({"scope": "team", "metric": "replies", "id": "t1", "from": "2026-11-02"},
         "bad_request", "'to'"),
        ({"scope": "team", "metric": "replies", "id": "t1", "from": "2026-11-02T10:05:00Z",
          "to": "2026-11-02T11:00:00Z"}, "bad_request", "quarter hour"),
        ({"scope": "team", "metric": "replies", "id": "t1", "from": "2026-11-01",
          "to": "2026-12-01", "interval": "QUARTER_HOUR"}, "too_many_intervals", "1000"),
    ],
)  # fmt: skip
def test_bad_parameters_get_a_json_400(
    model_path: Path, params: dict[str, str], code: str, needle: str
) -> None:
    status, body = get(model_path, "/api/v1/metrics", **params)
    assert status == 400
    assert body["error"]["code"] == code
    assert needle in body["error"]["message"]


def test_live_snapshots_by_scope(model_path: Path) -> None:
    view = LiveView()
    for key, record in compute(ReadModel(model_path, 7_200_000).conn, AS_OF, "UTC").records.items():
        view.update(key_text(key), record)

    async def body(client: TestClient[Any, Any], _view: LiveView) -> Any:
        teams_ = await (await client.get("/api/v1/live", params={"scope": "team"})).json()
        one = await (await client.get("/api/v1/live", params={"scope": "team", "id": "t2"})).json()
        bad = await client.get("/api/v1/live", params={"scope": "planet"})
        return teams_, one, bad.status, await bad.json()

    teams_, one, bad_status, bad = call(model_path, body, view)
    assert [r["id"] for r in teams_["records"]] == ["t1", "t2"]
    assert teams_["records"][0]["live"]["pending"] == 1
    assert [r["today"]["avg_first_response_ms"] for r in one["records"]] == [120_000]
    assert bad_status == 400 and "'scope' must be one of" in bad["error"]["message"]


def test_the_stream_sends_current_records_then_updates(model_path: Path) -> None:
    view = LiveView()
    records = compute(ReadModel(model_path, 7_200_000).conn, AS_OF, "UTC").records
    for key, record in records.items():
        view.update(key_text(key), record)

    async def read_event(response: Any) -> tuple[str, dict[str, Any]]:
        lines: dict[str, bytes] = {}
        while True:
            line = (await asyncio.wait_for(response.content.readline(), 10)).rstrip(b"\n")
            if not line:
                return lines["id"].decode(), orjson.loads(lines["data"])
            name, _, value = line.partition(b": ")
            lines[name.decode()] = value

    async def body(client: TestClient[Any, Any], v: LiveView) -> list[tuple[str, dict[str, Any]]]:
        response = await client.get("/api/v1/live/stream", params={"scope": "team"})
        assert response.headers["Content-Type"] == "text/event-stream"
        events = [await read_event(response), await read_event(response)]
        changed = {**records[("team", "t1")], "as_of": "2026-11-02T10:00:01.000Z"}
        v.update("agent:a1", records[("agent", "a1")])  # another scope: not sent
        v.update("team:t1", changed)
        events.append(await read_event(response))
        response.close()
        return events

    events = call(model_path, body, view)
    assert [key for key, _ in events] == ["team:t1", "team:t2", "team:t1"]
    assert events[2][1]["as_of"] == "2026-11-02T10:00:01.000Z"


def test_openapi_lists_the_live_paths(model_path: Path) -> None:
    status, doc = get(model_path, "/api/v1/openapi.json")
    assert status == 200
    assert {"/api/v1/metrics", "/api/v1/live", "/api/v1/live/stream"} <= set(doc["paths"])
    names = [p["name"] for p in doc["paths"]["/api/v1/metrics"]["get"]["parameters"]]
    assert names == ["metric", "scope", "id", "from", "to", "timezone", "interval"]


def test_a_missing_read_model_is_a_503(tmp_path: Path) -> None:
    status, body = get(tmp_path / "absent.sqlite", "/api/v1/metrics", scope="team", id="t1",
                       metric="replies", **{"from": "2026-11-02", "to": "2026-11-02"})  # fmt: skip
    assert status == 503 and body["error"]["code"] == "unavailable"


@pytest.mark.parametrize(
    ("name", "field"),
    [("received", "received"), ("resolved", "resolved"),
     ("resolved_with_reply", "resolved_with_reply")],
)  # fmt: skip
def test_all_and_channel_hours_add_up_to_the_feed_figures(
    model_path: Path, name: str, field: str
) -> None:
    model = ReadModel(model_path, 7_200_000)
    records = compute(model.conn, AS_OF, "UTC").records
    model.close()
    keys = [k for k in records if k[0] in ("all", "channel")]
    assert ("all", "all") in keys and len(keys) > 1
    for scope, entity in keys:
        body = metric(
            model_path,
            scope,
            entity,
            name,
            interval="HOUR",
            **{"from": "2026-11-02T00:00:00Z", "to": "2026-11-02T10:00:00Z"},
        )
        values = [i["value"] for i in body["intervals"]]
        assert len(values) == 10  # 00:00 .. 10:00 (the feed's day up to its as_of)
        assert sum(values) == body["total"] == records[(scope, entity)]["today"][field]
    # The per-channel counts split the whole inbox's (every conversation has a channel here).
    channels = sum(metric(model_path, s, e, name)["total"] for s, e in keys if s == "channel")
    assert channels == metric(model_path, "all", "all", name)["total"]


def test_scope_all_needs_no_id_and_takes_only_all(model_path: Path) -> None:
    params = {"scope": "all", "metric": "received", "from": "2026-11-02", "to": "2026-11-02"}
    status, body = get(model_path, "/api/v1/metrics", **params)
    assert status == 200 and body["id"] == "all" and body["total"] > 0
    status, body = get(model_path, "/api/v1/metrics", **params, id="t1")
    assert status == 400 and "'id' of scope all is 'all'" in body["error"]["message"]


def test_team_received_counts_conversations_entering_its_queue(tmp_path: Path) -> None:
    """A team receives a conversation when it enters the team's queue (NEW with its
    team_id, else the AGENT actor's primary team); a transfer counts for both teams, a
    conversation queued twice in a day once; the API's day total equals the feed's."""
    from tests.offline import ingest, load_model
    from tests.unit.live_day import live_day_log

    log = live_day_log()
    log.created("cv6", "09:45:00", "ch-1").queue("cv6", "09:45:00", team="t1")
    log.queue("cv6", "09:50:00", started_by="TRANSFERRED", team="t2")
    log.created("cv7", "09:46:00", "ch-2").queue("cv7", "09:46:00", team="t1")
    log.resolve("cv7", "09:47:00").queue("cv7", "09:55:00", started_by="REOPENED", team="t1")
    log.created("cv8", "09:48:00", "ch-2")
    log.queue("cv8", "09:48:00", started_by="MANUAL", actor=("AGENT", "a2"))  # a2: t2
    path = tmp_path / "rm.sqlite"
    stores, _ = ingest(log.lines)
    model = load_model(stores, path)
    records = compute(model.conn, AS_OF, "UTC").records
    model.close()
    assert records[("team", "t1")]["today"]["received"] == 2  # cv6, cv7
    assert records[("team", "t2")]["today"]["received"] == 2  # cv6 (transfer), cv8
    for team in ("t1", "t2"):
        body = metric(path, "team", team, "received", interval="HOUR")
        assert body["total"] == records[("team", team)]["today"]["received"]
        assert body["intervals"][9]["value"] == 2
