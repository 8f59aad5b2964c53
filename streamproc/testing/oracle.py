"""Independent batch oracle: every export of docs/exports.md recomputed in plain Python."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import click

from exporter.csvfmt import CsvResult
from exporter.formats import write_csv
from exporter.request import BadRequest, ExportRequest, parse_request
from exporter.schema import EXPORTS
from streamproc.events import (
    Actor,
    AgentUpserted,
    ChannelUpserted,
    ContactAttributeSet,
    ContactUpserted,
    ConversationCreated,
    ConversationLocked,
    ConversationUnlocked,
    CsatResponded,
    CsatSent,
    Event,
    InvalidEvent,
    LanguageSet,
    MessageCreated,
    MessageDeleted,
    MessageTagChanged,
    MessageUpdated,
    PresenceChanged,
    StatusChanged,
    TagDeleted,
    TagUpserted,
    TeamUpserted,
    TopicChanged,
    TopicDeleted,
    TopicUpserted,
    VirtualAgentUpserted,
    parse_event,
)
from streamproc.settings import Settings

__all__ = [
    "ROW_ORDERS",
    "load_events",
    "oracle_command",
    "oracle_rows",
    "run_oracle",
]

Row = dict[str, Any]

DEFAULT_LOCK_MAX_S: Final = Settings.lock_max_s

ROW_ORDERS: Final[Mapping[str, str]] = {
    "conversations_resolved": "Created at, then Conversation ID (no Created at: last)",
    "conversations_open": "Created at, then Conversation ID (no Created at: last)",
    "messages": "Created at, then Message ID",
    "teams": "Team ID",
    "contacts": "Contact Profile ID",
    "topics": "Topic ID, then channel id (unknown channel first)",
    "tags": "Tag ID, then channel id (unknown channel first)",
    "agent_presence": "User ID, then From, then the event_id that opened the interval",
    "agent_metrics": "User ID",
    "responses": "To, then Outbound Message ID",
    "virtual_agents": "Agent ID, then channel id (unknown channel first)",
    "contact_attributes": "Contact Profile ID, then Attribute ID",
}
"""The deterministic row order of each export (ids compare as plain strings)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)

# ---------------------------------------------------------------------------
# Time: integer milliseconds since the epoch inside, aware datetimes at the edges
# ---------------------------------------------------------------------------


def to_ms(moment: datetime) -> int:
    """An aware datetime as whole milliseconds since the Unix epoch (floored)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"need a timezone-aware datetime, got {moment!r}")
    return (moment - _EPOCH) // _MS


def instant(ms: int | None) -> datetime | None:
    """Milliseconds since the epoch as an aware UTC datetime (None stays None)."""
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)


# ---------------------------------------------------------------------------
# Reading the log
# ---------------------------------------------------------------------------


def load_events(lines: Iterable[bytes]) -> list[Event]:
    """The valid, unique events of a log in application order.

    Invalid lines are dropped, a repeated ``event_id`` is dropped (its first occurrence
    wins) and the rest is sorted by (``occurred_at`` in milliseconds, ``event_id``):
    "equal times are applied in event_id order".
    """
    seen: set[str] = set()
    events: list[Event] = []
    for raw in lines:
        try:
            event = parse_event(raw)
        except InvalidEvent:
            continue
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        events.append(event)
    events.sort(key=lambda e: (e.occurred_at_ms, e.event_id))
    return events


# ---------------------------------------------------------------------------
# The folded state: plain records
# ---------------------------------------------------------------------------


@dataclass
class Label:
    """A topic or tag of the directory: its last name and whether it is active."""

    name: str | None = None
    active: bool = True


@dataclass
class Directory:
    """Reference data, last write wins in event order."""

    agents: dict[str, AgentUpserted] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)
    virtual_agents: dict[str, str] = field(default_factory=dict)
    channels: dict[str, ChannelUpserted] = field(default_factory=dict)
    contacts: dict[str, ContactUpserted] = field(default_factory=dict)
    attributes: dict[str, dict[str, ContactAttributeSet]] = field(default_factory=dict)
    contact_updated_ms: dict[str, int] = field(default_factory=dict)
    topics: dict[str, Label] = field(default_factory=dict)
    tags: dict[str, Label] = field(default_factory=dict)

    def primary_team(self, agent_id: str | None) -> str | None:
        """The agent's primary team as of the export (None for unknown agents)."""
        agent = self.agents.get(agent_id) if agent_id is not None else None
        return agent.team_id if agent is not None else None

    def team_of(self, team_id: str | None, agent_id: str | None) -> str | None:
        """ "team = the event's team_id, else the agent's primary team"."""
        return team_id if team_id is not None else self.primary_team(agent_id)


@dataclass
class Message:
    """One message: its creation, current content, deletion and current tags."""

    id: str
    created: MessageCreated | None = None
    content: str | None = None
    deleted_ms: int | None = None
    last_updated_ms: int = 0
    tags: dict[str, int] = field(default_factory=dict)
    """Current tags -> time of their latest ``tag_added``."""

    @property
    def created_ms(self) -> int | None:
        """When the message was created (None before/without ``message.created``)."""
        return self.created.occurred_at_ms if self.created is not None else None


@dataclass
class QueueEntry:
    """A ``status_changed`` to ``NEW``."""

    event: StatusChanged
    ms: int


@dataclass
class Response:
    """The first agent reply to a queue entry (From = entry, To = message)."""

    entry: QueueEntry
    message: MessageCreated
    from_ms: int
    to_ms: int


@dataclass
class Resolution:
    """A ``status_changed`` to ``RESOLVED`` with what was known when it happened."""

    event: StatusChanged
    ms: int
    resolution_time_ms: int | None
    with_reply: bool


@dataclass
class LockSession:
    """An agent's lock on a conversation, from its first lock to its end."""

    agent_id: str
    team_id: str | None
    start_ms: int
    end_ms: int | None = None
    ended_by: str | None = None
    """``unlock``, ``takeover``, ``status`` or ``expiry``."""
    replied: bool = False
    own_status_change: bool = False

    @property
    def outcome(self) -> str:
        """ "A sent an OUTBOUND message in C during the session ⇒ handle time; else it ended by
        A's own change of C to PENDING or RESOLVED ⇒ no-reply time; else ⇒ cherry-pick time."""
        if self.replied:
            return "handle"
        if self.own_status_change:
            return "no_reply"
        return "cherry_pick"

    @property
    def duration_ms(self) -> int:
        """End - start of an ended session."""
        assert self.end_ms is not None  # noqa: S101 - only ended sessions are measured
        return self.end_ms - self.start_ms


@dataclass
class CsatAnswer:
    """A ``csat.responded`` and the conversation's latest resolution before it."""

    event: CsatResponded
    ms: int
    resolution: Resolution | None


