"""Row builders: one per export type, reading the read model and yielding typed row values.

Values follow exporter.schema's kinds (datetimes aware, durations in integer ms or exact
Fractions of ms); exporter.csvfmt formats them. Row orders are documented in docs/exports.md.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import orjson

from exporter import queries as q
from exporter.formats import builder
from exporter.readmodel import ATTRIBUTES_OF_CONTACT
from exporter.request import ExportRequest

Row = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(ms: int | None) -> datetime | None:
    """Epoch milliseconds as an aware UTC datetime (exact)."""
    return None if ms is None else EPOCH + timedelta(milliseconds=ms)


def to_ms(moment: datetime) -> int:
    """An aware datetime as epoch milliseconds (exact)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def mean(values: list[int]) -> Fraction | None:
    """Exact mean, None for no values."""
    return Fraction(sum(values), len(values)) if values else None


@dataclass
class Directory:
    """Directory records by kind and id: (fields, active), as of the export."""

    records: dict[str, dict[str, tuple[dict[str, Any], bool, int]]] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> Directory:
        """Everything but contact attributes (read per contact)."""
        directory = cls(defaultdict(dict))
        rows = conn.execute("SELECT kind, id, fields, active, lu FROM directory WHERE kind != ?",
                            ("attribute",))  # fmt: skip
        for kind, entity_id, fields, active, lu in rows:
            directory.records[kind][entity_id] = (orjson.loads(fields), bool(active), lu)
        return directory

    def get(self, kind: str, entity_id: str | None, name: str) -> Any:
        """A field of a record, None when unknown."""
        if entity_id is None:
            return None
        record = self.records.get(kind, {}).get(entity_id)
        return None if record is None else record[0].get(name)

    def active(self, kind: str, entity_id: str) -> bool:
        """Whether a topic/tag is active (unknown ids count as active)."""
        record = self.records.get(kind, {}).get(entity_id)
        return True if record is None else record[1]

    def lu(self, kind: str, entity_id: str) -> int | None:
        """Latest event time of a record."""
        record = self.records.get(kind, {}).get(entity_id)
        return None if record is None else record[2]

    def team_of(self, agent_id: str | None, team_id: str | None) -> str | None:
        """The event's team, else the agent's primary team (as of the export)."""
        if team_id is not None:
            return team_id
        return self.get("agent", agent_id, "team_id")

    def channel_columns(self, channel_id: str | None, prefix: str = "") -> Row:
        """Medium, Channel (name) and Channel Display Name of a channel."""
        return {
            "medium": self.get("channel", channel_id, "medium"),
            f"{prefix}channel": self.get("channel", channel_id, "name"),
            f"{prefix}channel_display_name": self.get("channel", channel_id, "display_name"),
        }

    def names(self, kind: str, ids: list[str]) -> list[str]:
        """Names of ids, in the same order (an unknown id gives an empty name)."""
        return [self.get(kind, i, "name") or "" for i in ids]


@dataclass
class Context:
    """What every builder needs: the database, the request, the directory and as_of."""

    conn: sqlite3.Connection
    request: ExportRequest
    directory: Directory
    as_of_ms: int

    @property
    def start_ms(self) -> int:
        assert self.request.start is not None  # noqa: S101 - ranged exports only
        return to_ms(self.request.start)

    @property
    def end_ms(self) -> int:
        assert self.request.end is not None  # noqa: S101 - ranged exports only
        return to_ms(self.request.end)

    def channel_ok(self, channel_id: str | None) -> bool:
        """The request's channel filter (empty = every channel)."""
        return not self.request.channels or channel_id in self.request.channels

    def channel_sql(self, column: str) -> tuple[str, list[Any]]:
        """A SQL condition (and its one parameter) for the channel filter on ``column``:
        the channel ids are bound as one JSON array (see ``channels_json``)."""
        if not self.request.channels:
            return "1", []
        return f"{column} IN (SELECT value FROM json_each(?))", [channels_json(self.request)]


def channels_json(request: ExportRequest) -> str:
    """The request's channel ids as one JSON array (one SQL parameter however many)."""
    return q.channels_json(request.channels)


# ---------------------------------------------------------------------------------------
# Conversations (resolved, open)
# ---------------------------------------------------------------------------------------

