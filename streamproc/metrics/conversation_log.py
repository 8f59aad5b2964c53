"""A conversation's log: one named, typed entry per event kind, and its compact storage form.

The fold (metrics.conversation) and every reader use the entries by name. Only the
conversations table stores them compactly: ``{"t": …, "id": …, "k": kind, <field keys>}``
with the one- or two-letter keys of :data:`STORAGE_KEYS`, in field order. That form is in
the changelog topics and the stores, so it must not change: :func:`encode` and
:func:`decode` are exact inverses on it (tests/unit/test_conversation_log.py holds the bytes
the format had when the entries got their names).

The entries are ``NamedTuple``\\ s rather than frozen dataclasses because the fold decodes
the whole log of every conversation a batch touches: building one costs about a quarter
of what a frozen slots dataclass costs (docs/performance.md, "Typed log entries").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

import orjson

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


class ConversationCreatedEntry(NamedTuple):
    """``conversation.created``."""

    occurred_at_ms: int
    event_id: str
    channel_id: str
    contact_profile_id: str
    url: str
    language: str | None


class LanguageSetEntry(NamedTuple):
    """``conversation.language_set``."""

    occurred_at_ms: int
    event_id: str
    language: str


class MessageCreatedEntry(NamedTuple):
    """``message.created`` (without the content)."""

    occurred_at_ms: int
    event_id: str
    message_id: str
    direction: str
    sender_kind: str
    sender_id: str | None
    team_id: str | None


class TagAddedEntry(NamedTuple):
    """``message.tag_added``."""

    occurred_at_ms: int
    event_id: str
    message_id: str
    tag_id: str
    actor_kind: str
    actor_id: str | None
    team_id: str | None


class TagRemovedEntry(NamedTuple):
    """``message.tag_removed``."""

    occurred_at_ms: int
    event_id: str
    message_id: str
    tag_id: str
    actor_kind: str
    actor_id: str | None
    team_id: str | None


class StatusChangedEntry(NamedTuple):
    """``conversation.status_changed``."""

    occurred_at_ms: int
    event_id: str
    status: str
    actor_kind: str
    actor_id: str | None
    team_id: str | None
    started_by: str | None
    inbound_message_id: str | None
    handover_reason: str | None
    resolve_reason: str | None
    resolve_comment: str | None
    resolve_trigger: str | None


class LockedEntry(NamedTuple):
    """``conversation.locked``."""

    occurred_at_ms: int
    event_id: str
    agent_id: str
    team_id: str | None


class UnlockedEntry(NamedTuple):
    """``conversation.unlocked``."""

    occurred_at_ms: int
    event_id: str
    agent_id: str


class TopicAddedEntry(NamedTuple):
    """``conversation.topic_added``."""

    occurred_at_ms: int
    event_id: str
    topic_id: str
    actor_kind: str
    actor_id: str | None
    team_id: str | None


class TopicRemovedEntry(NamedTuple):
    """``conversation.topic_removed``."""

    occurred_at_ms: int
    event_id: str
    topic_id: str
    actor_kind: str
    actor_id: str | None
    team_id: str | None


class CsatSentEntry(NamedTuple):
    """``csat.sent``."""

    occurred_at_ms: int
    event_id: str
    survey_id: str


class CsatRespondedEntry(NamedTuple):
    """``csat.responded``."""

    occurred_at_ms: int
    event_id: str
    survey_id: str
    score: int
    followup_question: str | None
    followup_answer: str | None


LogEntry = (
    ConversationCreatedEntry
    | LanguageSetEntry
    | MessageCreatedEntry
    | TagAddedEntry
    | TagRemovedEntry
    | StatusChangedEntry
    | LockedEntry
    | UnlockedEntry
    | TopicAddedEntry
    | TopicRemovedEntry
    | CsatSentEntry
    | CsatRespondedEntry
)
"""Any conversation log entry."""

ENTRY_KINDS: dict[str, type[LogEntry]] = {
    "conversation.created": ConversationCreatedEntry,
    "conversation.language_set": LanguageSetEntry,
    "message.created": MessageCreatedEntry,
    "message.tag_added": TagAddedEntry,
    "message.tag_removed": TagRemovedEntry,
    "conversation.status_changed": StatusChangedEntry,
    "conversation.locked": LockedEntry,
    "conversation.unlocked": UnlockedEntry,
    "conversation.topic_added": TopicAddedEntry,
    "conversation.topic_removed": TopicRemovedEntry,
    "csat.sent": CsatSentEntry,
    "csat.responded": CsatRespondedEntry,
}
"""Entry class by event type (the ``k`` of the stored form)."""

KIND_OF: dict[type[LogEntry], str] = {cls: kind for kind, cls in ENTRY_KINDS.items()}
"""Event type by entry class."""

MESSAGE_ENTRIES = (MessageCreatedEntry, TagAddedEntry, TagRemovedEntry)
"""The entry classes that name a message (``message_id``)."""


def log_entry(event: Event) -> LogEntry | None:
    """The log entry of an event that conversation metrics read, else None.

    ``message.updated`` and ``message.deleted`` change only the message's own state and
    the conversation's Last Updated (a max over the messages, taken by the read model).
    """
    t, event_id = event.occurred_at_ms, event.event_id
    match event:
        case MessageCreated():
            return MessageCreatedEntry(
                t, event_id, event.message_id, event.direction, event.sender.kind,
                event.sender.id, event.team_id,
            )  # fmt: skip
        case MessageTagChanged():
            tag_entry = TagAddedEntry if event.type == "message.tag_added" else TagRemovedEntry
            return tag_entry(
                t, event_id, event.message_id, event.tag_id, event.actor.kind, event.actor.id,
                event.team_id,
            )  # fmt: skip
        case ConversationCreated():
            return ConversationCreatedEntry(
                t, event_id, event.channel_id, event.contact_profile_id, event.url,
                event.language,
            )  # fmt: skip
        case StatusChanged():
            return StatusChangedEntry(
                t, event_id, event.status, event.actor.kind, event.actor.id, event.team_id,
                event.started_by, event.inbound_message_id, event.handover_reason,
                event.resolve_reason, event.resolve_comment, event.resolve_trigger,
            )  # fmt: skip
        case ConversationLocked():
            return LockedEntry(t, event_id, event.agent_id, event.team_id)
        case ConversationUnlocked():
            return UnlockedEntry(t, event_id, event.agent_id)
        case TopicChanged():
            topic_entry = (
                TopicAddedEntry if event.type == "conversation.topic_added" else TopicRemovedEntry
            )
            return topic_entry(
                t, event_id, event.topic_id, event.actor.kind, event.actor.id, event.team_id
            )
        case LanguageSet():
            return LanguageSetEntry(t, event_id, event.language)
        case CsatSent():
            return CsatSentEntry(t, event_id, event.survey_id)
        case CsatResponded():
            return CsatRespondedEntry(
                t, event_id, event.survey_id, event.score, event.followup_question,
                event.followup_answer,
            )  # fmt: skip
        case _:
            return None


order_key: Callable[[LogEntry], tuple[int, str]] = attrgetter("occurred_at_ms", "event_id")
"""Entries apply in (occurred_at, event_id) order."""


# ---------------------------------------------------------------------------
# The storage encoding: the only place that knows the compact keys.
# ---------------------------------------------------------------------------

StoredEntry = dict[str, Any]
"""An entry as the conversations table stores it (JSON-able, compact keys)."""

STORAGE_KEYS: dict[str, str] = {
    "occurred_at_ms": "t",
    "event_id": "id",
    "kind": "k",
    "message_id": "m",
    "direction": "d",
    "sender_kind": "sk",
    "sender_id": "si",
    "team_id": "tm",
    "tag_id": "g",
    "actor_kind": "ak",
    "actor_id": "ai",
    "channel_id": "ch",
    "contact_profile_id": "p",
    "url": "u",
    "language": "lang",
    "status": "s",
    "started_by": "sb",
    "inbound_message_id": "im",
    "handover_reason": "hr",
    "resolve_reason": "rr",
    "resolve_comment": "rc",
    "resolve_trigger": "rt",
    "agent_id": "a",
    "topic_id": "o",
    "survey_id": "sv",
    "score": "sc",
    "followup_question": "fq",
    "followup_answer": "fa",
}
"""Field name → compact storage key, for every field of every entry kind (and the kind)."""

_KIND_KEY = STORAGE_KEYS["kind"]


def _stored_keys(cls: type[LogEntry]) -> tuple[str, ...]:
    """The stored keys of ``cls`` in stored order: time, event id, kind, then its fields."""
    time_key, id_key, *rest = (STORAGE_KEYS[name] for name in cls._fields)
    return (time_key, id_key, _KIND_KEY, *rest)


_ENCODE_KEYS: dict[type[LogEntry], tuple[str, ...]] = {
    cls: _stored_keys(cls) for cls in ENTRY_KINDS.values()
}
_DECODERS: dict[str, tuple[type[LogEntry], Callable[[Mapping[str, Any]], tuple[Any, ...]]]] = {
    kind: (cls, itemgetter(*(STORAGE_KEYS[name] for name in cls._fields)))
    for kind, cls in ENTRY_KINDS.items()
}
_new_tuple = tuple.__new__


def encode(entry: LogEntry) -> StoredEntry:
    """The stored form of ``entry`` (keys in the order the format has always had)."""
    cls = type(entry)
    occurred_at_ms, event_id, *fields = entry
    return dict(
        zip(_ENCODE_KEYS[cls], (occurred_at_ms, event_id, KIND_OF[cls], *fields), strict=True)
    )


def decode(stored: Mapping[str, Any]) -> LogEntry:
    """The entry a stored form holds; ValueError if it is not a log entry's stored form."""
    try:
        cls, values = _DECODERS[stored[_KIND_KEY]]
        # tuple.__new__ skips the NamedTuple constructor's argument parsing (the getter
        # gives the fields in order), as ``NamedTuple._make`` does.
        entry: LogEntry = _new_tuple(cls, values(stored))
    except KeyError:
        raise _not_an_entry(stored) from None
    return entry