@dataclass
class Conversation:
    """Everything that happened in one conversation, folded in event order."""

    id: str
    created: ConversationCreated | None = None
    language: str | None = None
    last_updated_ms: int = 0
    last_message_event_ms: int | None = None
    messages: list[Message] = field(default_factory=list)
    status_changes: list[StatusChanged] = field(default_factory=list)
    queue_entries: list[QueueEntry] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    sessions: list[LockSession] = field(default_factory=list)
    """Ended lock sessions, in end order."""
    open_session: LockSession | None = None
    topics: dict[str, int] = field(default_factory=dict)
    """Current topics -> time of their latest ``topic_added``."""
    topic_changes: list[TopicChanged] = field(default_factory=list)
    tag_changes: list[MessageTagChanged] = field(default_factory=list)
    csat_sent: CsatSent | None = None
    csat_answers: dict[str, CsatResponded] = field(default_factory=dict)
    csat_responses: list[CsatAnswer] = field(default_factory=list)
    # State of the scan (see Inbox._status_changed / _message_created).
    awaiting_response: QueueEntry | None = None
    agent_reply_since_entry: bool = False
    first_inbound_ms: int | None = None

    @property
    def channel_id(self) -> str | None:
        """The conversation's channel (None until ``conversation.created``)."""
        return self.created.channel_id if self.created is not None else None

    @property
    def contact_id(self) -> str | None:
        """The conversation's contact (None until ``conversation.created``)."""
        return self.created.contact_profile_id if self.created is not None else None

    @property
    def created_ms(self) -> int | None:
        """When the conversation was created."""
        return self.created.occurred_at_ms if self.created is not None else None


@dataclass
class PresenceInterval:
    """From an ``AVAILABLE``/``AWAY`` change to the agent's next change (None: still open)."""

    agent_id: str
    presence: str
    away_status: str | None
    from_ms: int
    event_id: str
    to_ms: int | None = None


# ---------------------------------------------------------------------------
# The fold
# ---------------------------------------------------------------------------


def _is_agent(actor: Actor) -> bool:
    """An actor/sender of kind AGENT with an id."""
    return actor.kind == "AGENT" and actor.id is not None


def _is_virtual_agent(actor: Actor) -> bool:
    """An actor/sender of kind VIRTUAL_AGENT with an id."""
    return actor.kind == "VIRTUAL_AGENT" and actor.id is not None


@dataclass
class Inbox:
    """The whole log folded into plain records; build it with :func:`fold`."""

    lock_max_ms: int
    directory: Directory = field(default_factory=Directory)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    presence: dict[str, list[PresenceInterval]] = field(default_factory=dict)
    contact_conversations: dict[str, list[Conversation]] = field(default_factory=dict)

    # -- helpers ------------------------------------------------------------------------

    def conversation(self, conversation_id: str) -> Conversation:
        """The conversation record, created on first mention."""
        conv = self.conversations.get(conversation_id)
        if conv is None:
            conv = self.conversations[conversation_id] = Conversation(conversation_id)
        return conv

    def message(self, message_id: str) -> Message:
        """The message record, created on first mention."""
        msg = self.messages.get(message_id)
        if msg is None:
            msg = self.messages[message_id] = Message(message_id)
        return msg

    # -- dispatch -----------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Apply one event (events must come in (occurred_at, event_id) order)."""
        conversation_id = getattr(event, "conversation_id", None)
        if isinstance(conversation_id, str):
            conv = self.conversation(conversation_id)
            self._expire_session(conv, event.occurred_at_ms)
            conv.last_updated_ms = event.occurred_at_ms
            self._apply_conversation_event(conv, event)
        else:
            self._apply_other(event)

    def _apply_conversation_event(self, conv: Conversation, e: Event) -> None:
        ms = e.occurred_at_ms
        if isinstance(e, MessageCreated | MessageUpdated | MessageDeleted | MessageTagChanged):
            conv.last_message_event_ms = ms
            msg = self.message(e.message_id)
            msg.last_updated_ms = ms
        if isinstance(e, MessageCreated):
            self._message_created(conv, e)
        elif isinstance(e, MessageUpdated):
            if e.content_set:
                self.message(e.message_id).content = e.content
        elif isinstance(e, MessageDeleted):
            msg = self.message(e.message_id)
            if msg.deleted_ms is None:
                msg.deleted_ms = ms
        elif isinstance(e, MessageTagChanged):
            msg = self.message(e.message_id)
            conv.tag_changes.append(e)
            if e.type == "message.tag_added":
                msg.tags[e.tag_id] = ms
            else:
                msg.tags.pop(e.tag_id, None)
        elif isinstance(e, ConversationLocked):
            self._locked(conv, e)
        elif isinstance(e, ConversationUnlocked):
            session = conv.open_session
            if session is not None and session.agent_id == e.agent_id:
                self._end_session(conv, ms, "unlock")
        elif isinstance(e, ConversationCreated):
            if conv.created is None:
                conv.created = e
                conv.language = e.language
                if not conv.queue_entries:
                    conv.agent_reply_since_entry = False
        elif isinstance(e, StatusChanged):
            self._status_changed(conv, e)
        elif isinstance(e, TopicChanged):
            conv.topic_changes.append(e)
            if e.type == "conversation.topic_added":
                conv.topics[e.topic_id] = ms
            else:
                conv.topics.pop(e.topic_id, None)
        elif isinstance(e, LanguageSet):
            conv.language = e.language
        elif isinstance(e, CsatSent):
            conv.csat_sent = e
        elif isinstance(e, CsatResponded):
            conv.csat_answers[e.survey_id] = e
            latest = conv.resolutions[-1] if conv.resolutions else None
            conv.csat_responses.append(CsatAnswer(e, ms, latest))

    def _message_created(self, conv: Conversation, e: MessageCreated) -> None:
        msg = self.message(e.message_id)
        if msg.created is not None:
            return  # a second message.created of the same message changes nothing
        msg.created = e
        msg.content = e.content
        conv.messages.append(msg)
        if e.direction == "INBOUND" and conv.first_inbound_ms is None:
            conv.first_inbound_ms = e.occurred_at_ms
        if e.direction == "OUTBOUND" and e.sender.kind == "AGENT":
            conv.agent_reply_since_entry = True
            entry = conv.awaiting_response
            if entry is not None:
                conv.responses.append(Response(entry, e, entry.ms, e.occurred_at_ms))
                conv.awaiting_response = None
            session = conv.open_session
            if session is not None and e.sender.id == session.agent_id:
                session.replied = True

    def _status_changed(self, conv: Conversation, e: StatusChanged) -> None:
        ms = e.occurred_at_ms
        session = conv.open_session
        if session is not None:
            session.own_status_change = (
                e.status in ("PENDING", "RESOLVED")
                and e.actor.kind == "AGENT"
                and e.actor.id == session.agent_id
            )
            self._end_session(conv, ms, "status")
        conv.status_changes.append(e)
        if e.status == "NEW":
            entry = QueueEntry(e, ms)
            conv.queue_entries.append(entry)
            conv.awaiting_response = entry
            conv.agent_reply_since_entry = False
        elif e.status == "RESOLVED":
            resolution_time = resolution_time_ms(ms, conv.first_inbound_ms)
            conv.resolutions.append(
                Resolution(e, ms, resolution_time, with_reply=conv.agent_reply_since_entry)
            )
            conv.awaiting_response = None

    # -- lock sessions: a small explicit state machine ----------------------------------

    def _locked(self, conv: Conversation, e: ConversationLocked) -> None:
        session = conv.open_session
        if session is not None and session.agent_id == e.agent_id:
            return  # "a repeat lock by A continues it" (start unchanged)
        if session is not None:
            self._end_session(conv, e.occurred_at_ms, "takeover")
        conv.open_session = LockSession(e.agent_id, e.team_id, e.occurred_at_ms)

    def _expire_session(self, conv: Conversation, now_ms: int) -> None:
        """ "An expiry at time T comes before any event at T"."""
        session = conv.open_session
        if session is not None and session.start_ms + self.lock_max_ms <= now_ms:
            self._end_session(conv, session.start_ms + self.lock_max_ms, "expiry")

    def _end_session(self, conv: Conversation, end_ms: int, ended_by: str) -> None:
        session = conv.open_session
        assert session is not None  # noqa: S101 - callers check
        session.end_ms = end_ms
        session.ended_by = ended_by
        conv.sessions.append(session)
        conv.open_session = None

    # -- presence and directory ---------------------------------------------------------

    def _apply_other(self, e: Event) -> None:
        d = self.directory
        ms = e.occurred_at_ms
        if isinstance(e, PresenceChanged):
            intervals = self.presence.setdefault(e.agent_id, [])
            if intervals and intervals[-1].to_ms is None:
                intervals[-1].to_ms = ms
            if e.presence in ("AVAILABLE", "AWAY"):
                away = e.away_status if e.presence == "AWAY" else None
                intervals.append(PresenceInterval(e.agent_id, e.presence, away, ms, e.event_id))
        elif isinstance(e, AgentUpserted):
            d.agents[e.agent_id] = e
        elif isinstance(e, TeamUpserted):
            d.teams[e.team_id] = e.name
        elif isinstance(e, VirtualAgentUpserted):
            d.virtual_agents[e.virtual_agent_id] = e.name
        elif isinstance(e, ChannelUpserted):
            d.channels[e.channel_id] = e
        elif isinstance(e, ContactUpserted):
            d.contacts[e.contact_profile_id] = e
            d.contact_updated_ms[e.contact_profile_id] = ms
        elif isinstance(e, ContactAttributeSet):
            d.attributes.setdefault(e.contact_profile_id, {})[e.attribute_id] = e
            d.contact_updated_ms[e.contact_profile_id] = ms
        elif isinstance(e, TopicUpserted):
            d.topics[e.topic_id] = Label(e.name, active=True)
        elif isinstance(e, TopicDeleted):
            d.topics.setdefault(e.topic_id, Label()).active = False
        elif isinstance(e, TagUpserted):
            d.tags[e.tag_id] = Label(e.name, active=True)
        elif isinstance(e, TagDeleted):
            d.tags.setdefault(e.tag_id, Label()).active = False

    def finish(self, as_of_ms: int) -> None:
        """Close what as_of closes (expired locks) and index conversations by contact."""
        for conv in self.conversations.values():
            session = conv.open_session
            if session is not None and session.start_ms + self.lock_max_ms <= as_of_ms:
                self._end_session(conv, session.start_ms + self.lock_max_ms, "expiry")
            if conv.contact_id is not None:
                self.contact_conversations.setdefault(conv.contact_id, []).append(conv)