_CONVERSATION_SQL = f"""
SELECT c.*,
  (SELECT {q.HANDLE_MS} FROM {q.SESSIONS_OF_CONVERSATION}) AS handle_ms,
  (SELECT {q.NO_REPLY_MS} FROM {q.SESSIONS_OF_CONVERSATION}) AS no_reply_ms,
  (SELECT {q.CHERRY_PICK_MS} FROM {q.SESSIONS_OF_CONVERSATION}) AS cherry_pick_ms,
  (SELECT max(m.lu) FROM {q.MESSAGES_OF_CONVERSATION}) AS message_lu
FROM conversations c
WHERE {{where}}
{q.CONVERSATION_ORDER}
"""


def _conversation_rows(ctx: Context, where: str, params: dict[str, Any]) -> Iterator[Row]:
    d = ctx.directory
    cursor = ctx.conn.execute(
        _CONVERSATION_SQL.format(where=where), {**params, "as_of": ctx.as_of_ms}
    )
    names = [c[0] for c in cursor.description]
    for values in cursor:
        c = dict(zip(names, values, strict=True))
        topic_ids = orjson.loads(c["topic_ids"])
        last_agent, res_agent = c["last_status_agent_id"], c["res_actor_id"]
        res_by_agent = c["res_actor_kind"] == "AGENT" and res_agent is not None
        last_team = d.team_of(last_agent, c["last_status_team_id"]) if last_agent else None
        lus = [x for x in (c["log_lu"], c["message_lu"]) if x is not None]
        yield {
            "conversation_id": c["conversation_id"],
            **d.channel_columns(c["channel_id"]),
            "contact_profile_id": c["contact_profile_id"],
            "contact_primary_identifier": d.get(
                "contact", c["contact_profile_id"], "primary_identifier"
            ),
            "contact_secondary_identifier": d.get(
                "contact", c["contact_profile_id"], "secondary_identifier"
            ),
            "created_at": at(c["created_t"]),
            "last_status_change_agent_id": last_agent,
            "last_status_change_agent_name": d.get("agent", last_agent, "name"),
            "last_status_change_agent_reference": d.get("agent", last_agent, "reference"),
            "last_status_change_team_id": last_team,
            "last_status_change_team_name": d.get("team", last_team, "name"),
            "current_status": c["status"],
            "resolved_by": c["res_actor_kind"],
            "resolve_reason": c["res_reason"],
            "resolve_comment": c["res_comment"],
            "resolve_trigger": c["res_trigger"],
            "resolved_at": at(c["res_t"]),
            "resolved_agent_id": res_agent if res_by_agent else None,
            "resolved_agent_name": d.get("agent", res_agent, "name") if res_by_agent else None,
            "resolved_agent_reference": d.get("agent", res_agent, "reference")
            if res_by_agent
            else None,
            "number_of_inbound_messages": c["inbound_count"],
            "number_of_outbound_messages": c["outbound_count"],
            "first_response_time_s": c["first_response_ms"],
            "handle_time_s": c["handle_ms"] or 0,
            "no_reply_time_s": c["no_reply_ms"] or 0,
            "cherry_pick_time_s": c["cherry_pick_ms"] or 0,
            "resolution_time_s": c["res_ms"],
            "topic_ids": topic_ids,
            "topic_names": d.names("topic", topic_ids),
            "conversation_url": c["url"],
            "last_updated": at(max(lus)) if lus else None,
            "language": c["language"],
            "csat_score": c["csat_score"],
            "csat_completed_status": c["csat_status"],
            "csat_follow_up_question": c["csat_question"],
            "csat_follow_up_answer": c["csat_answer"],
        }


def conversations_resolved(ctx: Context) -> Iterator[Row]:
    """Conversations whose FIRST resolution is in the range."""
    channel_sql, params = _named_channels(ctx)
    where = f"{q.RESOLVED_IN_RANGE} AND {channel_sql}"
    yield from _conversation_rows(ctx, where, {"start": ctx.start_ms, "end": ctx.end_ms, **params})


def conversations_open(ctx: Context) -> Iterator[Row]:
    """Conversations whose current status is NEW or PENDING."""
    channel_sql, params = _named_channels(ctx)
    where = f"{q.OPEN_NOW} AND {channel_sql}"
    yield from _conversation_rows(ctx, where, params)


