"""A conversation's metrics as a pure fold over its events in (occurred_at, event_id) order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streamproc.events import (
    ConversationCreated,
    ConversationLocked,
    ConversationUnlocked,
    CsatResponded,
    CsatSent,
    Event,
    LanguageSet,
    MessageCreated,
    MessageTagChanged,
    StatusChanged,
    TopicChanged,
)

# A log entry is a compact JSON-able dict: "t" event time (ms), "id" event_id, "k" type,
# plus the fields the conversation's metrics read (no message content).
LogEntry = dict[str, Any]


def log_entry(event: Event) -> LogEntry | None:
    """The compact log entry of an event that conversation metrics read, else None.

    ``message.updated`` and ``message.deleted`` change only the message's own state and
    the conversation's Last Updated (a max over the messages, taken by the read model).
    """
    base: LogEntry = {"t": event.occurred_at_ms, "id": event.event_id, "k": event.type}
    match event:
        case MessageCreated():
            base.update(
                m=event.message_id, d=event.direction, sk=event.sender.kind,
                si=event.sender.id, tm=event.team_id,
            )  # fmt: skip
        case MessageTagChanged():
            base.update(
                m=event.message_id, g=event.tag_id, ak=event.actor.kind, ai=event.actor.id,
                tm=event.team_id,
            )  # fmt: skip
        case ConversationCreated():
            base.update(
                ch=event.channel_id, p=event.contact_profile_id, u=event.url, lang=event.language
            )
        case StatusChanged():
            base.update(
                s=event.status, ak=event.actor.kind, ai=event.actor.id, tm=event.team_id,
                sb=event.started_by, im=event.inbound_message_id, hr=event.handover_reason,
                rr=event.resolve_reason, rc=event.resolve_comment, rt=event.resolve_trigger,
            )  # fmt: skip
        case ConversationLocked():
            base.update(a=event.agent_id, tm=event.team_id)
        case ConversationUnlocked():
            base.update(a=event.agent_id)
        case TopicChanged():
            base.update(o=event.topic_id, ak=event.actor.kind, ai=event.actor.id, tm=event.team_id)
        case LanguageSet():
            base.update(lang=event.language)
        case CsatSent():
            base.update(sv=event.survey_id)
        case CsatResponded():
            base.update(
                sv=event.survey_id, sc=event.score, fq=event.followup_question,
                fa=event.followup_answer,
            )  # fmt: skip
        case _:
            return None
    return base


def order_key(entry: LogEntry) -> tuple[int, str]:
    """Events apply in (occurred_at, event_id) order."""
    return (entry["t"], entry["id"])


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

    @property
    def topic_ids(self) -> list[str]:
        """Topics on the conversation, by when they were (last) added, then id."""
        return [topic for _t, topic in sorted((t, o) for o, t in self.topics_now.items())]

    @property
    def first_resolution_t(self) -> int | None:
        """When the conversation was first resolved (the resolved export's range key)."""
        return self.resolutions[0].t if self.resolutions else None

    @property
    def latest_resolution(self) -> Resolution | None:
        """The resolution the conversation rows show."""
        return self.resolutions[-1] if self.resolutions else None

    @property
    def first_response(self) -> Response | None:
        """The earliest response (First Response Time)."""
        return min(self.responses, key=lambda r: (r.t, r.queue_t), default=None)

    @property
    def inbound_count(self) -> int:
        """Number of Inbound Messages (every sender kind)."""
        return sum(1 for m in self.messages if m.direction == "INBOUND")

    @property
    def outbound_count(self) -> int:
        """Number of Outbound Messages (every sender kind)."""
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
        matches = [r for r in self.csat_responses if r.survey_id == self.csat_survey_id]
        return matches[-1] if matches else None


class _Fold:
    """The state machine behind :func:`fold`; one instance per replay."""

    def __init__(self, conversation_id: str, lock_max_ms: int) -> None:
        self.f = ConversationFacts(conversation_id)
        self.lock_max_ms = lock_max_ms
        self.open_sessions: dict[str, LockSession] = {}
        self.open_queue: QueueEntry | None = None  # waiting for its response
        self.replied_since_queue = False  # an agent reply after the latest queue entry
        self.message_ids: set[str] = set()
        self.latest_resolution: Resolution | None = None

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
        t = e["t"]
        if self.open_sessions:
            self.expire_sessions(t)
        kind = e["k"]
        handler = _HANDLERS.get(kind)
        if handler is None:
            handler = _HANDLERS[kind] = getattr(_Fold, "on_" + kind.replace(".", "_"))
        handler(self, e, t)

    def on_conversation_created(self, e: LogEntry, t: int) -> None:
        f = self.f
        if f.created_t is not None:
            return  # a repeated creation: the first one stands
        f.channel_id, f.contact_profile_id, f.url, f.created_t = e["ch"], e["p"], e["u"], t
        self.replied_since_queue = False
        f.language = e["lang"]

    def on_conversation_language_set(self, e: LogEntry, t: int) -> None:
        self.f.language = e["lang"]

    def on_message_created(self, e: LogEntry, t: int) -> None:
        if e["m"] in self.message_ids:
            return  # a repeated creation: the first one stands
        self.message_ids.add(e["m"])
        message = Message(t, e["m"], e["d"], e["sk"], e["si"], e["tm"])
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
            self.f.responses.append(
                Response(
                    q.t, t, q.started_by, q.handover_reason, q.inbound_message_id,
                    message.sender_id, message.team_id, message.message_id,
                )
            )  # fmt: skip
            self.open_queue = None

    def on_message_tag_added(self, e: LogEntry, t: int) -> None:
        self.f.tags_added.append(Application(t, e["g"], e["ak"], e["ai"], e["tm"], e["m"]))

    def on_message_tag_removed(self, e: LogEntry, t: int) -> None:
        self.f.labels_removed.append(Application(t, e["g"], e["ak"], e["ai"], e["tm"], e["m"]))

    def on_conversation_topic_added(self, e: LogEntry, t: int) -> None:
        self.f.topics_added.append(Application(t, e["o"], e["ak"], e["ai"], e["tm"]))
        self.f.topics_now[e["o"]] = t  # re-adding a present topic counts as its latest add

    def on_conversation_topic_removed(self, e: LogEntry, t: int) -> None:
        self.f.labels_removed.append(Application(t, e["o"], e["ak"], e["ai"], e["tm"]))
        self.f.topics_now.pop(e["o"], None)

    def on_conversation_locked(self, e: LogEntry, t: int) -> None:
        agent = e["a"]
        self.end_sessions(t, except_agent=agent)
        if agent not in self.open_sessions:
            session = LockSession(agent, e["tm"], t, t + self.lock_max_ms)
            self.open_sessions[agent] = session
            self.f.sessions.append(session)

    def on_conversation_unlocked(self, e: LogEntry, t: int) -> None:
        session = self.open_sessions.pop(e["a"], None)
        if session is not None:
            session.end = t

    def on_conversation_status_changed(self, e: LogEntry, t: int) -> None:
        f = self.f
        status, actor_kind, actor_id, team = e["s"], e["ak"], e["ai"], e["tm"]
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
            entry = QueueEntry(t, e["sb"], e["im"], e["hr"], actor_kind, actor_id)
            f.queue_entries.append(entry)
            self.open_queue = entry
            self.replied_since_queue = False
        elif status == "RESOLVED":
            resolution = Resolution(
                t, actor_kind, actor_id, team, e["rr"], e["rc"], e["rt"],
                self.replied_since_queue,
                None if f.first_inbound_t is None else t - f.first_inbound_t,
            )  # fmt: skip
            f.resolutions.append(resolution)
            self.latest_resolution = resolution
            self.open_queue = None

    def on_csat_sent(self, e: LogEntry, t: int) -> None:
        self.f.csat_sent_t, self.f.csat_survey_id = t, e["sv"]

    def on_csat_responded(self, e: LogEntry, t: int) -> None:
        r = self.latest_resolution
        credited = r is not None and r.actor_kind == "AGENT" and r.actor_id is not None
        self.f.csat_responses.append(
            CsatResponse(
                t, e["sv"], e["sc"], e["fq"], e["fa"],
                r.actor_id if credited and r else None,
                r.team_id if credited and r else None,
            )
        )  # fmt: skip


_HANDLERS: dict[str, Any] = {}
"""``_Fold.on_<kind>`` by log entry kind (looked up once per kind)."""


def fold(conversation_id: str, entries: Iterable[LogEntry], lock_max_ms: int) -> ConversationFacts:
    """Replay a conversation's log entries (any order) into its facts."""
    state = _Fold(conversation_id, lock_max_ms)
    for entry in sorted(entries, key=order_key):
        state.apply(entry)
    return state.f
