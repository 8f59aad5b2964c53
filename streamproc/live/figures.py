"""Live state and today's figures per scope, computed from the read model (pure, no I/O)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, Final
from zoneinfo import ZoneInfo

from exporter.request import ExportRequest
from exporter.rows import Context, Directory, _activity, at, to_ms

FEED_VERSION: Final = 1
SCOPES: Final = ("all", "team", "agent", "channel", "virtual_agent")
ALL_ID: Final = "all"

Key = tuple[str, str]
"""(scope, id)."""


def rfc3339_ms(ms: int | None) -> str | None:
    """Epoch milliseconds as RFC 3339 UTC with milliseconds (None stays None)."""
    moment = at(ms)
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_day(as_of_ms: int, tz: ZoneInfo) -> date:
    """The business day (in ``tz``) containing ``as_of``."""
    moment = at(as_of_ms)
    assert moment is not None  # noqa: S101 - an int gives a datetime
    return moment.astimezone(tz).date()


def day_bounds_ms(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """``[day 00:00, day+1 00:00)`` local in ``tz`` as epoch ms (23/24/25-hour days), the
    same conversion as an export's date range (exporter.request)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return to_ms(start), to_ms(end)


def json_number(value: Fraction | None) -> float | int | None:
    """An exact mean as JSON: an int when whole, else a float (ms)."""
    if value is None:
        return None
    return int(value) if value.denominator == 1 else float(value)


@dataclass
class _Live:
    new: int = 0
    pending: int = 0
    locked: int = 0
    oldest_new_ms: int | None = None
    available: int = 0
    away: int = 0
    offline: int = 0


@dataclass
class _Today:
    received: set[str] = field(default_factory=set)
    replies: int = 0
    resolved: int = 0
    resolved_with_reply: int = 0
    first_response_ms: list[int] = field(default_factory=list)
    handle_ms: int = 0
    handle_conversations: set[str] = field(default_factory=set)
    csat_scores: list[int] = field(default_factory=list)


# Which parts of the record each scope carries (None in the record otherwise).
_HAS_QUEUE = {"all", "team", "channel", "agent"}
_HAS_NEW = {"all", "team", "channel"}
_HAS_AGENTS = {"all", "team", "agent"}
_HAS_RECEIVED = {"all", "channel", "team", "virtual_agent"}
_HAS_REPLIES = {"team", "agent"}
_HAS_CONVERSATION_FIGURES = {"all", "team", "agent", "channel"}


@dataclass
class LiveFigures:
    """Every (scope, id) record of one instant."""

    as_of_ms: int
    timezone: str
    day: date
    records: dict[Key, dict[str, Any]]


def team_queue_entries(
    conn: sqlite3.Connection, d: Directory, lo: int, hi: int
) -> Iterator[tuple[str, str, int]]:
    """``(team, conversation id, time)`` of every conversation entering a team's queue in
    ``[lo, hi)`` — what a team "receives": a NEW status change whose team_id, else
    ``AGENT`` actor's primary team, is the team (routed, transferred, reopened or handed
    over by a virtual agent)."""
    for c, t, actor_kind, actor, team in conn.execute(
        "SELECT conversation_id, t, actor_kind, actor_id, team_id FROM status_changes"
        " WHERE status = 'NEW' AND t >= ? AND t < ?",
        (lo, hi),
    ):
        owner_team = d.team_of(actor if actor_kind == "AGENT" else None, team)
        if owner_team is not None:
            yield owner_team, c, t