def _named_channels(ctx: Context) -> tuple[str, dict[str, Any]]:
    """The channel filter on ``c.channel_id`` with a named parameter ``:channels``."""
    if not ctx.request.channels:
        return "1", {}
    return q.CHANNEL_FILTER, {"channels": channels_json(ctx.request)}


# ---------------------------------------------------------------------------------------
# Messages and responses
# ---------------------------------------------------------------------------------------


def messages(ctx: Context) -> Iterator[Row]:
    """Messages created in the range, by creation time then id."""
    d = ctx.directory
    channel_sql, params = _named_channels(ctx)
    cursor = ctx.conn.execute(
        "SELECT m.message_id, m.created_t, m.conversation_id, m.message_type, m.origin,"
        " m.outbound_type, m.direction, m.sender_kind, m.sender_id, m.team_id, m.tag_ids,"
        " m.content, m.post_url, m.lu, m.deleted_t, m.system_user_type,"
        f" c.channel_id, c.contact_profile_id, c.url FROM messages m {q.CONVERSATION_OF_MESSAGE}"
        f" WHERE {q.MESSAGE_IN_RANGE} AND {channel_sql} {q.MESSAGE_ORDER}",
        {"start": ctx.start_ms, "end": ctx.end_ms, **params},
    )
    channel_cache: dict[str | None, Row] = {}
    contact_cache: dict[str | None, tuple[Any, Any]] = {}
    agent_cache: dict[str | None, tuple[Any, Any]] = {}
    team_cache: dict[str | None, Any] = {}
    tag_cache: dict[str, list[str]] = {}
    for (
        message_id, created_t, conversation_id, message_type, origin, outbound_type,
        direction, sender_kind, sender_id, team_id, tag_json, content, post_url, lu,
        deleted_t, system_user_type, channel_id, contact_id, url,
    ) in cursor:  # fmt: skip
        agent = sender_id if sender_kind == "AGENT" else None
        if channel_id not in channel_cache:
            channel_cache[channel_id] = d.channel_columns(channel_id)
        if contact_id not in contact_cache:
            contact_cache[contact_id] = (
                d.get("contact", contact_id, "primary_identifier"),
                d.get("contact", contact_id, "secondary_identifier"),
            )
        if agent not in agent_cache:
            agent_cache[agent] = (d.get("agent", agent, "name"), d.get("agent", agent, "reference"))
        if team_id not in team_cache:
            team_cache[team_id] = d.get("team", team_id, "name")
        tag_ids = orjson.loads(tag_json)
        if tag_json not in tag_cache:
            tag_cache[tag_json] = d.names("tag", tag_ids)
        primary, secondary = contact_cache[contact_id]
        agent_name, agent_reference = agent_cache[agent]
        yield {
            "message_id": message_id,
            "created_at": at(created_t),
            "conversation_id": conversation_id,
            **channel_cache[channel_id],
            "contact_profile_id": contact_id,
            "contact_primary_identifier": primary,
            "contact_secondary_identifier": secondary,
            "message_type": message_type,
            "origin": origin,
            "outbound_message_type": outbound_type,
            "direction": direction,
            "agent_id": agent,
            "agent_name": agent_name,
            "agent_reference": agent_reference,
            "team_id": team_id,
            "team_name": team_cache[team_id],
            "tag_ids": tag_ids,
            "tag_names": tag_cache[tag_json],
            "content": content,
            "conversation_url": url,
            "post_url": post_url,
            "last_updated": at(lu),
            "deleted_at": at(deleted_t),
            "system_user_type": system_user_type,
        }


