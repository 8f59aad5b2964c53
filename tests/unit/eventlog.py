"""A small typed builder of v1 event lines for hand-built metric and export tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from streamproc.events import Event, parse_event
from streamproc.metrics.conversation import ConversationFacts, fold
from streamproc.metrics.conversation_log import log_entry

T0: Final = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""Numeric moments are seconds after this instant (a Monday, 09:00 UTC)."""
DAY: Final = "2026-11-02"
"""The day a bare ``HH:MM:SS`` moment falls on."""
LOCK_MAX_MS: Final = 7_200_000
S: Final = 1000
"""One second in milliseconds."""

Moment = float | str | datetime
Who = tuple[str, str | None]
_OMIT: Final[Any] = object()


def moment(when: Moment) -> datetime:
    """Seconds after T0, ``HH:MM:SS[.fff]`` on DAY, ``YYYY-MM-DD HH:MM:SS[.fff]`` (UTC) or
    an aware datetime."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("naive datetime")
        return when.astimezone(UTC)
    if isinstance(when, str):
        text = when if len(when) > 12 else f"{DAY} {when}"
        return datetime.fromisoformat(text.replace(" ", "T") + "+00:00")
    return T0 + timedelta(seconds=when)


def ms(when: Moment) -> int:
    """Epoch milliseconds of a moment."""
    delta = moment(when) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def secs(epoch_ms: int | None) -> float | None:
    """Epoch milliseconds as seconds after T0 (None stays None)."""
    return None if epoch_ms is None else (epoch_ms - ms(T0)) / 1000


class EventLog:
    """Appends one JSON line per call; event ids follow call order (``prefix`` + counter),
    so events at the same instant apply in call order unless ``event_id`` is given."""

    def __init__(self, prefix: str = "ev-") -> None:
        self.prefix = prefix
        self.lines: list[bytes] = []

    # -- generic ------------------------------------------------------------------------
    def add(
        self, type_name: str, when: Moment, *, event_id: str | None = None, **fields: Any
    ) -> EventLog:
        """Append one event."""
        stamp = moment(when).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        eid = event_id or f"{self.prefix}{len(self.lines):05d}"
        body = {"event_id": eid, "type": type_name, "occurred_at": stamp, **fields}
        self.lines.append(orjson.dumps(body))
        return self

    def extend(self, other: EventLog) -> EventLog:
        """Append another log's lines (arrival after this log's)."""
        self.lines.extend(other.lines)
        return self

    @property
    def events(self) -> list[Event]:
        """The parsed events, in arrival order."""
        return [parse_event(line) for line in self.lines]

    # -- conversations ------------------------------------------------------------------
    def created(
        self,
        conv: str,
        when: Moment,
        channel: str = "ch-1",
        contact: str = "c1",
        language: str | None = "en",
    ) -> EventLog:
        return self.add(
            "conversation.created",
            when,
            conversation_id=conv,
            channel_id=channel,
            contact_profile_id=contact,
            url=f"https://inbox.example/{conv}",
            language=language,
        )

    def message(
        self,
        conv: str,
        msg: str,
        when: Moment,
        direction: str,
        sender: Who,
        *,
        team: str | None = None,
        content: str | None = None,
        message_type: str = "DIRECT_MESSAGE",
        origin: str = "INBOX",
        outbound_type: str | None = None,
        system_user_type: str | None = None,
        post_url: str | None = None,
        event_id: str | None = None,
    ) -> EventLog:
        return self.add(
            "message.created",
            when,
            event_id=event_id,
            message_id=msg,
            conversation_id=conv,
            direction=direction,
            sender={"kind": sender[0], "id": sender[1]},
            team_id=team,
            message_type=message_type,
            origin=origin,
            outbound_type=outbound_type,
            system_user_type=system_user_type,
            content=content,
            post_url=post_url,
        )

    def inbound(
        self, conv: str, msg: str, when: Moment, contact: str = "c1", content: str | None = "hi"
    ) -> EventLog:
        return self.message(conv, msg, when, "INBOUND", ("CONTACT", contact), content=content)

    def reply(
        self,
        conv: str,
        msg: str,
        when: Moment,
        agent: str | None = "a1",
        team: str | None = None,
        content: str | None = "ok",
    ) -> EventLog:
        return self.message(
            conv,
            msg,
            when,
            "OUTBOUND",
            ("AGENT", agent),
            team=team,
            content=content,
            outbound_type="REPLY",
        )

    def va(
        self, conv: str, msg: str, when: Moment, va: str = "va-1", team: str | None = None
    ) -> EventLog:
        return self.message(
            conv,
            msg,
            when,
            "OUTBOUND",
            ("VIRTUAL_AGENT", va),
            team=team,
            content="bot",
            outbound_type="AUTOMATED_RESPONSE",
        )

    def updated(self, conv: str, msg: str, when: Moment, content: Any = _OMIT) -> EventLog:
        """``message.updated``; without ``content`` the event carries no content field."""
        extra = {} if content is _OMIT else {"content": content}
        return self.add("message.updated", when, message_id=msg, conversation_id=conv, **extra)

    def deleted(self, conv: str, msg: str, when: Moment) -> EventLog:
        return self.add("message.deleted", when, message_id=msg, conversation_id=conv)

    def tag(
        self,
        conv: str,
        msg: str,
        tag: str,
        when: Moment,
        actor: Who = ("AGENT", "a1"),
        team: str | None = None,
        *,
        removed: bool = False,
    ) -> EventLog:
        kind = "message.tag_removed" if removed else "message.tag_added"
        return self.add(
            kind,
            when,
            message_id=msg,
            conversation_id=conv,
            tag_id=tag,
            actor={"kind": actor[0], "id": actor[1]},
            team_id=team,
        )

    def topic(
        self,
        conv: str,
        topic: str,
        when: Moment,
        actor: Who = ("AGENT", "a1"),
        team: str | None = None,
        *,
        removed: bool = False,
    ) -> EventLog:
        kind = "conversation.topic_removed" if removed else "conversation.topic_added"
        return self.add(
            kind,
            when,
            conversation_id=conv,
            topic_id=topic,
            actor={"kind": actor[0], "id": actor[1]},
            team_id=team,
        )

    def status(
        self,
        conv: str,
        when: Moment,
        status: str,
        actor: Who,
        team: str | None = None,
        **extra: Any,
    ) -> EventLog:
        return self.add(
            "conversation.status_changed",
            when,
            conversation_id=conv,
            status=status,
            actor={"kind": actor[0], "id": actor[1]},
            team_id=team,
            **extra,
        )

    def queue(
        self,
        conv: str,
        when: Moment,
        inbound: str | None = None,
        started_by: str = "NEW_INBOUND_MESSAGE",
        actor: Who = ("SYSTEM", None),
        reason: str | None = None,
        team: str | None = None,
    ) -> EventLog:
        return self.status(
            conv,
            when,
            "NEW",
            actor,
            team,
            started_by=started_by,
            inbound_message_id=inbound,
            handover_reason=reason,
        )

    def pending(
        self, conv: str, when: Moment, actor: Who = ("AGENT", "a1"), team: str | None = None
    ) -> EventLog:
        return self.status(conv, when, "PENDING", actor, team)

    def resolve(
        self,
        conv: str,
        when: Moment,
        actor: Who = ("AGENT", "a1"),
        team: str | None = None,
        reason: str | None = None,
        comment: str | None = None,
        trigger: str = "HUMAN_AGENT",
    ) -> EventLog:
        return self.status(
            conv,
            when,
            "RESOLVED",
            actor,
            team,
            resolve_reason=reason,
            resolve_comment=comment,
            resolve_trigger=trigger,
        )

    def lock(self, conv: str, when: Moment, agent: str, team: str | None = None) -> EventLog:
        return self.add(
            "conversation.locked", when, conversation_id=conv, agent_id=agent, team_id=team
        )

    def unlock(self, conv: str, when: Moment, agent: str) -> EventLog:
        return self.add("conversation.unlocked", when, conversation_id=conv, agent_id=agent)

    def language(self, conv: str, when: Moment, language: str) -> EventLog:
        return self.add("conversation.language_set", when, conversation_id=conv, language=language)

    def csat_sent(self, conv: str, when: Moment, survey: str) -> EventLog:
        return self.add("csat.sent", when, conversation_id=conv, survey_id=survey)

    def csat_responded(
        self,
        conv: str,
        when: Moment,
        survey: str,
        score: int,
        question: str | None = None,
        answer: str | None = None,
    ) -> EventLog:
        return self.add(
            "csat.responded",
            when,
            conversation_id=conv,
            survey_id=survey,
            score=score,
            followup_question=question,
            followup_answer=answer,
        )

    # -- presence and directory -----------------------------------------------------------
    def presence(
        self,
        agent: str,
        when: Moment,
        presence: str,
        away: str | None = None,
        event_id: str | None = None,
    ) -> EventLog:
        return self.add(
            "agent.presence_changed",
            when,
            event_id=event_id,
            agent_id=agent,
            presence=presence,
            away_status=away,
        )

    def agent(
        self, agent: str, when: Moment, name: str, team: str | None, reference: str | None = None
    ) -> EventLog:
        return self.add(
            "agent.upserted",
            when,
            agent_id=agent,
            name=name,
            email=f"{name.lower()}@acme.example",
            reference=reference or f"EMP-{agent[1:]}",
            team_id=team,
        )

    def team(self, team: str, when: Moment, name: str) -> EventLog:
        return self.add("team.upserted", when, team_id=team, name=name)

    def virtual_agent(self, va: str, when: Moment, name: str) -> EventLog:
        return self.add("virtual_agent.upserted", when, virtual_agent_id=va, name=name)

    def channel(self, channel: str, when: Moment, medium: str, name: str, display: str) -> EventLog:
        return self.add(
            "channel.upserted",
            when,
            channel_id=channel,
            medium=medium,
            name=name,
            display_name=display,
        )

    def contact(
        self, contact: str, when: Moment, medium: str, primary: str, secondary: str | None = None
    ) -> EventLog:
        return self.add(
            "contact.upserted",
            when,
            contact_profile_id=contact,
            medium=medium,
            primary_identifier=primary,
            secondary_identifier=secondary,
        )

    def attribute(
        self,
        contact: str,
        when: Moment,
        attribute: str,
        name: str,
        value: str | None,
        kind: str = "TEXT",
    ) -> EventLog:
        return self.add(
            "contact.attribute_set",
            when,
            contact_profile_id=contact,
            attribute_id=attribute,
            name=name,
            value=value,
            attribute_type=kind,
        )

    def topic_upserted(self, topic: str, when: Moment, name: str) -> EventLog:
        return self.add("topic.upserted", when, topic_id=topic, name=name)

    def topic_deleted(self, topic: str, when: Moment) -> EventLog:
        return self.add("topic.deleted", when, topic_id=topic)

    def tag_upserted(self, tag: str, when: Moment, name: str) -> EventLog:
        return self.add("tag.upserted", when, tag_id=tag, name=name)

    def tag_deleted(self, tag: str, when: Moment) -> EventLog:
        return self.add("tag.deleted", when, tag_id=tag)


def facts(log: EventLog, conv: str = "cv1", lock_max_ms: int = LOCK_MAX_MS) -> ConversationFacts:
    """The pure fold of one conversation's events of ``log``."""
    entries = []
    for event in log.events:
        if getattr(event, "conversation_id", None) == conv:
            entry = log_entry(event)
            if entry is not None:
                entries.append(entry)
    return fold(conv, entries, lock_max_ms)