def decode_log(stored_log: list[StoredEntry]) -> list[LogEntry]:
    """The entries of a stored log (a conversations record's ``"log"``), in its order;
    ValueError if one is not a log entry's stored form.

    :func:`decode` inlined: this runs over the whole log of every conversation a batch
    touches (and for each conversation the read model re-folds).
    """
    decoders, new, kind_key = _DECODERS, _new_tuple, _KIND_KEY
    entries: list[LogEntry] = []
    append = entries.append
    stored: StoredEntry = {}
    try:
        for stored in stored_log:
            cls, values = decoders[stored[kind_key]]
            append(new(cls, values(stored)))
    except KeyError:
        raise _not_an_entry(stored) from None
    return entries


def _not_an_entry(stored: Mapping[str, Any]) -> ValueError:
    kind = stored.get(_KIND_KEY)
    cls = ENTRY_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        reason = f"unknown kind {kind!r}"
    else:
        reason = "no " + ", ".join(k for k in _stored_keys(cls) if k not in stored)
    return ValueError(f"not a stored conversation log entry ({reason}): {stored!r}")


def stored_time(stored: Mapping[str, Any]) -> int:
    """The event time of a stored entry, read without decoding the rest (the retention
    sweep reads only this, so one damaged entry cannot stop it)."""
    return int(stored[STORAGE_KEYS["occurred_at_ms"]])


def stored_message_ids(stored_log: list[StoredEntry]) -> set[str]:
    """The message ids a stored log names (its messages and their tag changes), read
    without decoding the entries."""
    key = STORAGE_KEYS["message_id"]
    return {m for stored in stored_log if isinstance(m := stored.get(key), str)}


def read_log(record: bytes) -> list[LogEntry]:
    """The entries of a segments table value (or of a conversations record of the format
    before segments): JSON with a ``"log"``."""
    return decode_log(orjson.loads(record)["log"])