def responses(ctx: Context) -> Iterator[Row]:
    """Responses whose outbound message is in the range, by response time then conversation."""
    d = ctx.directory
    channel_sql, channels = ctx.channel_sql("c.channel_id")
    cursor = ctx.conn.execute(
        "SELECT r.*, c.channel_id, c.contact_profile_id, c.url FROM responses r"
        " JOIN conversations c ON c.conversation_id = r.conversation_id"
        f" WHERE r.t >= ? AND r.t < ? AND {channel_sql}"
        " ORDER BY r.t, r.outbound_message_id",
        [ctx.start_ms, ctx.end_ms, *channels],
    )
    names = [c[0] for c in cursor.description]
    for values in cursor:
        r = dict(zip(names, values, strict=True))
        channel = d.channel_columns(r["channel_id"], prefix="sender_")
        yield {
            "conversation_id": r["conversation_id"],
            **channel,
            "contact_profile_id": r["contact_profile_id"],
            "started_by": r["started_by"],
            "handover_reason": r["handover_reason"],
            "from": at(r["queue_t"]),
            "to": at(r["t"]),
            "agent_response_time_s": r["t"] - r["queue_t"],
            "responding_agent_id": r["agent_id"],
            "responding_agent_name": d.get("agent", r["agent_id"], "name"),
            "responding_agent_reference": d.get("agent", r["agent_id"], "reference"),
            "inbound_message_id": r["inbound_message_id"],
            "outbound_message_id": r["outbound_message_id"],
            "conversation_url": r["url"],
        }


# ---------------------------------------------------------------------------------------
# Presence and agents
# ---------------------------------------------------------------------------------------


def _intervals(ctx: Context) -> list[tuple[str, int, int | None, str, str | None]]:
    """AVAILABLE/AWAY intervals overlapping the range (an open one runs to as_of)."""
    return list(
        ctx.conn.execute(
            "SELECT agent_id, start, end_t, presence, away_status FROM presence_intervals"
            " WHERE start < ? AND coalesce(end_t, ?) > ? ORDER BY agent_id, start",
            (ctx.end_ms, ctx.as_of_ms, ctx.start_ms),
        )
    )


def agent_presence(ctx: Context) -> Iterator[Row]:
    """Intervals overlapping the range, whole, by agent then start."""
    d = ctx.directory
    for agent, start, end, presence, away in _intervals(ctx):
        yield {
            "user_id": agent,
            "user_name": d.get("agent", agent, "name"),
            "user_email": d.get("agent", agent, "email"),
            "type": presence,
            "away_status": away,
            "from": at(start),
            "to": at(end),
            "duration_s": (end if end is not None else ctx.as_of_ms) - start,
        }


@dataclass
class _Totals:
    """Additive metrics of one agent or team over the range."""

    available_ms: int = 0
    away_ms: int = 0
    handle_ms: int = 0
    no_reply_ms: int = 0
    cherry_pick_ms: int = 0
    handle_conversations: set[str] = field(default_factory=set)
    contacts: set[str] = field(default_factory=set)
    replies: int = 0
    resolves_with_reply: int = 0
    resolves_without_reply: int = 0
    tags_added: int = 0
    topics_added: int = 0
    csat: list[int] = field(default_factory=lambda: [0] * 5)
    active: bool = False
    first_outbound_ms: int | None = None
    first_response_ms: list[int] = field(default_factory=list)
    resolution_ms: list[int] = field(default_factory=list)

    @property
    def average_handle_ms(self) -> Fraction | None:
        """Handle time per distinct conversation with a handle session."""
        conversations = len(self.handle_conversations)
        return Fraction(self.handle_ms, conversations) if conversations else None