def fold(events: Iterable[Event], as_of_ms: int, lock_max_ms: int) -> Inbox:
    """Apply sorted events to a fresh :class:`Inbox` and close it at ``as_of``."""
    inbox = Inbox(lock_max_ms)
    for event in events:
        inbox.apply(event)
    inbox.finish(as_of_ms)
    return inbox


# ---------------------------------------------------------------------------
# Metric rules (docs/exports.md "Metric definitions", docs/metrics.md)
# ---------------------------------------------------------------------------


def resolution_time_ms(resolved_ms: int, first_inbound_ms: int | None) -> int | None:
    """ "Resolution Time of a resolution = its time - the conversation's first INBOUND message
    (empty without one)."""
    return None if first_inbound_ms is None else resolved_ms - first_inbound_ms


def first_response_time_ms(conv: Conversation) -> int | None:
    """ "First Response Time (conversation) = the response time of its first response; empty
    when it has none."""
    if not conv.responses:
        return None
    first = conv.responses[0]
    return first.to_ms - first.from_ms


def latest_resolution(conv: Conversation) -> Resolution | None:
    """ "Conversation rows use the latest resolution"."""
    return conv.resolutions[-1] if conv.resolutions else None


def first_resolution(conv: Conversation) -> Resolution | None:
    """ "one row per conversation whose FIRST resolution falls in the range"."""
    return conv.resolutions[0] if conv.resolutions else None


def current_status(conv: Conversation) -> str | None:
    """The status of the latest ``status_changed``; empty when there is none."""
    return conv.status_changes[-1].status if conv.status_changes else None


def last_status_change(conv: Conversation) -> StatusChanged | None:
    """ "Last Status Change Agent/Team: of the latest status change to PENDING or RESOLVED;
    filled only when its actor is an agent"."""
    for e in reversed(conv.status_changes):
        if e.status in ("PENDING", "RESOLVED"):
            return e if _is_agent(e.actor) else None
    return None


def session_counts(session: LockSession, as_of_ms: int) -> bool:
    """ "A session still open at as_of counts nowhere yet" (metrics.md: not ended at as_of =
    no ending event and start + lock_max > as_of)."""
    if session.end_ms is None:
        return False
    return session.ended_by != "expiry" or session.end_ms <= as_of_ms


def session_totals(sessions: Iterable[LockSession]) -> dict[str, int]:
    """Handle, no-reply and cherry-pick milliseconds of ended sessions, by outcome."""
    totals = {"handle": 0, "no_reply": 0, "cherry_pick": 0}
    for s in sessions:
        totals[s.outcome] += s.duration_ms
    return totals


def csat_cells(conv: Conversation) -> tuple[int | None, str, str | None, str | None]:
    """ "Conversation CSAT columns: of the latest csat.sent; Completed Status NOT_SENT | SENT |
    COMPLETED; score and follow-ups empty unless COMPLETED." (score, status, question, answer)"""
    if conv.csat_sent is None:
        return None, "NOT_SENT", None, None
    answer = conv.csat_answers.get(conv.csat_sent.survey_id)
    if answer is None:
        return None, "SENT", None, None
    return answer.score, "COMPLETED", answer.followup_question, answer.followup_answer


def current_labels(carried: Mapping[str, int]) -> list[str]:
    """Topics/tags carried at as_of, ordered by the time they were (last) added, then id."""
    return [label for _, label in sorted((ms, label) for label, ms in carried.items())]


def label_names(labels: Mapping[str, Label], ids: Iterable[str]) -> list[str]:
    """Names for ids, in the same order ("" for a never-named one, to keep lists aligned)."""
    return [(labels[i].name if i in labels else None) or "" for i in ids]


def presence_overlaps(iv: PresenceInterval, start_ms: int, end_ms: int, as_of_ms: int) -> bool:
    """ "one row per AVAILABLE or AWAY interval that overlaps the range, whole": it starts in
    the range, or starts before it and ends (or, open, reaches as_of) after its start."""
    to_ms = iv.to_ms if iv.to_ms is not None else as_of_ms
    return iv.from_ms < end_ms and (iv.from_ms >= start_ms or to_ms > start_ms)


def presence_duration_ms(iv: PresenceInterval, as_of_ms: int) -> int:
    """ "Still open at as_of: To empty, duration up to as_of" (never negative)."""
    to_ms = iv.to_ms if iv.to_ms is not None else as_of_ms
    return max(0, to_ms - iv.from_ms)