def compute(conn: sqlite3.Connection, as_of_ms: int, tz_name: str) -> LiveFigures:
    """Live state at ``as_of`` and the figures of the local day containing it, for every
    scope and id (definitions: docs/live.md; they are the exports' rules for that day)."""
    tz = ZoneInfo(tz_name)
    day = local_day(as_of_ms, tz)
    lo, day_end = day_bounds_ms(day, tz)
    hi = min(day_end, as_of_ms + 1)  # what happened up to as_of (a model may hold later facts)
    d = Directory.load(conn)
    live: dict[Key, _Live] = defaultdict(_Live)
    today: dict[Key, _Today] = defaultdict(_Today)
    channel_of: dict[str, str | None] = dict(
        conn.execute("SELECT conversation_id, channel_id FROM conversations")
    )
    virtual_agents = set(d.records.get("virtual_agent", {}))

    def conversation_keys(conversation_id: str) -> list[Key]:
        keys: list[Key] = [("all", ALL_ID)]
        channel = channel_of.get(conversation_id)
        if channel is not None:
            keys.append(("channel", channel))
        return keys

    _live_state(conn, as_of_ms, d, live, conversation_keys, virtual_agents)
    # -- today: all / channel (every actor) ------------------------------------------------
    for (c,) in conn.execute(
        "SELECT conversation_id FROM conversations WHERE created_t >= ? AND created_t < ?",
        (lo, hi),
    ):
        for key in conversation_keys(c):
            today[key].received.add(c)
    for team, c, _t in team_queue_entries(conn, d, lo, hi):
        today[("team", team)].received.add(c)
    for c, with_reply, actor_kind, actor in conn.execute(
        "SELECT conversation_id, with_reply, actor_kind, actor_id FROM resolutions"
        " WHERE t >= ? AND t < ?",
        (lo, hi),
    ):
        keys = conversation_keys(c)
        if actor_kind == "VIRTUAL_AGENT" and actor is not None:
            keys.append(("virtual_agent", actor))
        for key in keys:
            today[key].resolved += 1
            today[key].resolved_with_reply += int(bool(with_reply))
    for c, first_ms, agent in conn.execute(
        "SELECT conversation_id, first_response_ms, first_response_agent_id FROM conversations"
        " WHERE first_response_t >= ? AND first_response_t < ?",
        (lo, hi),
    ):
        keys = conversation_keys(c)
        if agent is not None:
            keys.append(("agent", agent))
        for key in keys:
            today[key].first_response_ms.append(first_ms)
    for c, start, expiry, end_t in conn.execute(
        "SELECT conversation_id, start, expiry, end_t FROM sessions WHERE replied"
        " AND ((end_t >= :lo AND end_t < :hi)"
        " OR (end_t IS NULL AND expiry >= :lo AND expiry < :hi AND expiry <= :as_of))",
        {"lo": lo, "hi": hi, "as_of": as_of_ms},
    ):
        end = end_t if end_t is not None else expiry
        for key in conversation_keys(c):
            today[key].handle_ms += end - start
            today[key].handle_conversations.add(c)
    for c, score in conn.execute(
        "SELECT conversation_id, score FROM csat_responses WHERE t >= ? AND t < ?", (lo, hi)
    ):
        for key in conversation_keys(c):
            today[key].csat_scores.append(score)
    for c, sender in conn.execute(
        "SELECT conversation_id, sender_id FROM conv_messages"
        " WHERE t >= ? AND t < ? AND sender_kind = 'VIRTUAL_AGENT' AND sender_id IS NOT NULL",
        (lo, hi),
    ):
        today[("virtual_agent", sender)].received.add(c)
    # -- today: agents and teams, exactly the agent_metrics / teams export rules -------------
    request = ExportRequest(
        request_id="live",
        export_type="teams",
        tz_name=tz_name,
        tz=tz,
        start=at(lo),
        end=at(hi),
        channels=frozenset(),
        locale="en",
    )
    ctx = Context(conn, request, d, as_of_ms)
    for scope, team_level in (("agent", False), ("team", True)):
        for owner, totals in _activity(ctx, team_level=team_level).items():
            if scope == "agent" and owner in virtual_agents:
                continue
            t = today[(scope, owner)]
            t.replies = totals.replies
            t.resolved = totals.resolves_with_reply + totals.resolves_without_reply
            t.resolved_with_reply = totals.resolves_with_reply
            t.handle_ms = totals.handle_ms
            t.handle_conversations = totals.handle_conversations
            t.csat_scores = [k + 1 for k in range(5) for _ in range(totals.csat[k])]
            if team_level:
                t.first_response_ms = totals.first_response_ms
    # -- every directory entity gets a record (zeros), and everything seen ----------------
    every: set[Key] = {("all", ALL_ID)} | set(live) | set(today)
    for scope in ("team", "agent", "channel", "virtual_agent"):
        every |= {(scope, entity) for entity in d.records.get(scope, {})}
    every = {k for k in every if not (k[0] == "agent" and k[1] in virtual_agents)}
    records = {
        key: _record(key, as_of_ms, tz_name, day, live.get(key, _Live()), today.get(key, _Today()))
        for key in sorted(every)
    }
    return LiveFigures(as_of_ms, tz_name, day, records)