def _activity(ctx: Context, team_level: bool) -> dict[str, _Totals]:
    """Range metrics by agent (or by team), all channel-filtered but presence."""
    d = ctx.directory
    totals: dict[str, _Totals] = defaultdict(_Totals)
    channel_of = dict(ctx.conn.execute("SELECT conversation_id, channel_id FROM conversations"))
    contact_of = dict(
        ctx.conn.execute("SELECT conversation_id, contact_profile_id FROM conversations")
    )

    def owner(agent: str | None, team: str | None) -> str | None:
        return d.team_of(agent, team) if team_level else agent

    def ok(conversation_id: str) -> bool:
        return ctx.channel_ok(channel_of.get(conversation_id))

    lo, hi = ctx.start_ms, ctx.end_ms
    for c, agent, team, start, expiry, end_t, replied, own in ctx.conn.execute(
        "SELECT conversation_id, agent_id, team_id, start, expiry, end_t, replied, own_status_end"
        " FROM sessions WHERE (end_t >= :lo AND end_t < :hi)"
        " OR (end_t IS NULL AND expiry >= :lo AND expiry < :hi AND expiry <= :as_of)",
        {"lo": lo, "hi": hi, "as_of": ctx.as_of_ms},
    ):
        key = owner(agent, team)
        if key is None or not ok(c):
            continue
        t = totals[key]
        t.active = True
        end = end_t if end_t is not None else expiry
        if replied:
            t.handle_ms += end - start
            t.handle_conversations.add(c)
        elif own and end_t is not None:
            t.no_reply_ms += end - start
        else:
            t.cherry_pick_ms += end - start
    for c, tm, direction, kind, sender, team in ctx.conn.execute(
        "SELECT conversation_id, t, direction, sender_kind, sender_id, team_id FROM conv_messages"
        " WHERE t >= ? AND t < ?",
        (lo, hi),
    ):
        if not ok(c):
            continue
        if team_level:
            # Team rows: outbound messages attributed to a team (agents: else primary team).
            if direction != "OUTBOUND":
                continue
            key = (
                team if team is not None else (d.team_of(sender, None) if kind == "AGENT" else None)
            )
        else:
            key = sender if kind == "AGENT" else None
        if key is None:
            continue
        t = totals[key]
        t.active = True
        if direction == "OUTBOUND":
            t.first_outbound_ms = (
                tm if t.first_outbound_ms is None else min(t.first_outbound_ms, tm)
            )
        if direction == "OUTBOUND" and kind == "AGENT" and sender is not None:
            t.replies += 1
            contact = contact_of.get(c)
            if contact is not None:
                t.contacts.add(contact)
    for c, kind, actor in ctx.conn.execute(
        "SELECT conversation_id, actor_kind, actor_id FROM status_changes WHERE t >= ? AND t < ?",
        (lo, hi),
    ):
        if kind == "AGENT" and actor is not None and not team_level and ok(c):
            totals[actor].active = True
    for c, kind, actor, team, with_reply, resolution_ms in ctx.conn.execute(
        "SELECT conversation_id, actor_kind, actor_id, team_id, with_reply, resolution_ms"
        " FROM resolutions WHERE t >= ? AND t < ?",
        (lo, hi),
    ):
        key = owner(actor, team)
        if kind != "AGENT" or actor is None or key is None or not ok(c):
            continue
        t = totals[key]
        if with_reply:
            t.resolves_with_reply += 1
        else:
            t.resolves_without_reply += 1
        if resolution_ms is not None:
            t.resolution_ms.append(resolution_ms)
    for c, app_kind, kind, actor, team in ctx.conn.execute(
        "SELECT conversation_id, kind, actor_kind, actor_id, team_id FROM applications"
        " WHERE t >= ? AND t < ?",
        (lo, hi),
    ):
        key = owner(actor, team)
        if kind != "AGENT" or actor is None or key is None or not ok(c):
            continue
        t = totals[key]
        if not team_level:
            t.active = True  # removals too: "a tag/topic event" makes an agent active
        if app_kind == "tag":
            t.tags_added += 1
        elif app_kind == "topic":
            t.topics_added += 1
    for c, score, agent, team in ctx.conn.execute(
        "SELECT conversation_id, score, agent_id, team_id FROM csat_responses"
        " WHERE t >= ? AND t < ? AND agent_id IS NOT NULL",
        (lo, hi),
    ):
        key = owner(agent, team)
        if key is not None and ok(c):
            totals[key].csat[score - 1] += 1
    if team_level:
        for c, first_response_ms, agent, team in ctx.conn.execute(
            "SELECT conversation_id, first_response_ms, first_response_agent_id,"
            " first_response_team_id FROM conversations"
            " WHERE first_response_t >= ? AND first_response_t < ?",
            (lo, hi),
        ):
            key = d.team_of(agent, team)
            if key is not None and ok(c):
                totals[key].first_response_ms.append(first_response_ms)
    return totals