def presence_clipped_ms(iv: PresenceInterval, start_ms: int, end_ms: int, as_of_ms: int) -> int:
    """ "Available / Away Time are the intervals clipped to the range" (and to as_of)."""
    to_ms = iv.to_ms if iv.to_ms is not None else as_of_ms
    return max(0, min(to_ms, end_ms, as_of_ms) - max(iv.from_ms, start_ms))


def mean(values: list[int]) -> Fraction | None:
    """The exact mean; "Division by zero gives an empty cell"."""
    return Fraction(sum(values), len(values)) if values else None


def ratio(numerator: int, denominator: int) -> Fraction | None:
    """An exact ratio, empty when the denominator is 0."""
    return Fraction(numerator, denominator) if denominator else None


def with_reply(resolution: Resolution) -> bool:
    """ "With Reply iff some OUTBOUND message with sender.kind = AGENT has occurred_at after
    the latest queue entry before the resolution (after the conversation's creation when there
    is none)" (computed by the scan when the resolution is applied)."""
    return resolution.with_reply


# ---------------------------------------------------------------------------
# Scope of one request: range, channels, as_of
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What one request looks at: ``[start, end)`` (None: no range), channels and as_of."""

    start_ms: int | None
    end_ms: int | None
    channels: frozenset[str]
    as_of_ms: int

    def in_range(self, ms: int | None) -> bool:
        """ "X in the range" means X's instant is in ``[start, end)``."""
        if ms is None or self.start_ms is None or self.end_ms is None:
            return False
        return self.start_ms <= ms < self.end_ms

    def keeps(self, conv: Conversation) -> bool:
        """The channel filter: all channels when empty, else the conversation's channel."""
        return not self.channels or conv.channel_id in self.channels

    @property
    def bounds(self) -> tuple[int, int]:
        """``(start, end)`` of a ranged request."""
        if self.start_ms is None or self.end_ms is None:
            raise ValueError("this export type needs a range")
        return self.start_ms, self.end_ms


def kept(inbox: Inbox, scope: Scope) -> Iterator[Conversation]:
    """The conversations the channel filter keeps, by id."""
    for conversation_id in sorted(inbox.conversations):
        conv = inbox.conversations[conversation_id]
        if scope.keeps(conv):
            yield conv


# ---------------------------------------------------------------------------
# Shared cells
# ---------------------------------------------------------------------------


def _channel_cells(d: Directory, channel_id: str | None, prefix: str = "") -> Row:
    ch = d.channels.get(channel_id) if channel_id is not None else None
    return {
        "medium": ch.medium if ch else None,
        f"{prefix}channel": ch.name if ch else None,
        f"{prefix}channel_display_name": ch.display_name if ch else None,
    }


def _contact_cells(d: Directory, contact_id: str | None, prefix: str = "contact_") -> Row:
    contact = d.contacts.get(contact_id) if contact_id is not None else None
    return {
        f"{prefix}primary_identifier": contact.primary_identifier if contact else None,
        f"{prefix}secondary_identifier": contact.secondary_identifier if contact else None,
    }


def _agent_cells(d: Directory, agent_id: str | None, prefix: str) -> Row:
    agent = d.agents.get(agent_id) if agent_id is not None else None
    return {
        f"{prefix}id": agent_id,
        f"{prefix}name": agent.name if agent else None,
        f"{prefix}reference": agent.reference if agent else None,
    }


def _conversation_sort_key(conv: Conversation) -> tuple[bool, int, str]:
    created = conv.created_ms
    return (created is None, created or 0, conv.id)


# ---------------------------------------------------------------------------
# 1, 2: conversations
# ---------------------------------------------------------------------------


def conversation_row(inbox: Inbox, conv: Conversation, as_of_ms: int) -> Row:
    """One row of ``conversations_resolved`` (``conversations_open`` drops seven columns)."""
    d = inbox.directory
    last_change = last_status_change(conv)
    last_agent = last_change.actor.id if last_change is not None else None
    last_team = d.team_of(last_change.team_id, last_agent) if last_change is not None else None
    resolution = latest_resolution(conv)
    resolved_event = resolution.event if resolution is not None else None
    resolved_agent = (
        resolved_event.actor.id
        if resolved_event is not None and _is_agent(resolved_event.actor)
        else None
    )
    topic_ids = current_labels(conv.topics)
    times = session_totals(s for s in conv.sessions if session_counts(s, as_of_ms))
    score, csat_status, question, answer = csat_cells(conv)
    return {
        "conversation_id": conv.id,
        **_channel_cells(d, conv.channel_id),
        "contact_profile_id": conv.contact_id,
        **_contact_cells(d, conv.contact_id),
        "created_at": instant(conv.created_ms),
        **_agent_cells(d, last_agent, "last_status_change_agent_"),
        "last_status_change_team_id": last_team,
        "last_status_change_team_name": d.teams.get(last_team) if last_team else None,
        "current_status": current_status(conv),
        "resolved_by": resolved_event.actor.kind if resolved_event is not None else None,
        "resolve_reason": resolved_event.resolve_reason if resolved_event else None,
        "resolve_comment": resolved_event.resolve_comment if resolved_event else None,
        "resolve_trigger": resolved_event.resolve_trigger if resolved_event else None,
        "resolved_at": instant(resolution.ms) if resolution is not None else None,
        **_agent_cells(d, resolved_agent, "resolved_agent_"),
        "number_of_inbound_messages": sum(
            1 for m in conv.messages if m.created and m.created.direction == "INBOUND"
        ),
        "number_of_outbound_messages": sum(
            1 for m in conv.messages if m.created and m.created.direction == "OUTBOUND"
        ),
        "first_response_time_s": first_response_time_ms(conv),
        "handle_time_s": times["handle"],
        "no_reply_time_s": times["no_reply"],
        "cherry_pick_time_s": times["cherry_pick"],
        "resolution_time_s": resolution.resolution_time_ms if resolution is not None else None,
        "topic_ids": topic_ids,
        "topic_names": label_names(d.topics, topic_ids),
        "conversation_url": conv.created.url if conv.created is not None else None,
        "last_updated": instant(conv.last_updated_ms),
        "language": conv.language,
        "csat_score": score,
        "csat_completed_status": csat_status,
        "csat_follow_up_question": question,
        "csat_follow_up_answer": answer,
    }