def _live_state(
    conn: sqlite3.Connection,
    as_of_ms: int,
    d: Directory,
    live: dict[Key, _Live],
    conversation_keys: Any,
    virtual_agents: set[str],
) -> None:
    """Queue counts, open lock sessions and agents by presence at ``as_of``."""
    # The latest status change at or before as_of of every conversation that can be open
    # then: open now, or changed after as_of (rowid breaks ties in event order).
    rows = conn.execute(
        "SELECT sc.conversation_id, sc.status, sc.t, sc.actor_kind, sc.actor_id, sc.team_id"
        " FROM status_changes sc WHERE sc.conversation_id IN ("
        "   SELECT conversation_id FROM conversations WHERE status IN ('NEW', 'PENDING')"
        "   UNION SELECT conversation_id FROM status_changes WHERE t > :as_of)"
        " AND sc.t <= :as_of ORDER BY sc.conversation_id, sc.t, sc.rowid",
        {"as_of": as_of_ms},
    )
    latest: dict[str, tuple[str, int, str | None, str | None, str | None]] = {}
    for c, status, t, actor_kind, actor, team in rows:
        latest[c] = (status, t, actor_kind, actor, team)
    for c, (status, t, actor_kind, actor, team) in latest.items():
        if status not in ("NEW", "PENDING"):
            continue
        agent = actor if actor_kind == "AGENT" else None
        keys = list(conversation_keys(c))
        owner_team = d.team_of(agent, team)
        if owner_team is not None:
            keys.append(("team", owner_team))
        if status == "PENDING" and agent is not None:
            keys.append(("agent", agent))
        for key in keys:
            state = live[key]
            if status == "NEW":
                state.new += 1
                oldest = state.oldest_new_ms
                state.oldest_new_ms = t if oldest is None else min(oldest, t)
            else:
                state.pending += 1
    for c, agent, team in conn.execute(
        "SELECT conversation_id, agent_id, team_id FROM sessions WHERE start <= :as_of"
        " AND (end_t IS NULL OR end_t > :as_of) AND expiry > :as_of",
        {"as_of": as_of_ms},
    ):
        keys = list(conversation_keys(c))
        owner_team = d.team_of(agent, team)
        if owner_team is not None:
            keys.append(("team", owner_team))
        keys.append(("agent", agent))
        for key in keys:
            live[key].locked += 1
    presence: dict[str, str] = dict(
        conn.execute(
            "SELECT agent_id, presence FROM presence_intervals WHERE start <= :as_of"
            " AND (end_t IS NULL OR end_t > :as_of)",
            {"as_of": as_of_ms},
        )
    )
    agents = {a for a, (_f, active, _lu) in d.records.get("agent", {}).items() if active}
    for agent in sorted((agents | set(presence)) - virtual_agents):
        now = presence.get(agent, "OFFLINE")
        owners: list[Key] = [("all", ALL_ID), ("agent", agent)]
        team = d.get("agent", agent, "team_id")
        if team is not None:
            owners.append(("team", team))
        for key in owners:
            state = live[key]
            if now == "AVAILABLE":
                state.available += 1
            elif now == "AWAY":
                state.away += 1
            else:
                state.offline += 1


def _record(
    key: Key, as_of_ms: int, tz_name: str, day: date, live: _Live, today: _Today
) -> dict[str, Any]:
    scope, entity = key
    scores = today.csat_scores
    handled = len(today.handle_conversations)
    conversation_figures = scope in _HAS_CONVERSATION_FIGURES
    return {
        "v": FEED_VERSION,
        "scope": scope,
        "id": entity,
        "as_of": rfc3339_ms(as_of_ms),
        "timezone": tz_name,
        "day": day.isoformat(),
        "live": {
            "new": live.new if scope in _HAS_NEW else None,
            "oldest_new_since": rfc3339_ms(live.oldest_new_ms) if scope in _HAS_NEW else None,
            "pending": live.pending if scope in _HAS_QUEUE else None,
            "locked": live.locked if scope in _HAS_QUEUE else None,
            "agents": {
                "available": live.available,
                "away": live.away,
                "offline": live.offline,
            }
            if scope in _HAS_AGENTS
            else None,
        },
        "today": {
            "received": len(today.received) if scope in _HAS_RECEIVED else None,
            "replies": today.replies if scope in _HAS_REPLIES else None,
            "resolved": today.resolved,
            "resolved_with_reply": today.resolved_with_reply,
            "avg_first_response_ms": json_number(
                Fraction(sum(today.first_response_ms), len(today.first_response_ms))
                if today.first_response_ms
                else None
            )
            if conversation_figures
            else None,
            "avg_handle_ms": json_number(Fraction(today.handle_ms, handled) if handled else None)
            if conversation_figures
            else None,
            "csat_average": json_number(Fraction(sum(scores), len(scores)) if scores else None)
            if conversation_figures
            else None,
            "csat_count": len(scores) if conversation_figures else None,
        },
    }


def without_instant(record: dict[str, Any]) -> dict[str, Any]:
    """A record without ``as_of`` (what 'changed' compares)."""
    return {k: v for k, v in record.items() if k != "as_of"}


def key_text(key: Key) -> str:
    """The feed record key ``scope:id``."""
    return f"{key[0]}:{key[1]}"