def agent_metrics(ctx: Context) -> Iterator[Row]:
    """Agents with presence or activity in the range, by id."""
    d = ctx.directory
    totals = _activity(ctx, team_level=False)
    for agent, start, end, presence, _away in _intervals(ctx):
        t = totals[agent]
        t.active = True
        clipped = max(0, min(end if end is not None else ctx.as_of_ms, ctx.end_ms, ctx.as_of_ms)
                      - max(start, ctx.start_ms))  # fmt: skip
        if presence == "AVAILABLE":
            t.available_ms += clipped
        else:
            t.away_ms += clipped
    virtual_agents = set(d.records.get("virtual_agent", {}))
    for agent in sorted(a for a, t in totals.items() if t.active and a not in virtual_agents):
        t = totals[agent]
        busy = t.handle_ms + t.no_reply_ms + t.cherry_pick_ms
        yield {
            "user_id": agent,
            "user_name": d.get("agent", agent, "name"),
            "user_email": d.get("agent", agent, "email"),
            "user_reference": d.get("agent", agent, "reference"),
            "available_time_s": t.available_ms,
            "away_time_s": t.away_ms,
            "contacts_helped": len(t.contacts),
            "avg_handle_time_s": t.average_handle_ms,
            "handle_time_s": t.handle_ms,
            "no_reply_time_s": t.no_reply_ms,
            "cherry_pick_time_s": t.cherry_pick_ms,
            "replies": t.replies,
            "resolves_with_reply": t.resolves_with_reply,
            "resolves_without_reply": t.resolves_without_reply,
            "tags_added": t.tags_added,
            "topics_added": t.topics_added,
            "utilization_pct": Fraction(busy * 100, t.available_ms) if t.available_ms else None,
            **{f"csat_with_score_{k + 1}": t.csat[k] for k in range(5)},
        }


def teams(ctx: Context) -> Iterator[Row]:
    """Teams with an outbound message in the range, by id."""
    d = ctx.directory
    totals = _activity(ctx, team_level=True)
    for team in sorted(k for k, t in totals.items() if t.first_outbound_ms is not None):
        t = totals[team]
        yield {
            "created_at": at(t.first_outbound_ms),
            "team_id": team,
            "team_name": d.get("team", team, "name"),
            "resolves_with_reply": t.resolves_with_reply,
            "resolves_without_reply": t.resolves_without_reply,
            "average_first_response_time": mean(t.first_response_ms),
            "average_resolution_time": mean(t.resolution_ms),
            "total_handle_time": t.handle_ms,
            "total_no_reply_time": t.no_reply_ms,
            "total_cherry_pick_time": t.cherry_pick_ms,
            "average_handle_time": t.average_handle_ms,
            "contacts_helped": len(t.contacts),
            **{f"csat_with_score_{k + 1}": t.csat[k] for k in range(5)},
            "tags_added": t.tags_added,
            "topics_added": t.topics_added,
            "replies": t.replies,
        }


# ---------------------------------------------------------------------------------------
# Contacts, topics, tags, virtual agents, contact attributes
# ---------------------------------------------------------------------------------------


def contacts(ctx: Context) -> Iterator[Row]:
    """Contacts with a message in the range, by id."""
    d = ctx.directory
    channel_sql, channels = ctx.channel_sql("c.channel_id")
    per_contact: dict[str, list[Any]] = {}
    for contact, conversation, t, direction in ctx.conn.execute(
        "SELECT c.contact_profile_id, m.conversation_id, m.t, m.direction FROM conv_messages m"
        " JOIN conversations c ON c.conversation_id = m.conversation_id"
        f" WHERE m.t >= ? AND m.t < ? AND {channel_sql}",
        [ctx.start_ms, ctx.end_ms, *channels],
    ):
        if contact is None:
            continue
        entry = per_contact.setdefault(contact, [t, set(), 0, 0])
        entry[0] = min(entry[0], t)
        entry[1].add(conversation)
        entry[2 if direction == "INBOUND" else 3] += 1
    for contact in sorted(per_contact):
        first, conversations, inbound, outbound = per_contact[contact]
        lus = [
            x
            for x in (
                d.lu("contact", contact),
                *(lu for (lu,) in ctx.conn.execute(
                    ATTRIBUTES_OF_CONTACT.format(columns="max(lu)"), (contact,)
                )),
                *(lu for (lu,) in ctx.conn.execute(
                    "SELECT max(m.lu) FROM messages m JOIN conversations c"
                    " ON c.conversation_id = m.conversation_id WHERE c.contact_profile_id = ?",
                    (contact,),
                )),
            )
            if x is not None
        ]  # fmt: skip
        yield {
            "contact_profile_id": contact,
            "medium": d.get("contact", contact, "medium"),
            "primary_identifier": d.get("contact", contact, "primary_identifier"),
            "secondary_identifier": d.get("contact", contact, "secondary_identifier"),
            "created_at": at(first),
            "number_of_conversations": len(conversations),
            "number_of_inbound_messages": inbound,
            "number_of_outbound_messages": outbound,
            "last_updated": at(max(lus)) if lus else None,
        }


