"""A conversation's metrics as a pure fold over its events in (occurred_at, event_id) order."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from copy import copy
from dataclasses import dataclass, field
from typing import Any

from streamproc.metrics.conversation_log import (
    ConversationCreatedEntry,
    CsatRespondedEntry,
    CsatSentEntry,
    LanguageSetEntry,
    LockedEntry,
    LogEntry,
    MessageCreatedEntry,
    StatusChangedEntry,
    TagAddedEntry,
    TagRemovedEntry,
    TopicAddedEntry,
    TopicRemovedEntry,
    UnlockedEntry,
    order_key,
)

# ---------------------------------------------------------------------------
# Facts: what one conversation contributes to every export.
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class QueueEntry:
    """A change to NEW: the start of a wait for a human response."""

    t: int
    started_by: str | None
    inbound_message_id: str | None
    handover_reason: str | None
    actor_kind: str
    actor_id: str | None


@dataclass(slots=True)
class Response:
    """The first agent reply after a queue entry (before the next entry or resolution)."""

    queue_t: int
    t: int
    started_by: str | None
    handover_reason: str | None
    inbound_message_id: str | None
    agent_id: str | None
    team_id: str | None
    outbound_message_id: str

    @property
    def response_ms(self) -> int:
        """Agent Response Time."""
        return self.t - self.queue_t


@dataclass(slots=True)
class Resolution:
    """A change to RESOLVED, with what the agent/team metrics need."""

    t: int
    actor_kind: str
    actor_id: str | None
    team_id: str | None
    reason: str | None
    comment: str | None
    trigger: str | None
    with_reply: bool
    resolution_ms: int | None


@dataclass(slots=True)
class LockSession:
    """An agent's lock session. ``end`` is None while no event has ended it; then it ends at
    ``expiry`` once as_of reaches it (outcome handle if ``replied`` else cherry-pick)."""

    agent_id: str
    team_id: str | None
    start: int
    expiry: int
    end: int | None = None
    replied: bool = False
    own_status_end: bool = False

    def outcome_at(self, as_of_ms: int) -> tuple[str, int] | None:
        """(``handle``|``no_reply``|``cherry_pick``, duration ms), or None if still open."""
        if self.end is not None:
            end = self.end
        elif self.expiry <= as_of_ms:
            end = self.expiry
        else:
            return None
        if self.replied:
            return "handle", end - self.start
        if self.own_status_end and self.end is not None:
            return "no_reply", end - self.start
        return "cherry_pick", end - self.start

    def end_at(self, as_of_ms: int) -> int | None:
        """When the session ended, as seen at as_of; None while open."""
        if self.end is not None:
            return self.end
        return self.expiry if self.expiry <= as_of_ms else None


@dataclass(slots=True)
class Message:
    """A created message as the conversation metrics see it (no content)."""

    t: int
    message_id: str
    direction: str
    sender_kind: str
    sender_id: str | None
    team_id: str | None


@dataclass(slots=True)
class Application:
    """A topic added to the conversation or a tag added to one of its messages."""

    t: int
    target_id: str
    actor_kind: str
    actor_id: str | None
    team_id: str | None
    message_id: str | None = None


@dataclass(slots=True)
class StatusChange:
    """Any status change (the agent-metrics row rule counts those made by agents)."""

    t: int
    status: str
    actor_kind: str
    actor_id: str | None
    team_id: str | None


@dataclass(slots=True)
class CsatResponse:
    """A CSAT response with the agent/team credited (the latest resolution before it)."""

    t: int
    survey_id: str
    score: int
    followup_question: str | None
    followup_answer: str | None
    agent_id: str | None
    team_id: str | None


@dataclass(slots=True)
class ConversationFacts:
    """Everything the exports read about one conversation, derived from its log."""

    conversation_id: str
    channel_id: str | None = None
    contact_profile_id: str | None = None
    url: str | None = None
    created_t: int | None = None
    language: str | None = None
    status: str | None = None
    last_status_agent_id: str | None = None
    last_status_team_id: str | None = None
    first_inbound_t: int | None = None
    messages: list[Message] = field(default_factory=list)
    queue_entries: list[QueueEntry] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    sessions: list[LockSession] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)
    topics_added: list[Application] = field(default_factory=list)
    tags_added: list[Application] = field(default_factory=list)
    labels_removed: list[Application] = field(default_factory=list)
    topics_now: dict[str, int] = field(default_factory=dict)
    csat_sent_t: int | None = None
    csat_survey_id: str | None = None
    csat_responses: list[CsatResponse] = field(default_factory=list)
    response_before: bool = False
    """A response exists before these entries (a segment's facts: metrics.segments)."""
    end: Carry | None = None
    """The fold's state after the entries (set by the fold)."""

    @property
    def topic_ids(self) -> list[str]:
        """Topics on the conversation, by when they were (last) added, then id."""
        return [topic for _t, topic in sorted((t, o) for o, t in self.topics_now.items())]

    @property
    def _end(self) -> Carry:
        assert self.end is not None, "facts not built by a fold"  # noqa: S101
        return self.end

    @property
    def first_resolution_t(self) -> int | None:
        """When the conversation was first resolved (the resolved export's range key)."""
        return self._end.first_resolution_t

    @property
    def latest_resolution(self) -> Resolution | None:
        """The resolution the conversation rows show."""
        return self._end.latest_resolution

    @property
    def first_response(self) -> Response | None:
        """The earliest response (First Response Time): the first in event order, since
        a response needs a queue entry after the previous response."""
        return self._end.first_response

    @property
    def first_response_here(self) -> Response | None:
        """The conversation's first response if these entries hold it."""
        return None if self.response_before or not self.responses else self.responses[0]

    @property
    def inbound_count(self) -> int:
        """Number of Inbound Messages (every sender kind) among these facts' messages."""
        return sum(1 for m in self.messages if m.direction == "INBOUND")

    @property
    def outbound_count(self) -> int:
        """Number of Outbound Messages (every sender kind) among these facts' messages."""
        return sum(1 for m in self.messages if m.direction == "OUTBOUND")

    @property
    def csat_status(self) -> str:
        """``NOT_SENT``, ``SENT`` or ``COMPLETED`` for the latest survey sent."""
        if self.csat_survey_id is None:
            return "NOT_SENT"
        return "COMPLETED" if self.csat_completion is not None else "SENT"

    @property
    def csat_completion(self) -> CsatResponse | None:
        """The latest response to the latest survey sent, if any."""
        if self.csat_survey_id is None:
            return None
        return self._end.csat_latest.get(self.csat_survey_id)


@dataclass(slots=True)
class Carry:
    """The fold's state at one point of a conversation's log: all that the effect of a
    later entry depends on, and the conversation-level figures so far. Its size does not
    grow with the log (at most one lock session is open; topics and surveys are the
    conversation's distinct ones), so it is the checkpoint stored with each segment."""

    channel_id: str | None = None
    contact_profile_id: str | None = None
    url: str | None = None
    created_t: int | None = None
    language: str | None = None
    status: str | None = None
    last_status_agent_id: str | None = None
    last_status_team_id: str | None = None
    first_inbound_t: int | None = None
    topics_now: dict[str, int] = field(default_factory=dict)
    csat_sent_t: int | None = None
    csat_survey_id: str | None = None
    open_sessions: list[LockSession] = field(default_factory=list)
    open_queue: QueueEntry | None = None
    replied_since_queue: bool = False
    latest_resolution: Resolution | None = None
    first_resolution_t: int | None = None
    first_response: Response | None = None
    csat_latest: dict[str, CsatResponse] = field(default_factory=dict)
    latest_t: int | None = None


class _Fold:
    """The state machine behind :func:`fold`; one instance per replay."""

    def __init__(
        self, conversation_id: str, lock_max_ms: int, carry: Carry, repeated: Container[str]
    ) -> None:
        c = carry
        self.f = ConversationFacts(
            conversation_id, c.channel_id, c.contact_profile_id, c.url, c.created_t,
            c.language, c.status, c.last_status_agent_id, c.last_status_team_id,
            c.first_inbound_t, topics_now=dict(c.topics_now), csat_sent_t=c.csat_sent_t,
            csat_survey_id=c.csat_survey_id, response_before=c.first_response is not None,
        )  # fmt: skip
        self.lock_max_ms = lock_max_ms
        self.open_sessions: dict[str, LockSession] = {s.agent_id: copy(s) for s in c.open_sessions}
        self.f.sessions.extend(self.open_sessions.values())
        self.open_queue: QueueEntry | None = c.open_queue  # waiting for its response
        self.replied_since_queue = c.replied_since_queue  # an agent reply since the queue entry
        self.repeated = repeated  # event ids of message.created entries that do not count
        self.latest_resolution: Resolution | None = c.latest_resolution
        self.first_resolution_t = c.first_resolution_t
        self.first_response = c.first_response
        self.csat_latest = dict(c.csat_latest)
        self.latest_t = c.latest_t

    def carry(self) -> Carry:
        """The state after the entries applied so far."""
        f = self.f
        return Carry(
            f.channel_id, f.contact_profile_id, f.url, f.created_t, f.language, f.status,
            f.last_status_agent_id, f.last_status_team_id, f.first_inbound_t,
            dict(f.topics_now), f.csat_sent_t, f.csat_survey_id,
            [copy(s) for s in self.open_sessions.values()], self.open_queue,
            self.replied_since_queue, self.latest_resolution, self.first_resolution_t,
            self.first_response,
            dict(self.csat_latest), self.latest_t,
        )  # fmt: skip

    # -- time ---------------------------------------------------------------------------
    def expire_sessions(self, now: int) -> None:
        """Sessions whose maximum length ran out before ``now`` end at their expiry."""
        for agent, session in list(self.open_sessions.items()):
            if session.expiry <= now:
                session.end = session.expiry
                del self.open_sessions[agent]

    def end_sessions(self, t: int, *, except_agent: str | None = None) -> list[LockSession]:
        ended = []
        for agent, session in list(self.open_sessions.items()):
            if agent != except_agent:
                session.end = t
                ended.append(session)
                del self.open_sessions[agent]
        return ended

    # -- events -------------------------------------------------------------------------
    def apply(self, e: LogEntry) -> None:
        t = e.occurred_at_ms
        if self.latest_t is None or t > self.latest_t:
            self.latest_t = t
        if self.open_sessions:
            self.expire_sessions(t)
        _HANDLERS[type(e)](self, e, t)

    def on_conversation_created(self, e: ConversationCreatedEntry, t: int) -> None:
        f = self.f
        if f.created_t is not None:
            return  # a repeated creation: the first one stands
        f.channel_id, f.contact_profile_id, f.url, f.created_t = (
            e.channel_id, e.contact_profile_id, e.url, t,
        )  # fmt: skip
        self.replied_since_queue = False
        f.language = e.language

    def on_language_set(self, e: LanguageSetEntry, t: int) -> None:
        self.f.language = e.language

    def on_message_created(self, e: MessageCreatedEntry, t: int) -> None:
        if e.event_id in self.repeated:
            return  # a repeated creation: the first one stands
        message = Message(t, e.message_id, e.direction, e.sender_kind, e.sender_id, e.team_id)
        self.f.messages.append(message)
        if message.direction == "INBOUND" and self.f.first_inbound_t is None:
            self.f.first_inbound_t = t
        if message.direction != "OUTBOUND" or message.sender_kind != "AGENT":
            return
        self.replied_since_queue = True
        session = self.open_sessions.get(message.sender_id or "")
        if session is not None:
            session.replied = True
        if self.open_queue is not None:
            q = self.open_queue
            response = Response(
                q.t, t, q.started_by, q.handover_reason, q.inbound_message_id,
                message.sender_id, message.team_id, message.message_id,
            )  # fmt: skip
            self.f.responses.append(response)
            if self.first_response is None:
                self.first_response = response
            self.open_queue = None

    def on_tag_added(self, e: TagAddedEntry, t: int) -> None:
        self.f.tags_added.append(
            Application(t, e.tag_id, e.actor_kind, e.actor_id, e.team_id, e.message_id)
        )

    def on_tag_removed(self, e: TagRemovedEntry, t: int) -> None:
        self.f.labels_removed.append(
            Application(t, e.tag_id, e.actor_kind, e.actor_id, e.team_id, e.message_id)
        )

    def on_topic_added(self, e: TopicAddedEntry, t: int) -> None:
        self.f.topics_added.append(Application(t, e.topic_id, e.actor_kind, e.actor_id, e.team_id))
        self.f.topics_now[e.topic_id] = t  # re-adding a present topic counts as its latest add

    def on_topic_removed(self, e: TopicRemovedEntry, t: int) -> None:
        self.f.labels_removed.append(
            Application(t, e.topic_id, e.actor_kind, e.actor_id, e.team_id)
        )
        self.f.topics_now.pop(e.topic_id, None)

    def on_locked(self, e: LockedEntry, t: int) -> None:
        agent = e.agent_id
        self.end_sessions(t, except_agent=agent)
        if agent not in self.open_sessions:
            session = LockSession(agent, e.team_id, t, t + self.lock_max_ms)
            self.open_sessions[agent] = session
            self.f.sessions.append(session)

    def on_unlocked(self, e: UnlockedEntry, t: int) -> None:
        session = self.open_sessions.pop(e.agent_id, None)
        if session is not None:
            session.end = t

    def on_status_changed(self, e: StatusChangedEntry, t: int) -> None:
        f = self.f
        status, actor_kind, actor_id, team = e.status, e.actor_kind, e.actor_id, e.team_id
        for session in self.end_sessions(t):
            session.own_status_end = (
                status in ("PENDING", "RESOLVED")
                and actor_kind == "AGENT"
                and actor_id == session.agent_id
            )
        f.status = status
        f.status_changes.append(StatusChange(t, status, actor_kind, actor_id, team))
        if status in ("PENDING", "RESOLVED"):
            by_agent = actor_kind == "AGENT" and actor_id is not None
            f.last_status_agent_id = actor_id if by_agent else None
            f.last_status_team_id = team if by_agent else None
        if status == "NEW":
            entry = QueueEntry(
                t, e.started_by, e.inbound_message_id, e.handover_reason, actor_kind, actor_id
            )
            f.queue_entries.append(entry)
            self.open_queue = entry
            self.replied_since_queue = False
        elif status == "RESOLVED":
            resolution = Resolution(
                t, actor_kind, actor_id, team, e.resolve_reason, e.resolve_comment,
                e.resolve_trigger, self.replied_since_queue,
                None if f.first_inbound_t is None else t - f.first_inbound_t,
            )  # fmt: skip
            f.resolutions.append(resolution)
            self.latest_resolution = resolution
            if self.first_resolution_t is None:
                self.first_resolution_t = t
            self.open_queue = None

    def on_csat_sent(self, e: CsatSentEntry, t: int) -> None:
        self.f.csat_sent_t, self.f.csat_survey_id = t, e.survey_id

    def on_csat_responded(self, e: CsatRespondedEntry, t: int) -> None:
        r = self.latest_resolution
        credited = r is not None and r.actor_kind == "AGENT" and r.actor_id is not None
        response = CsatResponse(
            t, e.survey_id, e.score, e.followup_question, e.followup_answer,
            r.actor_id if credited and r else None,
            r.team_id if credited and r else None,
        )  # fmt: skip
        self.f.csat_responses.append(response)
        self.csat_latest[e.survey_id] = response


_HANDLERS: dict[type[LogEntry], Callable[[_Fold, Any, int], None]] = {
    ConversationCreatedEntry: _Fold.on_conversation_created,
    LanguageSetEntry: _Fold.on_language_set,
    MessageCreatedEntry: _Fold.on_message_created,
    TagAddedEntry: _Fold.on_tag_added,
    TagRemovedEntry: _Fold.on_tag_removed,
    TopicAddedEntry: _Fold.on_topic_added,
    TopicRemovedEntry: _Fold.on_topic_removed,
    LockedEntry: _Fold.on_locked,
    UnlockedEntry: _Fold.on_unlocked,
    StatusChangedEntry: _Fold.on_status_changed,
    CsatSentEntry: _Fold.on_csat_sent,
    CsatRespondedEntry: _Fold.on_csat_responded,
}
"""``_Fold.on_<kind>`` by entry class (each handler's entry type is checked by mypy;
tests/unit/test_conversation_log.py checks that every entry class has its handler)."""


def repeated_creations(entries: Iterable[LogEntry]) -> set[str]:
    """Event ids of the ``message.created`` entries that are not their message's first
    creation in event order (``entries`` in event order)."""
    created: set[str] = set()
    repeated: set[str] = set()
    for e in entries:
        if type(e) is MessageCreatedEntry:
            if e.message_id in created:
                repeated.add(e.event_id)
            created.add(e.message_id)
    return repeated


def fold(conversation_id: str, entries: Iterable[LogEntry], lock_max_ms: int) -> ConversationFacts:
    """Replay a conversation's log entries (any order) into its facts."""
    ordered = sorted(entries, key=order_key)
    return fold_segment(
        conversation_id, Carry(), ordered, lock_max_ms, repeated_creations(ordered), last=True
    )


def fold_segment(
    conversation_id: str,
    carry: Carry,
    entries: Iterable[LogEntry],
    lock_max_ms: int,
    repeated: Container[str],
    last: bool,
) -> ConversationFacts:
    """Replay a part of a conversation's log (entries in event order) from the state
    ``carry`` before it; the facts hold what these entries add, and ``end`` the state
    after them.

    ``repeated``: event ids of ``message.created`` entries that are not their message's
    first creation (decided over the whole log: metrics.segments). A lock session is in
    the facts of the part whose entries end it, or of the ``last`` part while it is open.
    """
    state = _Fold(conversation_id, lock_max_ms, carry, repeated)
    for entry in entries:
        state.apply(entry)
    f = state.f
    f.end = state.carry()
    if not last:
        f.sessions = [s for s in f.sessions if s.end is not None]
    return f
