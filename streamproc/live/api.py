"""The real-time metrics HTTP API (aiohttp routes): interval metrics, live snapshots, SSE."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from exporter.request import BadRequest, parse_request
from exporter.rows import Directory, at, to_ms
from streamproc import keys
from streamproc.live.figures import SCOPES, json_number, team_queue_entries
from streamproc.metrics.buckets import BUCKET_MS
from streamproc.settings import Settings

INTERVALS: Final = ("QUARTER_HOUR", "HOUR", "DAY", "WEEK", "MONTH")
MAX_INTERVALS: Final = 1000
HEARTBEAT_S: Final = 15.0

Contribution = tuple[str, dict[str, Any]]
"""(conversation id, the conversation's contribution to one bucket)."""

log = logging.getLogger(__name__)


def _sum(name: str) -> Callable[[list[Contribution]], int]:
    def total(rows: list[Contribution]) -> int:
        return sum(int(c.get(name, 0)) for _, c in rows)

    return total


def _ratio(numerator: str, denominator: str) -> Callable[[list[Contribution]], Fraction | None]:
    def ratio(rows: list[Contribution]) -> Fraction | None:
        below = _sum(denominator)(rows)
        return Fraction(_sum(numerator)(rows), below) if below else None

    return ratio


def _distinct(name: str) -> Callable[[list[Contribution]], int]:
    def count(rows: list[Contribution]) -> int:
        return len({v for _, c in rows for v in c.get(name, ())})

    return count


def _resolved(rows: list[Contribution]) -> int:
    return _sum("resolves_with_reply")(rows) + _sum("resolves_without_reply")(rows)


def _csat_count(rows: list[Contribution]) -> int:
    return sum(_sum(f"csat_{k}")(rows) for k in range(1, 6))


def _csat_average(rows: list[Contribution]) -> Fraction | None:
    count = _csat_count(rows)
    return Fraction(sum(k * _sum(f"csat_{k}")(rows) for k in range(1, 6)), count) if count else None


def _average_handle(rows: list[Contribution]) -> Fraction | None:
    conversations = {cid for cid, c in rows if c.get("handle_sessions")}
    return Fraction(_sum("handle_ms")(rows), len(conversations)) if conversations else None


def _conversations(name: str) -> Callable[[list[Contribution]], int]:
    def count(rows: list[Contribution]) -> int:
        return len({cid for cid, c in rows if c.get(name)})

    return count


_AGENT: Final[dict[str, Callable[[list[Contribution]], Any]]] = {
    "replies": _sum("replies"),
    "resolved": _resolved,
    "resolves_with_reply": _sum("resolves_with_reply"),
    "resolves_without_reply": _sum("resolves_without_reply"),
    "handle_ms": _sum("handle_ms"),
    "no_reply_ms": _sum("no_reply_ms"),
    "cherry_pick_ms": _sum("cherry_pick_ms"),
    "average_handle_ms": _average_handle,
    "contacts_helped": _distinct("contacts"),
    "tags_added": _sum("tags_added"),
    "topics_added": _sum("topics_added"),
    "csat_count": _csat_count,
    "csat_average": _csat_average,
    **{f"csat_with_score_{k}": _sum(f"csat_{k}") for k in range(1, 6)},
}


@dataclass(frozen=True)
class FromFacts:
    """A metric read from the read model's facts instead of the 15-minute buckets:
    ``run(conn, query, interval starts)`` gives the response body."""

    run: Callable[[sqlite3.Connection, MetricsQuery, list[int]], dict[str, Any]]


_TEAM_RECEIVED: Final = FromFacts(lambda conn, q, starts: _team_received(conn, q, starts))
_COUNTED: Final = FromFacts(lambda conn, q, starts: _fact_metric(conn, q, starts))
_TEAM: Final = {
    "received": _TEAM_RECEIVED,
    **_AGENT,
    "outbound": _sum("outbound"),
    "first_responses": _sum("first_responses"),
    "average_first_response_ms": _ratio("first_response_ms", "first_responses"),
    "average_resolution_ms": _ratio("resolution_ms", "resolutions_timed"),
}
_VIRTUAL_AGENT: Final = {
    "total_conversations": _conversations("messages"),
    "messages": _sum("messages"),
    "resolved": _sum("resolved"),
    "handovers": _sum("handovers"),
    "handover_errors": _sum("handover_errors"),
    "topic_applications": _sum("topic_applications"),
    "tag_applications": _sum("tag_applications"),
    "tagged_messages": _distinct("tagged_messages"),
}
_LABEL: Final = {"applications": _sum("applications")}
_RESOLUTIONS: Final = (
    "SELECT r.t, {weight} FROM resolutions r"
    " LEFT JOIN conversations c ON c.conversation_id = r.conversation_id"
    " WHERE r.t >= :lo AND r.t < :hi AND (:channel IS NULL OR c.channel_id = :channel)"
)
_FACTS: Final = {
    "received": "SELECT created_t, 1 FROM conversations WHERE created_t >= :lo"
    " AND created_t < :hi AND (:channel IS NULL OR channel_id = :channel)",
    "resolved": _RESOLUTIONS.format(weight="1"),
    "resolved_with_reply": _RESOLUTIONS.format(weight="r.with_reply"),
}
"""Whole-inbox / per-channel metrics: ``(event time, weight)`` rows of the read model's
facts, summed per interval (the live feed's ``received`` / ``resolved`` /
``resolved_with_reply`` of the all and channel scopes, per interval)."""
METRICS: Final[dict[str, dict[str, Any]]] = {
    "agent": _AGENT,
    "team": _TEAM,
    "virtual_agent": _VIRTUAL_AGENT,
    "topic": _LABEL,
    "tag": _LABEL,
    "all": dict.fromkeys(_FACTS, _COUNTED),
    "channel": dict.fromkeys(_FACTS, _COUNTED),
}
"""Metrics per scope of /api/v1/metrics (docs/live.md): computed from the buckets, or
(``FromFacts``) from the read model's conversation, resolution and status-change facts."""
ALL_ID: Final = "all"
_DIMENSION: Final = {"agent": "agent", "team": "team", "virtual_agent": "va", "topic": "topic",
                     "tag": "tag"}  # fmt: skip


class ApiError(Exception):
    """A bad request: 400 with ``{"error": {"code", "message"}}``."""

    def __init__(self, message: str, code: str = "bad_request", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def error_response(message: str, code: str, status: int) -> web.Response:
    """A JSON error body."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


# -- intervals in a time zone ------------------------------------------------------------


def _label(moment: datetime, interval: str) -> tuple[Any, ...]:
    """Which interval of kind ``interval`` the local ``moment`` falls in."""
    if interval == "QUARTER_HOUR":
        return (moment.astimezone(UTC),)
    if interval == "HOUR":
        return (moment.date(), moment.hour, moment.utcoffset())
    if interval == "DAY":
        return (moment.date(),)
    if interval == "WEEK":
        return tuple(moment.isocalendar()[:2])
    return (moment.year, moment.month)


def interval_starts(start_ms: int, end_ms: int, tz: ZoneInfo, interval: str) -> list[int]:
    """Starts (epoch ms) of the intervals covering ``[start, end)``, the first one being
    ``start``: a new interval begins at each quarter hour whose local hour (with its
    offset: DST's repeated hour is two hours) / date / ISO week / month differs from the
    previous one's, so 23- and 25-hour days and 30/45-minute zones are exact."""
    starts = [start_ms]
    previous = _label(at(start_ms).astimezone(tz), interval)  # type: ignore[union-attr]
    t = start_ms + BUCKET_MS
    while t < end_ms:
        current = _label(at(t).astimezone(tz), interval)  # type: ignore[union-attr]
        if current != previous:
            starts.append(t)
            if len(starts) > MAX_INTERVALS:
                raise ApiError(
                    f"the range holds more than {MAX_INTERVALS} {interval} intervals; "
                    "narrow it or choose a longer interval",
                    "too_many_intervals",
                )
            previous = current
        t += BUCKET_MS
    return starts


# -- the query ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsQuery:
    """A validated /api/v1/metrics request."""

    metric: str
    scope: str
    entity: str
    start_ms: int
    end_ms: int
    tz_name: str
    tz: ZoneInfo
    interval: str


def parse_metrics_query(params: Any) -> MetricsQuery:
    """Validate the query string (ApiError with a message saying how to fix it)."""
    scope = params.get("scope")
    if scope not in METRICS:
        raise ApiError(f"'scope' must be one of {', '.join(METRICS)}; got {_show(scope)}")
    metric = params.get("metric")
    if metric not in METRICS[scope]:
        raise ApiError(
            f"'metric' must be one of {', '.join(METRICS[scope])} for scope {scope};"
            f" got {_show(metric)}"
        )
    entity = params.get("id", ALL_ID if scope == "all" else None)
    if not entity or len(entity) > 256:
        raise ApiError("'id' is required: the agent/team/virtual agent/topic/tag/channel id")
    if scope == "all" and entity != ALL_ID:
        raise ApiError(f"'id' of scope all is 'all' (or leave it out); got {_show(entity)}")
    interval = params.get("interval", "DAY")
    if interval not in INTERVALS:
        raise ApiError(f"'interval' must be one of {', '.join(INTERVALS)}; got {_show(interval)}")
    request = {"request_id": "api", "export_type": "teams",
               "timezone": params.get("timezone", "UTC"),
               "from": params.get("from"), "to": params.get("to")}  # fmt: skip
    try:
        parsed = parse_request(request)
    except BadRequest as exc:
        raise ApiError(str(exc).replace("(required for teams)", "(required)")) from None
    assert parsed.start is not None and parsed.end is not None  # noqa: S101 - teams has a range
    start_ms, end_ms = to_ms(parsed.start), to_ms(parsed.end)
    if start_ms % BUCKET_MS or end_ms % BUCKET_MS:
        raise ApiError(
            "'from' and 'to' must fall on a quarter hour (the aggregates are 15-minute"
            " buckets); use dates or times like 10:15:00"
        )
    return MetricsQuery(metric, scope, entity, start_ms, end_ms, parsed.tz_name, parsed.tz,
                        interval)  # fmt: skip


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _primary_teams(conn: sqlite3.Connection) -> dict[str, str]:
    rows = conn.execute(
        "SELECT id, json_extract(fields, '$.team_id') FROM directory WHERE kind = 'agent'"
    )
    return {agent: team for agent, team in rows if team is not None}


def _owner(entity_text: str) -> str:
    """The id a compound bucket entity (``va|channel``, ``topic|channel``) counts for."""
    return keys.split(entity_text)[0]


def query_metrics(conn: sqlite3.Connection, q: MetricsQuery) -> dict[str, Any]:
    """The metric per interval of the query, from the read model's 15-minute buckets."""
    starts = interval_starts(q.start_ms, q.end_ms, q.tz, q.interval)
    how = METRICS[q.scope][q.metric]
    if isinstance(how, FromFacts):
        return how.run(conn, q, starts)
    dimension = _DIMENSION[q.scope]
    if q.scope == "agent":
        where, params = "entity = ?", [keys.entity(q.entity)]
    elif q.scope == "team":
        # The team's own entity and ``~agent`` of every agent whose primary team it is now.
        primary_of_team = [a for a, t in _primary_teams(conn).items() if t == q.entity]
        entities = [keys.team_entity(q.entity, None),
                    *(keys.team_entity(None, a) for a in primary_of_team)]  # fmt: skip
        where = "entity IN (SELECT value FROM json_each(?))"
        params = [orjson.dumps([e for e in entities if e is not None]).decode()]
    else:
        where, params = (
            "(entity = ? OR entity LIKE ? ESCAPE '!')",
            [
                keys.entity(q.entity),
                keys.escape(q.entity).replace("!", "!!").replace("%", "!%").replace("_", "!_")
                + "|%",
            ],
        )
    rows = conn.execute(
        f"SELECT entity, bucket, conversation_id, contribution FROM activity"  # noqa: S608
        f" WHERE dimension = ? AND bucket >= ? AND bucket < ? AND {where}",
        [dimension, q.start_ms, q.end_ms, *params],
    )
    per_interval: dict[int, list[Contribution]] = defaultdict(list)
    everything: list[Contribution] = []
    check = q.scope not in ("agent", "team")  # (their SQL selects exactly their entities)
    for entity_text, bucket, conversation, contribution in rows:
        if check and _owner(entity_text) != q.entity:
            continue
        index = bisect.bisect_right(starts, bucket) - 1
        item = (conversation, orjson.loads(contribution))
        per_interval[index].append(item)
        everything.append(item)
    compute = how
    values = [compute(per_interval.get(i, [])) for i in range(len(starts))]
    return _body(q, starts, compute(everything), values)


def _fact_metric(conn: sqlite3.Connection, q: MetricsQuery, starts: list[int]) -> dict[str, Any]:
    """A whole-inbox or per-channel count per interval, from the read model's facts."""
    channel = q.entity if q.scope == "channel" else None
    values = [0] * len(starts)
    for t, weight in conn.execute(
        _FACTS[q.metric], {"lo": q.start_ms, "hi": q.end_ms, "channel": channel}
    ):
        values[bisect.bisect_right(starts, t) - 1] += int(weight or 0)
    return _body(q, starts, sum(values), values)


def _team_received(conn: sqlite3.Connection, q: MetricsQuery, starts: list[int]) -> dict[str, Any]:
    """Distinct conversations that entered the team's queue (a NEW status change whose
    team_id, else AGENT actor's primary team, is the team) per interval and in the range."""
    per_interval: list[set[str]] = [set() for _ in starts]
    everything: set[str] = set()
    directory = Directory.load(conn)
    for team, c, t in team_queue_entries(conn, directory, q.start_ms, q.end_ms):
        if team == q.entity:
            per_interval[bisect.bisect_right(starts, t) - 1].add(c)
            everything.add(c)
    return _body(q, starts, len(everything), [len(s) for s in per_interval])


def _body(q: MetricsQuery, starts: list[int], total: Any, values: list[Any]) -> dict[str, Any]:
    ends = [*starts[1:], q.end_ms]
    return {
        "metric": q.metric,
        "scope": q.scope,
        "id": q.entity,
        "timezone": q.tz_name,
        "interval": q.interval,
        "from": _local(starts[0], q.tz),
        "to": _local(q.end_ms, q.tz),
        "total": _json(total),
        "intervals": [
            {"start": _local(s, q.tz), "end": _local(e, q.tz), "value": _json(v)}
            for s, e, v in zip(starts, ends, values, strict=True)
        ],
    }


def _json(value: Any) -> Any:
    return json_number(value) if isinstance(value, Fraction) else value


def _local(ms: int, tz: ZoneInfo) -> str:
    moment = at(ms)
    assert moment is not None  # noqa: S101
    return moment.astimezone(tz).isoformat(timespec="seconds")


# -- live snapshots and their stream ------------------------------------------------------


@dataclass
class LiveView:
    """The latest feed record per ``scope:id`` and the subscribers of the SSE stream."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscribers: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = field(default_factory=set)

    def update(self, key: str, record: dict[str, Any]) -> None:
        """Take one feed record (from the topic or the emitter) and notify subscribers."""
        self.records[key] = record
        for queue in self.subscribers:
            if queue.qsize() < 10_000:  # a stuck client loses updates, not our memory
                queue.put_nowait((key, record))

    def select(self, scope: str | None, entity: str | None) -> list[dict[str, Any]]:
        """Snapshots of one scope (all scopes when None), optionally one id, by key."""
        return [
            r
            for k, r in sorted(self.records.items())
            if (scope is None or r.get("scope") == scope)
            and (entity is None or r.get("id") == entity)
        ]


async def follow_feed(settings: Settings, view: LiveView, stop: asyncio.Event) -> None:
    """Read the metrics feed topic (``settings.topic_metrics``) from its beginning into
    ``view`` until ``stop``; a lost connection (a broker restart) is retried, from the
    beginning again (the topic is compacted: one small record per key)."""
    from aiokafka import AIOKafkaConsumer

    from streamproc.security import client_kwargs

    while not stop.is_set():
        consumer = AIOKafkaConsumer(
            settings.topic_metrics,
            **client_kwargs(settings),
            group_id=None,
            auto_offset_reset="earliest",
        )
        try:
            await consumer.start()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for message in messages:
                        if message.key is None:
                            continue
                        try:
                            key = message.key.decode()
                            if message.value is None:  # a tombstone: the key's figures are gone
                                view.records.pop(key, None)
                            else:
                                view.update(key, orjson.loads(message.value))
                        except (UnicodeDecodeError, orjson.JSONDecodeError):
                            continue
        except Exception as exc:  # the broker may be restarting: follow again shortly
            log.warning("following %s failed, retrying: %s", settings.topic_metrics, exc)
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()


def _live_params(request: web.Request) -> tuple[str | None, str | None]:
    scope = request.query.get("scope")
    if scope is not None and scope not in SCOPES:
        raise ApiError(f"'scope' must be one of {', '.join(SCOPES)}; got {_show(scope)}")
    return scope, request.query.get("id")


# -- routes --------------------------------------------------------------------------------


VIEW_KEY: Final = web.AppKey("live_view", LiveView)
READMODEL_KEY: Final = web.AppKey("live_readmodel", Path)


def add_live_routes(app: web.Application, *, readmodel: Path, view: LiveView) -> None:
    """Mount ``/api/v1/metrics``, ``/api/v1/live`` and ``/api/v1/live/stream`` on ``app``.

    ``readmodel`` is the exporter's SQLite file (opened read-only per request);
    ``view`` holds the feed's latest records (fill it with :func:`follow_feed`)."""
    app[VIEW_KEY] = view
    app[READMODEL_KEY] = readmodel
    app.router.add_get("/api/v1/metrics", _metrics)
    app.router.add_get("/api/v1/live", _live)
    app.router.add_get("/api/v1/live/stream", _stream)


def _errors(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(str(exc), exc.code, exc.status)

    return wrapped


def _read(path: Path, q: MetricsQuery) -> dict[str, Any]:
    if not path.exists():
        raise ApiError("the read model does not exist yet (start the exporter)", "unavailable", 503)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return query_metrics(conn, q)
    finally:
        conn.close()


@_errors
async def _metrics(request: web.Request) -> web.Response:
    query = parse_metrics_query(request.query)
    body = await asyncio.to_thread(_read, request.app[READMODEL_KEY], query)
    return web.Response(body=orjson.dumps(body), content_type="application/json")


@_errors
async def _live(request: web.Request) -> web.Response:
    scope, entity = _live_params(request)
    records = request.app[VIEW_KEY].select(scope, entity)
    return web.Response(body=orjson.dumps({"records": records}), content_type="application/json")


@_errors
async def _stream(request: web.Request) -> web.StreamResponse:
    scope, entity = _live_params(request)
    view = request.app[VIEW_KEY]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    view.subscribers.add(queue)
    try:
        for record in view.select(scope, entity):
            await response.write(_event(f"{record['scope']}:{record['id']}", record))
        async for key, record in _updates(queue):
            if key == "" or (
                (scope is None or record.get("scope") == scope)
                and (entity is None or record.get("id") == entity)
            ):
                await response.write(_event(key, record) if key else b": heartbeat\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        view.subscribers.discard(queue)
    return response


async def _updates(
    queue: asyncio.Queue[tuple[str, dict[str, Any]]],
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    while True:
        try:
            yield await asyncio.wait_for(queue.get(), HEARTBEAT_S)
        except TimeoutError:
            yield "", {}


def _event(key: str, record: dict[str, Any]) -> bytes:
    return b"event: metrics\nid: " + key.encode() + b"\ndata: " + orjson.dumps(record) + b"\n\n"


# -- OpenAPI --------------------------------------------------------------------------------


def _param(
    name: str, description: str, *, required: bool = False, enum: Iterable[str] = ()
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if enum:
        schema["enum"] = list(enum)
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}  # fmt: skip


_ERROR = {"description": "bad parameter", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}  # fmt: skip


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI 3.1 ``paths`` of the live routes (merge into the web service's document)."""
    all_metrics = sorted({m for metrics in METRICS.values() for m in metrics})
    return {
        "/api/v1/metrics": {"get": {
            "summary": "A metric per interval, from the 15-minute aggregates (all/channel:"
            " from the conversation facts)",
            "parameters": [
                _param("metric", "metric name (per scope: docs/live.md)", required=True,
                       enum=all_metrics),
                _param("scope", "entity kind", required=True, enum=METRICS),
                _param("id", "entity id (scope all: 'all', may be left out)"),
                _param("from", "YYYY-MM-DD (local day) or RFC 3339 on a quarter hour",
                       required=True),
                _param("to", "YYYY-MM-DD (inclusive) or RFC 3339 (exclusive)", required=True),
                _param("timezone", "IANA time zone (default UTC)"),
                _param("interval", "grouping (default DAY)", enum=INTERVALS),
            ],
            "responses": {"200": {"description": "values per interval and the total"},
                          "400": _ERROR, "503": _ERROR},
        }},
        "/api/v1/live": {"get": {
            "summary": "The latest metrics-feed record per scope:id",
            "parameters": [_param("scope", "only this scope", enum=SCOPES),
                           _param("id", "only this id")],
            "responses": {"200": {"description": "{records: [feed record, ...]}"},
                          "400": _ERROR},
        }},
        "/api/v1/live/stream": {"get": {
            "summary": "Server-sent events: the current records, then every feed update",
            "parameters": [_param("scope", "only this scope", enum=SCOPES),
                           _param("id", "only this id")],
            "responses": {"200": {"description": "text/event-stream, event 'metrics', id "
                                                 "scope:id, data = feed record"},
                          "400": _ERROR},
        }},
    }  # fmt: skip


def openapi_document() -> dict[str, Any]:
    """A whole OpenAPI document of the live routes (``streamproc live-api``)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "streamproc live metrics API", "version": "1"},
        "paths": {**openapi_paths(), "/api/v1/openapi.json": {"get": {
            "summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}}},
        "components": {"schemas": {"Error": {"type": "object", "properties": {"error": {
            "type": "object", "properties": {"code": {"type": "string"},
                                             "message": {"type": "string"}}}}}}},
    }  # fmt: skip


def live_app(readmodel: Path, view: LiveView) -> web.Application:
    """A stand-alone application: the live routes and /api/v1/openapi.json."""
    app = web.Application()
    add_live_routes(app, readmodel=readmodel, view=view)

    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    app.router.add_get("/api/v1/openapi.json", openapi)
    return app