def _applications(ctx: Context, kind: str) -> list[tuple[str, str, str, str | None, str | None]]:
    channel_sql, channels = ctx.channel_sql("c.channel_id")
    return list(
        ctx.conn.execute(
            "SELECT a.target_id, c.channel_id, a.conversation_id, a.message_id,"
            " c.contact_profile_id"
            " FROM applications a JOIN conversations c ON c.conversation_id = a.conversation_id"
            f" WHERE a.kind = ? AND a.t >= ? AND a.t < ? AND {channel_sql}",
            [kind, ctx.start_ms, ctx.end_ms, *channels],
        )
    )


def topics(ctx: Context) -> Iterator[Row]:
    """(topic, channel) pairs with an application in the range, by topic then channel id."""
    d = ctx.directory
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for topic, channel, conversation, _m, _p in _applications(ctx, "topic"):
        groups[(topic, channel)].add(conversation)
    current = {
        cid: set(orjson.loads(ids))
        for cid, ids in ctx.conn.execute("SELECT conversation_id, topic_ids FROM conversations")
    }
    for topic, channel in sorted(groups, key=lambda k: (k[0], k[1] or "")):
        conversations = groups[(topic, channel)]
        yield {
            "topic_id": topic,
            "topic_name": d.get("topic", topic, "name"),
            "active": d.active("topic", topic),
            "total_conversations": len(conversations),
            "total_current_conversations": sum(
                1 for c in conversations if topic in current.get(c, ())
            ),
            **d.channel_columns(channel),
        }


def tags(ctx: Context) -> Iterator[Row]:
    """(tag, channel) pairs with an application in the range, by tag then channel id."""
    d = ctx.directory
    groups: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    for tag, channel, _c, message, contact in _applications(ctx, "tag"):
        if message is not None:
            groups[(tag, channel)][message] = contact
    for tag, channel in sorted(groups, key=lambda k: (k[0], k[1] or "")):
        tagged = groups[(tag, channel)]
        current = 0
        for message in tagged:
            row = ctx.conn.execute("SELECT tag_ids FROM messages WHERE message_id = ?", (message,))
            found = row.fetchone()
            current += bool(found and tag in orjson.loads(found[0]))
        yield {
            "tag_id": tag,
            "tag_name": d.get("tag", tag, "name"),
            "active": d.active("tag", tag),
            "total_contacts": len({c for c in tagged.values() if c is not None}),
            "total_messages": len(tagged),
            "total_current_messages": current,
            **d.channel_columns(channel),
        }


@dataclass
class _VirtualAgentTotals:
    conversations: set[str] = field(default_factory=set)
    handovers: int = 0
    handover_errors: int = 0
    resolved: int = 0
    topic_conversations: set[str] = field(default_factory=set)
    tagged_messages: set[str] = field(default_factory=set)
    tag_applications: int = 0