def conversations_resolved(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per conversation whose FIRST resolution falls in the range, with data as of
    the export"."""
    chosen = [
        conv
        for conv in kept(inbox, scope)
        if (first := first_resolution(conv)) is not None and scope.in_range(first.ms)
    ]
    chosen.sort(key=_conversation_sort_key)
    return [conversation_row(inbox, conv, scope.as_of_ms) for conv in chosen]


_NOT_IN_OPEN: Final = (
    "resolve_reason",
    "resolve_comment",
    "resolve_trigger",
    "csat_score",
    "csat_completed_status",
    "csat_follow_up_question",
    "csat_follow_up_answer",
)


def conversations_open(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per conversation whose status is NEW or PENDING as of the export; no range"."""
    chosen = [conv for conv in kept(inbox, scope) if current_status(conv) in ("NEW", "PENDING")]
    chosen.sort(key=_conversation_sort_key)
    rows = []
    for conv in chosen:
        row = conversation_row(inbox, conv, scope.as_of_ms)
        for key in _NOT_IN_OPEN:
            del row[key]
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# 3: messages
# ---------------------------------------------------------------------------


def messages(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per unique message created in the range"; "Deleted messages keep their row"."""
    d = inbox.directory
    chosen: list[tuple[int, str, Message, Conversation]] = []
    for msg in inbox.messages.values():
        created = msg.created
        if created is None or not scope.in_range(created.occurred_at_ms):
            continue
        conv = inbox.conversations[created.conversation_id]
        if scope.keeps(conv):
            chosen.append((created.occurred_at_ms, msg.id, msg, conv))
    chosen.sort(key=lambda item: (item[0], item[1]))
    rows = []
    for created_ms, _, msg, conv in chosen:
        e = msg.created
        assert e is not None  # noqa: S101 - chosen above
        agent_id = e.sender.id if e.sender.kind == "AGENT" else None
        tag_ids = current_labels(msg.tags)
        rows.append(
            {
                "message_id": msg.id,
                "created_at": instant(created_ms),
                "conversation_id": conv.id,
                **_channel_cells(d, conv.channel_id),
                "contact_profile_id": conv.contact_id,
                **_contact_cells(d, conv.contact_id),
                "message_type": e.message_type,
                "origin": e.origin,
                "outbound_message_type": e.outbound_type,
                "direction": e.direction,
                **_agent_cells(d, agent_id, "agent_"),
                "team_id": e.team_id,
                "team_name": d.teams.get(e.team_id) if e.team_id else None,
                "tag_ids": tag_ids,
                "tag_names": label_names(d.tags, tag_ids),
                "content": msg.content,
                "conversation_url": conv.created.url if conv.created is not None else None,
                "post_url": e.post_url,
                "last_updated": instant(msg.last_updated_ms),
                "deleted_at": instant(msg.deleted_ms),
                "system_user_type": e.system_user_type,
            }
        )
    return rows


# ---------------------------------------------------------------------------
# Activity of agents and teams (4, 9)
# ---------------------------------------------------------------------------


@dataclass
class Tally:
    """The additive metrics of one agent or team over a range."""

    handle_ms: int = 0
    no_reply_ms: int = 0
    cherry_pick_ms: int = 0
    handled_conversations: set[str] = field(default_factory=set)
    replies: int = 0
    contacts_helped: set[str] = field(default_factory=set)
    resolves_with_reply: int = 0
    resolves_without_reply: int = 0
    tags_added: int = 0
    topics_added: int = 0
    csat: list[int] = field(default_factory=lambda: [0] * 5)

    @property
    def busy_ms(self) -> int:
        """Handle + no-reply + cherry-pick time."""
        return self.handle_ms + self.no_reply_ms + self.cherry_pick_ms

    def avg_handle_ms(self) -> Fraction | None:
        """ "Avg. Handle Time = handle time / number of distinct conversations with a handle
        session (of the agent / team) in the range"."""
        return ratio(self.handle_ms, len(self.handled_conversations))

    def csat_cells(self) -> Row:
        """CSAT with Score 1..5."""
        return {f"csat_with_score_{k}": self.csat[k - 1] for k in range(1, 6)}


Owner = Callable[[str | None, str | None], str | None]
"""Who a fact is credited to, from (acting agent id, the event's team_id)."""


def sessions_ended_in(inbox: Inbox, scope: Scope) -> Iterator[tuple[Conversation, LockSession]]:
    """ "agent and team times sum the sessions that ended in the range"."""
    for conv in kept(inbox, scope):
        for s in conv.sessions:
            if session_counts(s, scope.as_of_ms) and scope.in_range(s.end_ms):
                yield conv, s


def agent_replies_in(inbox: Inbox, scope: Scope) -> Iterator[tuple[Conversation, MessageCreated]]:
    """ "Replies": OUTBOUND messages from an agent (sender AGENT with an id) in the range."""
    for conv in kept(inbox, scope):
        for msg in conv.messages:
            e = msg.created
            if (
                e is not None
                and e.direction == "OUTBOUND"
                and _is_agent(e.sender)
                and scope.in_range(e.occurred_at_ms)
            ):
                yield conv, e


def agent_resolutions_in(inbox: Inbox, scope: Scope) -> Iterator[tuple[Conversation, Resolution]]:
    """ "each change to RESOLVED in the range whose actor is an agent"."""
    for conv in kept(inbox, scope):
        for r in conv.resolutions:
            if _is_agent(r.event.actor) and scope.in_range(r.ms):
                yield conv, r


def labels_added_in(
    inbox: Inbox, scope: Scope
) -> Iterator[tuple[str, MessageTagChanged | TopicChanged]]:
    """ "Tags / Topics Added: tag_added / topic_added events in the range whose actor is the
    agent" — yields ("tag" | "topic", event) for agent actors; removals do not subtract."""
    for conv in kept(inbox, scope):
        for tag in conv.tag_changes:
            added = tag.type == "message.tag_added"
            if added and _is_agent(tag.actor) and scope.in_range(tag.occurred_at_ms):
                yield "tag", tag
        for topic in conv.topic_changes:
            added = topic.type == "conversation.topic_added"
            if added and _is_agent(topic.actor) and scope.in_range(topic.occurred_at_ms):
                yield "topic", topic


def csat_credits_in(inbox: Inbox, scope: Scope) -> Iterator[tuple[CsatResponded, Resolution]]:
    """ "CSAT with Score k: csat.responded in the range with score k, credited to the actor of
    the conversation's latest resolution before the response when that actor is an agent"."""
    for conv in kept(inbox, scope):
        for answer in conv.csat_responses:
            r = answer.resolution
            if r is not None and _is_agent(r.event.actor) and scope.in_range(answer.ms):
                yield answer.event, r


def tally(inbox: Inbox, scope: Scope, owner: Owner) -> dict[str, Tally]:
    """Every additive agent/team metric of the range, credited with ``owner``."""
    tallies: defaultdict[str, Tally] = defaultdict(Tally)
    for conv, s in sessions_ended_in(inbox, scope):
        key = owner(s.agent_id, s.team_id)
        if key is None:
            continue
        t = tallies[key]
        if s.outcome == "handle":
            t.handle_ms += s.duration_ms
            t.handled_conversations.add(conv.id)
        elif s.outcome == "no_reply":
            t.no_reply_ms += s.duration_ms
        else:
            t.cherry_pick_ms += s.duration_ms
    for conv, message in agent_replies_in(inbox, scope):
        key = owner(message.sender.id, message.team_id)
        if key is None:
            continue
        tallies[key].replies += 1
        if conv.contact_id is not None:
            tallies[key].contacts_helped.add(conv.contact_id)
    for _, r in agent_resolutions_in(inbox, scope):
        key = owner(r.event.actor.id, r.event.team_id)
        if key is None:
            continue
        if with_reply(r):
            tallies[key].resolves_with_reply += 1
        else:
            tallies[key].resolves_without_reply += 1
    for kind, label_event in labels_added_in(inbox, scope):
        key = owner(label_event.actor.id, label_event.team_id)
        if key is None:
            continue
        if kind == "tag":
            tallies[key].tags_added += 1
        else:
            tallies[key].topics_added += 1
    for response, r in csat_credits_in(inbox, scope):
        key = owner(r.event.actor.id, r.event.team_id)
        if key is not None:
            tallies[key].csat[response.score - 1] += 1
    return dict(tallies)


# ---------------------------------------------------------------------------
# 4: teams
# ---------------------------------------------------------------------------


def team_messages_in(inbox: Inbox, scope: Scope) -> dict[str, int]:
    """ "Team rows: teams with an OUTBOUND message in the range. Created at = the earliest such
    message." Team = the message's team_id, else the sending agent's primary team."""
    d = inbox.directory
    earliest: dict[str, int] = {}
    for conv in kept(inbox, scope):
        for msg in conv.messages:
            e = msg.created
            if e is None or e.direction != "OUTBOUND" or not scope.in_range(e.occurred_at_ms):
                continue
            sender = e.sender.id if _is_agent(e.sender) else None
            team = d.team_of(e.team_id, sender)
            if team is not None and (team not in earliest or e.occurred_at_ms < earliest[team]):
                earliest[team] = e.occurred_at_ms
    return earliest


def team_first_response_times(inbox: Inbox, scope: Scope) -> dict[str, list[int]]:
    """ "Average First Response Time = mean First Response Time of the conversations whose first
    response is in the range and was sent with team T"."""
    d = inbox.directory
    times: defaultdict[str, list[int]] = defaultdict(list)
    for conv in kept(inbox, scope):
        if not conv.responses or not scope.in_range(conv.responses[0].to_ms):
            continue
        message = conv.responses[0].message
        team = d.team_of(message.team_id, message.sender.id)
        frt = first_response_time_ms(conv)
        if team is not None and frt is not None:
            times[team].append(frt)
    return dict(times)


def team_resolution_times(inbox: Inbox, scope: Scope) -> dict[str, list[int]]:
    """ "Average Resolution Time = mean Resolution Time of the resolutions in the range whose
    actor is an agent with team T" (non-empty resolution times only)."""
    d = inbox.directory
    times: defaultdict[str, list[int]] = defaultdict(list)
    for _, r in agent_resolutions_in(inbox, scope):
        team = d.team_of(r.event.team_id, r.event.actor.id)
        if team is not None and r.resolution_time_ms is not None:
            times[team].append(r.resolution_time_ms)
    return dict(times)


def teams(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per team with at least one outbound message in the range"."""
    d = inbox.directory
    earliest = team_messages_in(inbox, scope)
    tallies = tally(inbox, scope, lambda agent, team: d.team_of(team, agent))
    frts = team_first_response_times(inbox, scope)
    resolution_times = team_resolution_times(inbox, scope)
    rows = []
    for team_id in sorted(earliest):
        t = tallies.get(team_id, Tally())
        rows.append(
            {
                "created_at": instant(earliest[team_id]),
                "team_id": team_id,
                "team_name": d.teams.get(team_id),
                "resolves_with_reply": t.resolves_with_reply,
                "resolves_without_reply": t.resolves_without_reply,
                "average_first_response_time": mean(frts.get(team_id, [])),
                "average_resolution_time": mean(resolution_times.get(team_id, [])),
                "total_handle_time": t.handle_ms,
                "total_no_reply_time": t.no_reply_ms,
                "total_cherry_pick_time": t.cherry_pick_ms,
                "average_handle_time": t.avg_handle_ms(),
                "contacts_helped": len(t.contacts_helped),
                **t.csat_cells(),
                "tags_added": t.tags_added,
                "topics_added": t.topics_added,
                "replies": t.replies,
            }
        )
    return rows


# ---------------------------------------------------------------------------
# 5: contacts, 12: contact attributes
# ---------------------------------------------------------------------------


def contact_last_updated_ms(inbox: Inbox, contact_id: str) -> int | None:
    """ "contact = latest of its directory events and of messages in its conversations"."""
    candidates = [
        conv.last_message_event_ms
        for conv in inbox.contact_conversations.get(contact_id, [])
        if conv.last_message_event_ms is not None
    ]
    if contact_id in inbox.directory.contact_updated_ms:
        candidates.append(inbox.directory.contact_updated_ms[contact_id])
    return max(candidates) if candidates else None


@dataclass
class ContactActivity:
    """A contact's messages in the range."""

    first_ms: int
    conversations: set[str] = field(default_factory=set)
    inbound: int = 0
    outbound: int = 0


def contact_activity(inbox: Inbox, scope: Scope) -> dict[str, ContactActivity]:
    """ "Created at = the contact's first message in the range; Number of Conversations =
    distinct conversations with a message in the range; message counts are of the range"."""
    activity: dict[str, ContactActivity] = {}
    for conv in kept(inbox, scope):
        if conv.contact_id is None:
            continue
        for msg in conv.messages:
            e = msg.created
            if e is None or not scope.in_range(e.occurred_at_ms):
                continue
            a = activity.get(conv.contact_id)
            if a is None:
                a = activity[conv.contact_id] = ContactActivity(e.occurred_at_ms)
            a.first_ms = min(a.first_ms, e.occurred_at_ms)
            a.conversations.add(conv.id)
            if e.direction == "INBOUND":
                a.inbound += 1
            else:
                a.outbound += 1
    return activity


def contacts(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per contact with at least one message (either direction) in the range"."""
    d = inbox.directory
    activity = contact_activity(inbox, scope)
    rows = []
    for contact_id in sorted(activity):
        a = activity[contact_id]
        contact = d.contacts.get(contact_id)
        rows.append(
            {
                "contact_profile_id": contact_id,
                "medium": contact.medium if contact else None,
                **_contact_cells(d, contact_id, prefix=""),
                "created_at": instant(a.first_ms),
                "number_of_conversations": len(a.conversations),
                "number_of_inbound_messages": a.inbound,
                "number_of_outbound_messages": a.outbound,
                "last_updated": instant(contact_last_updated_ms(inbox, contact_id)),
            }
        )
    return rows


def contact_attributes(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per (contact, attribute) for contacts who sent an inbound message in the range;
    current values"."""
    d = inbox.directory
    senders: set[str] = set()
    for conv in kept(inbox, scope):
        if conv.contact_id is None:
            continue
        for msg in conv.messages:
            e = msg.created
            if e is not None and e.direction == "INBOUND" and scope.in_range(e.occurred_at_ms):
                senders.add(conv.contact_id)
                break
    rows = []
    for contact_id in sorted(senders):
        attributes = d.attributes.get(contact_id, {})
        for attribute_id in sorted(attributes):
            a = attributes[attribute_id]
            rows.append(
                {
                    "contact_profile_id": contact_id,
                    **_contact_cells(d, contact_id),
                    "attribute_id": attribute_id,
                    "attribute_name": a.name,
                    "attribute_value": a.value,
                    "attribute_type": a.attribute_type,
                }
            )
    return rows


# ---------------------------------------------------------------------------
# 6, 7: topics and tags
# ---------------------------------------------------------------------------


def _label_cells(labels: Mapping[str, Label], label_id: str) -> tuple[str | None, bool]:
    """ "a topic or tag deleted in the directory stays ... with its last name, and Active =
    false (a later upsert makes it active again)" — never-seen ids count as active."""
    label = labels.get(label_id)
    return (label.name, label.active) if label is not None else (None, True)


def topics(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per (topic, channel) with at least one application in the range"; Total
    Conversations = distinct conversations it was applied to in the range; Total Current = of
    those, the ones that still carry it at as_of."""
    d = inbox.directory
    applied: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for conv in kept(inbox, scope):
        for e in conv.topic_changes:
            if e.type == "conversation.topic_added" and scope.in_range(e.occurred_at_ms):
                applied[(e.topic_id, conv.channel_id or "")].add(conv.id)
    rows = []
    for topic_id, channel_id in sorted(applied):
        conversation_ids = applied[(topic_id, channel_id)]
        name, active = _label_cells(d.topics, topic_id)
        current = sum(1 for c in conversation_ids if topic_id in inbox.conversations[c].topics)
        rows.append(
            {
                "topic_id": topic_id,
                "topic_name": name,
                "active": active,
                "total_conversations": len(conversation_ids),
                "total_current_conversations": current,
                **_channel_cells(d, channel_id or None),
            }
        )
    return rows


def tags(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per (tag, channel) with at least one application in the range"; Total
    Messages = distinct messages it was applied to in the range; Total Current = of those, the
    ones that still carry it at as_of; Total Contacts = distinct contacts of those messages."""
    d = inbox.directory
    applied: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    contacts_of: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for conv in kept(inbox, scope):
        for e in conv.tag_changes:
            if e.type == "message.tag_added" and scope.in_range(e.occurred_at_ms):
                key = (e.tag_id, conv.channel_id or "")
                applied[key].add(e.message_id)
                if conv.contact_id is not None:
                    contacts_of[key].add(conv.contact_id)
    rows = []
    for tag_id, channel_id in sorted(applied):
        message_ids = applied[(tag_id, channel_id)]
        name, active = _label_cells(d.tags, tag_id)
        current = sum(1 for m in message_ids if tag_id in inbox.messages[m].tags)
        rows.append(
            {
                "tag_id": tag_id,
                "tag_name": name,
                "active": active,
                "total_contacts": len(contacts_of[(tag_id, channel_id)]),
                "total_messages": len(message_ids),
                "total_current_messages": current,
                **_channel_cells(d, channel_id or None),
            }
        )
    return rows


# ---------------------------------------------------------------------------
# 8: agent presence, 9: agent metrics
# ---------------------------------------------------------------------------


def agent_presence(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per AVAILABLE or AWAY interval that overlaps the range, whole (not clipped)";
    presence has no channel and is not filtered."""
    d = inbox.directory
    start_ms, end_ms = scope.bounds
    rows = []
    for agent_id in sorted(inbox.presence):
        agent = d.agents.get(agent_id)
        intervals = sorted(inbox.presence[agent_id], key=lambda iv: (iv.from_ms, iv.event_id))
        for iv in intervals:
            if not presence_overlaps(iv, start_ms, end_ms, scope.as_of_ms):
                continue
            rows.append(
                {
                    "user_id": agent_id,
                    "user_name": agent.name if agent else None,
                    "user_email": agent.email if agent else None,
                    "type": iv.presence,
                    "away_status": iv.away_status,
                    "from": instant(iv.from_ms),
                    "to": instant(iv.to_ms),
                    "duration_s": presence_duration_ms(iv, scope.as_of_ms),
                }
            )
    return rows


def presence_time(inbox: Inbox, scope: Scope) -> dict[str, dict[str, int]]:
    """Available / Away milliseconds of the agents with an interval overlapping the range,
    clipped to the range and to as_of (never channel-filtered)."""
    start_ms, end_ms = scope.bounds
    result: dict[str, dict[str, int]] = {}
    for agent_id, intervals in inbox.presence.items():
        for iv in intervals:
            if presence_overlaps(iv, start_ms, end_ms, scope.as_of_ms):
                times = result.setdefault(agent_id, {"AVAILABLE": 0, "AWAY": 0})
                times[iv.presence] += presence_clipped_ms(iv, start_ms, end_ms, scope.as_of_ms)
    return result


def active_agents(inbox: Inbox, scope: Scope) -> set[str]:
    """ "Agent-metrics rows: agents (not virtual agents) with ... a lock session, message,
    status change or tag/topic event in the range" (channel-filtered)."""
    active: set[str] = set()
    for _, s in sessions_ended_in(inbox, scope):
        active.add(s.agent_id)
    for conv in kept(inbox, scope):
        actors = [
            m.created.sender
            for m in conv.messages
            if m.created is not None and scope.in_range(m.created.occurred_at_ms)
        ]
        actors += [e.actor for e in conv.status_changes if scope.in_range(e.occurred_at_ms)]
        actors += [e.actor for e in conv.tag_changes if scope.in_range(e.occurred_at_ms)]
        actors += [e.actor for e in conv.topic_changes if scope.in_range(e.occurred_at_ms)]
        active.update(a.id for a in actors if _is_agent(a) and a.id is not None)
    return active


def utilization(t: Tally, available_ms: int) -> Fraction | None:
    """ "Utilization (%) = (handle + no-reply + cherry-pick time) / available time x 100, empty
    when available time is 0"."""
    return ratio(t.busy_ms * 100, available_ms)


def agent_metrics(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per agent with presence or activity in the range"."""
    d = inbox.directory
    presence = presence_time(inbox, scope)
    tallies = tally(inbox, scope, lambda agent, _team: agent)
    agent_ids = active_agents(inbox, scope)
    agent_ids.update(presence)
    rows = []
    for agent_id in sorted(agent_ids):
        agent = d.agents.get(agent_id)
        t = tallies.get(agent_id, Tally())
        times = presence.get(agent_id, {"AVAILABLE": 0, "AWAY": 0})
        rows.append(
            {
                "user_id": agent_id,
                "user_name": agent.name if agent else None,
                "user_email": agent.email if agent else None,
                "user_reference": agent.reference if agent else None,
                "available_time_s": times["AVAILABLE"],
                "away_time_s": times["AWAY"],
                "contacts_helped": len(t.contacts_helped),
                "avg_handle_time_s": t.avg_handle_ms(),
                "handle_time_s": t.handle_ms,
                "no_reply_time_s": t.no_reply_ms,
                "cherry_pick_time_s": t.cherry_pick_ms,
                "replies": t.replies,
                "resolves_with_reply": t.resolves_with_reply,
                "resolves_without_reply": t.resolves_without_reply,
                "tags_added": t.tags_added,
                "topics_added": t.topics_added,
                "utilization_pct": utilization(t, times["AVAILABLE"]),
                **t.csat_cells(),
            }
        )
    return rows


# ---------------------------------------------------------------------------
# 10: responses
# ---------------------------------------------------------------------------


def responses(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "one row per response whose outbound message was created in the range"."""
    d = inbox.directory
    chosen = [
        (r.to_ms, r.message.message_id, conv, r)
        for conv in kept(inbox, scope)
        for r in conv.responses
        if scope.in_range(r.to_ms)
    ]
    chosen.sort(key=lambda item: (item[0], item[1]))
    rows = []
    for _, _, conv, r in chosen:
        entry = r.entry.event
        rows.append(
            {
                "conversation_id": conv.id,
                **_channel_cells(d, conv.channel_id, prefix="sender_"),
                "contact_profile_id": conv.contact_id,
                "started_by": entry.started_by,
                "handover_reason": entry.handover_reason,
                "from": instant(r.from_ms),
                "to": instant(r.to_ms),
                "agent_response_time_s": r.to_ms - r.from_ms,
                **_agent_cells(d, r.message.sender.id, "responding_agent_"),
                "inbound_message_id": entry.inbound_message_id,
                "outbound_message_id": r.message.message_id,
                "conversation_url": conv.created.url if conv.created is not None else None,
            }
        )
    return rows


# ---------------------------------------------------------------------------
# 11: virtual agents
# ---------------------------------------------------------------------------


@dataclass
class VirtualAgentTally:
    """One (virtual agent, channel) over the range."""

    conversations: set[str] = field(default_factory=set)
    handovers: int = 0
    handovers_error: int = 0
    resolved: int = 0
    topic_conversations: set[str] = field(default_factory=set)
    tagged_messages: set[str] = field(default_factory=set)
    tag_applications: int = 0


def virtual_agents(inbox: Inbox, scope: Scope) -> list[Row]:
    """ "per virtual agent x the conversation's channel, counts in the range; a row exists when
    any count is non-zero"."""
    d = inbox.directory
    tallies: defaultdict[tuple[str, str], VirtualAgentTally] = defaultdict(VirtualAgentTally)
    for conv in kept(inbox, scope):
        channel = conv.channel_id or ""
        for msg in conv.messages:
            e = msg.created
            if e and _is_virtual_agent(e.sender) and scope.in_range(e.occurred_at_ms):
                tallies[(str(e.sender.id), channel)].conversations.add(conv.id)
        for entry in conv.queue_entries:
            q = entry.event
            if (
                q.started_by == "VA_HANDED_OVER_CONVERSATION"
                and _is_virtual_agent(q.actor)
                and scope.in_range(entry.ms)
            ):
                t = tallies[(str(q.actor.id), channel)]
                t.handovers += 1
                if q.handover_reason == "ERROR":
                    t.handovers_error += 1
        for r in conv.resolutions:
            if _is_virtual_agent(r.event.actor) and scope.in_range(r.ms):
                tallies[(str(r.event.actor.id), channel)].resolved += 1
        for topic in conv.topic_changes:
            if (
                topic.type == "conversation.topic_added"
                and _is_virtual_agent(topic.actor)
                and scope.in_range(topic.occurred_at_ms)
            ):
                tallies[(str(topic.actor.id), channel)].topic_conversations.add(conv.id)
        for tag in conv.tag_changes:
            if (
                tag.type == "message.tag_added"
                and _is_virtual_agent(tag.actor)
                and scope.in_range(tag.occurred_at_ms)
            ):
                t = tallies[(str(tag.actor.id), channel)]
                t.tagged_messages.add(tag.message_id)
                t.tag_applications += 1
    rows = []
    for va_id, channel_id in sorted(tallies):
        t = tallies[(va_id, channel_id)]
        rows.append(
            {
                "agent_id": va_id,
                "agent_name": d.virtual_agents.get(va_id),
                **_channel_cells(d, channel_id or None),
                "total_conversations": len(t.conversations),
                "handover_to_agent": t.handovers,
                "handover_due_to_error": t.handovers_error,
                "resolved": t.resolved,
                "total_conversations_with_topic": len(t.topic_conversations),
                "total_tagged_messages": len(t.tagged_messages),
                "tags_per_message": ratio(t.tag_applications, len(t.tagged_messages)),
            }
        )
    return rows


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

BUILDERS: Final[Mapping[str, Callable[[Inbox, Scope], list[Row]]]] = {
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
"""One builder per export type of exporter.schema.EXPORTS."""


def scope_of(request: ExportRequest, as_of: datetime) -> Scope:
    """The request's range and channels in milliseconds, with ``as_of``."""
    return Scope(
        start_ms=to_ms(request.start) if request.start is not None else None,
        end_ms=to_ms(request.end) if request.end is not None else None,
        channels=request.channels,
        as_of_ms=to_ms(as_of),
    )


def oracle_rows(
    events: Iterable[bytes],
    request: ExportRequest,
    as_of: datetime,
    *,
    lock_max_s: int = DEFAULT_LOCK_MAX_S,
) -> list[dict[str, Any]]:
    """The rows of ``request``'s export over the whole log ``events`` (one JSON value per
    item), as of ``as_of`` (aware), in the order of ``ROW_ORDERS``."""
    scope = scope_of(request, as_of)
    inbox = fold(load_events(events), scope.as_of_ms, lock_max_s * 1000)
    return BUILDERS[request.export_type](inbox, scope)


def run_oracle(
    events_path: str | os.PathLike[str],
    request: ExportRequest,
    as_of: datetime,
    out_path: str | os.PathLike[str],
    *,
    lock_max_s: int = DEFAULT_LOCK_MAX_S,
) -> CsvResult:
    """Compute an export from a JSON-lines file and write it as CSV to ``out_path``."""
    with open(events_path, "rb") as lines:
        rows = oracle_rows(lines, request, as_of, lock_max_s=lock_max_s)
    out = Path(out_path)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            spec = EXPORTS[request.export_type]
            result = write_csv(f, spec, rows, locale=request.locale, tz=request.tz)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def parse_as_of(text: str) -> datetime:
    """``--as-of``: an RFC 3339 datetime with ``Z`` or an offset, as aware UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or moment.utcoffset() is None:
        raise click.BadParameter(
            f"{text!r} is not an RFC 3339 datetime with Z or an offset; "
            "use e.g. --as-of 2026-11-03T00:00:00Z",
            param_hint="--as-of",
        )
    return moment.astimezone(UTC)


@click.command("oracle", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("export_type", metavar="TYPE")
@click.option("--from", "from_", help="First day YYYY-MM-DD or RFC 3339 start (inclusive).")
@click.option("--to", "to", help="Last day YYYY-MM-DD (inclusive) or RFC 3339 end (exclusive).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone.")
@click.option("--channel", "channels", multiple=True, help="Keep only this channel id (repeat).")
@click.option("--locale", default="en", show_default=True, help="Header language: en or es.")
@click.option("--as-of", "as_of", required=True, help="Snapshot instant, RFC 3339 with offset.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="CSV file to write.",
)
def oracle_command(
    events: Path,
    export_type: str,
    from_: str | None,
    to: str | None,
    timezone: str,
    channels: tuple[str, ...],
    locale: str,
    as_of: str,
    out: Path,
) -> None:
    """Compute export TYPE from the EVENTS JSON-lines file in plain Python (the batch oracle).

    Reads the whole log (invalid lines and repeated event ids dropped), applies it in
    (occurred_at, event_id) order and writes the CSV the exporter must reproduce byte for
    byte. The lock maximum comes from STREAMPROC_LOCK_MAX_S (default 7200).
    """
    raw: dict[str, Any] = {
        "request_id": "oracle",
        "export_type": export_type,
        "timezone": timezone,
        "from": from_,
        "to": to,
        "channels": list(channels),
        "locale": locale,
    }
    try:
        request = parse_request(raw)
    except BadRequest as exc:
        raise click.UsageError(f"bad export request: {exc.reason}") from None
    moment = parse_as_of(as_of)
    try:
        lock_max_s = Settings.from_env().lock_max_s
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = run_oracle(events, request, moment, out, lock_max_s=lock_max_s)
    click.echo(f"{out}: {result.rows} rows, {result.bytes} bytes, sha256 {result.sha256}")