def virtual_agents(ctx: Context) -> Iterator[Row]:
    """(virtual agent, channel) pairs with any count in the range, by agent then channel id."""
    d = ctx.directory
    channel_of = dict(ctx.conn.execute("SELECT conversation_id, channel_id FROM conversations"))
    totals: dict[tuple[str, str | None], _VirtualAgentTotals] = defaultdict(_VirtualAgentTotals)
    lo, hi = ctx.start_ms, ctx.end_ms

    def pick(conversation: str, actor_kind: str, actor: str | None) -> _VirtualAgentTotals | None:
        channel = channel_of.get(conversation)
        if actor_kind != "VIRTUAL_AGENT" or actor is None or not ctx.channel_ok(channel):
            return None
        return totals[(actor, channel)]

    for c, kind, sender in ctx.conn.execute(
        "SELECT conversation_id, sender_kind, sender_id FROM conv_messages WHERE t >= ? AND t < ?",
        (lo, hi),
    ):
        if (t := pick(c, kind, sender)) is not None:
            t.conversations.add(c)
    for c, reason, kind, actor in ctx.conn.execute(
        "SELECT conversation_id, handover_reason, actor_kind, actor_id"
        " FROM queue_entries WHERE t >= ? AND t < ? AND started_by = 'VA_HANDED_OVER_CONVERSATION'",
        (lo, hi),
    ):
        if (t := pick(c, kind, actor)) is not None:
            t.handovers += 1
            t.handover_errors += reason == "ERROR"
    for c, kind, actor in ctx.conn.execute(
        "SELECT conversation_id, actor_kind, actor_id FROM resolutions WHERE t >= ? AND t < ?",
        (lo, hi),
    ):
        if (t := pick(c, kind, actor)) is not None:
            t.resolved += 1
    for c, app_kind, kind, actor, message in ctx.conn.execute(
        "SELECT conversation_id, kind, actor_kind, actor_id, message_id FROM applications"
        " WHERE t >= ? AND t < ? AND kind IN ('topic', 'tag')",
        (lo, hi),
    ):
        if (t := pick(c, kind, actor)) is None:
            continue
        if app_kind == "topic":
            t.topic_conversations.add(c)
        elif app_kind == "tag" and message is not None:
            t.tagged_messages.add(message)
            t.tag_applications += 1
    for agent, channel in sorted(totals, key=lambda k: (k[0], k[1] or "")):
        t = totals[(agent, channel)]
        yield {
            "agent_id": agent,
            "agent_name": d.get("virtual_agent", agent, "name"),
            **d.channel_columns(channel),
            "total_conversations": len(t.conversations),
            "handover_to_agent": t.handovers,
            "handover_due_to_error": t.handover_errors,
            "resolved": t.resolved,
            "total_conversations_with_topic": len(t.topic_conversations),
            "total_tagged_messages": len(t.tagged_messages),
            "tags_per_message": (
                Fraction(t.tag_applications, len(t.tagged_messages)) if t.tagged_messages else None
            ),
        }


def contact_attributes(ctx: Context) -> Iterator[Row]:
    """Attributes of contacts with an inbound message in the range, by contact then attribute."""
    d = ctx.directory
    channel_sql, channels = ctx.channel_sql("c.channel_id")
    contact_ids = sorted(
        contact
        for (contact,) in ctx.conn.execute(
            "SELECT DISTINCT c.contact_profile_id FROM conv_messages m"
            " JOIN conversations c ON c.conversation_id = m.conversation_id"
            f" WHERE m.direction = 'INBOUND' AND m.t >= ? AND m.t < ? AND {channel_sql}",
            [ctx.start_ms, ctx.end_ms, *channels],
        )
        if contact is not None
    )
    for contact in contact_ids:
        attributes = ctx.conn.execute(ATTRIBUTES_OF_CONTACT.format(columns="fields"), (contact,))
        for fields in sorted(
            (orjson.loads(f) for (f,) in attributes), key=lambda f: f["attribute_id"]
        ):
            yield {
                "contact_profile_id": contact,
                "contact_primary_identifier": d.get("contact", contact, "primary_identifier"),
                "contact_secondary_identifier": d.get("contact", contact, "secondary_identifier"),
                "attribute_id": fields["attribute_id"],
                "attribute_name": fields["name"],
                "attribute_value": fields["value"],
                "attribute_type": fields["attribute_type"],
            }


GENERAL_BUILDERS: dict[str, Callable[[Context], Iterator[Row]]] = {
    "conversations_resolved": conversations_resolved,
    "conversations_open": conversations_open,
    "messages": messages,
    "teams": teams,
    "contacts": contacts,
    "topics": topics,
    "tags": tags,
    "agent_presence": agent_presence,
    "agent_metrics": agent_metrics,
    "responses": responses,
    "virtual_agents": virtual_agents,
    "contact_attributes": contact_attributes,
}
"""The row builder of every export type (exporter.schema.EXPORTS has the columns)."""


BUILDERS: dict[str, Callable[[Context], Iterable[Row]]] = {
    export_id: builder(export_id, general) for export_id, general in GENERAL_BUILDERS.items()
}
"""The rows of every export type: the general builders' dicts; for the exports with a SQL
form an iterable of the same dicts that can also have SQLite write their CSV records (the
fast path). exporter.formats chooses both (``builder``, ``write_records``)."""
