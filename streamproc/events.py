"""The inbox event contract v1 (docs/events.md) in code: typed records and strict orjson parsers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

CONTRACT_VERSION: Final = 1
MAX_EVENT_ID_LEN: Final = 128
MAX_ID_LEN: Final = 256
"""Longest id of any other kind (``*_id`` fields, actor ids): ids are keys, and keys are
hashed, cached and written into every record that names them."""
MAX_SHOWN: Final = 60
"""Longest piece of a bad value quoted in a rejection reason."""


class InvalidEvent(ValueError):
    """The bytes are not a valid v1 event; ``reason`` is one line saying why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: a kind (``AGENT``, ``VIRTUAL_AGENT``, ...) and an id, when known."""

    kind: str
    id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """The envelope every event carries."""

    event_id: str
    type: str
    occurred_at: datetime
    v: int = CONTRACT_VERSION

    @property
    def occurred_at_ms(self) -> int:
        """Event time as whole milliseconds since the Unix epoch (UTC)."""
        return _epoch_ms(self.occurred_at)

    @property
    def key(self) -> str:
        """The contract's Kafka key: the conversation id, else the entity id."""
        return str(getattr(self, KEY_FIELD_BY_TYPE[self.type]))


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageCreated(Event):
    """``message.created``."""

    message_id: str
    conversation_id: str
    direction: str
    sender: Actor
    team_id: str | None
    message_type: str
    origin: str
    outbound_type: str | None
    system_user_type: str | None
    content: str | None
    post_url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageUpdated(Event):
    """``message.updated``; ``content_set`` says whether the event carried ``content``."""

    message_id: str
    conversation_id: str
    content: str | None
    content_set: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeleted(Event):
    """``message.deleted``."""

    message_id: str
    conversation_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageTagChanged(Event):
    """``message.tag_added`` / ``message.tag_removed``."""

    message_id: str
    conversation_id: str
    tag_id: str
    actor: Actor
    team_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationLocked(Event):
    """``conversation.locked``."""

    conversation_id: str
    agent_id: str
    team_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationUnlocked(Event):
    """``conversation.unlocked``."""

    conversation_id: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationCreated(Event):
    """``conversation.created``."""

    conversation_id: str
    channel_id: str
    contact_profile_id: str
    url: str
    language: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChanged(Event):
    """``conversation.status_changed``; NEW- and RESOLVED-only fields are None otherwise."""

    conversation_id: str
    status: str
    actor: Actor
    team_id: str | None
    started_by: str | None = None
    inbound_message_id: str | None = None
    handover_reason: str | None = None
    resolve_reason: str | None = None
    resolve_comment: str | None = None
    resolve_trigger: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicChanged(Event):
    """``conversation.topic_added`` / ``conversation.topic_removed``."""

    conversation_id: str
    topic_id: str
    actor: Actor
    team_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageSet(Event):
    """``conversation.language_set``."""

    conversation_id: str
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CsatSent(Event):
    """``csat.sent``."""

    conversation_id: str
    survey_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CsatResponded(Event):
    """``csat.responded``."""

    conversation_id: str
    survey_id: str
    score: int
    followup_question: str | None
    followup_answer: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceChanged(Event):
    """``agent.presence_changed``."""

    agent_id: str
    presence: str
    away_status: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentUpserted(Event):
    """``agent.upserted``."""

    agent_id: str
    name: str
    email: str
    reference: str
    team_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamUpserted(Event):
    """``team.upserted``."""

    team_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualAgentUpserted(Event):
    """``virtual_agent.upserted``."""

    virtual_agent_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUpserted(Event):
    """``channel.upserted``."""

    channel_id: str
    medium: str
    name: str
    display_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactUpserted(Event):
    """``contact.upserted``."""

    contact_profile_id: str
    medium: str
    primary_identifier: str
    secondary_identifier: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactAttributeSet(Event):
    """``contact.attribute_set``."""

    contact_profile_id: str
    attribute_id: str
    name: str
    value: str | None
    attribute_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicUpserted(Event):
    """``topic.upserted``."""

    topic_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicDeleted(Event):
    """``topic.deleted``."""

    topic_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TagUpserted(Event):
    """``tag.upserted``."""

    tag_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TagDeleted(Event):
    """``tag.deleted``."""

    tag_id: str


# ---------------------------------------------------------------------------
# Field checks: each takes the raw JSON value and returns the typed value or raises.
# ---------------------------------------------------------------------------

_Check = Callable[[str, Any], Any]


class _FieldError(Exception):
    """A field failed its check; the message names the field and the rule."""


def shown(value: Any) -> str:
    """A bad value as quoted in a reason: its repr, cut to ``MAX_SHOWN`` characters.

    Containers are described, not printed (a 100,000-element list must not become a
    689 KB reason, nor cost the time to render one).
    """
    if isinstance(value, list | dict):
        return f"{_json_type(value)} of {len(value)} items"
    text = repr(value[: MAX_SHOWN + 1] if isinstance(value, str) else value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _bounded_id(name: str, value: str) -> str:
    if len(value) > MAX_ID_LEN and (name.endswith("_id") or name.endswith(".id")):
        raise _FieldError(f"field {name!r} is longer than {MAX_ID_LEN} characters")
    return value


def _text(name: str, value: Any) -> str:
    """A required, non-empty string (ids: at most ``MAX_ID_LEN`` characters)."""
    if not isinstance(value, str):
        raise _FieldError(f"field {name!r} must be a string, got {_json_type(value)}")
    if not value:
        raise _FieldError(f"field {name!r} must not be empty")
    return _bounded_id(name, value)


def _nullable_text(name: str, value: Any) -> str | None:
    """A string or null (an empty string is kept as it is; ids at most ``MAX_ID_LEN``)."""
    if value is None:
        return value
    if isinstance(value, str):
        return _bounded_id(name, value)
    raise _FieldError(f"field {name!r} must be a string or null, got {_json_type(value)}")


def _enum(*allowed: str) -> _Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _FieldError(
                f"field {name!r} must be one of {'|'.join(allowed)}, got {shown(value)}"
            )
        return value

    return check


def _actor(*kinds: str) -> _Check:
    kind_check = _enum(*kinds)

    def check(name: str, value: Any) -> Actor:
        if not isinstance(value, dict):
            raise _FieldError(f"field {name!r} must be an object with kind and id")
        if "kind" not in value:
            raise _FieldError(f"field {name!r} misses 'kind'")
        kind = kind_check(f"{name}.kind", value["kind"])
        return Actor(kind, _nullable_text(f"{name}.id", value.get("id")))

    return check


def _score(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise _FieldError(f"field {name!r} must be an integer 1..5, got {shown(value)}")
    return value


@dataclass(frozen=True, slots=True)
class _Field:
    """A field rule. Required fields must be present; nullable ones may be absent (= null)."""

    name: str
    check: _Check
    required: bool


def _req(name: str, check: _Check = _text) -> _Field:
    return _Field(name, check, True)


def _opt(name: str, check: _Check = _nullable_text) -> _Field:
    return _Field(name, check, False)


_MESSAGE_SENDER = _actor("CONTACT", "AGENT", "VIRTUAL_AGENT", "SYSTEM")
_CHANGE_ACTOR = _actor("AGENT", "VIRTUAL_AGENT", "SYSTEM")
_STATUS_ACTOR = _actor("AGENT", "VIRTUAL_AGENT", "BULK", "SYSTEM")
_STARTED_BY = _enum(
    "NEW_INBOUND_MESSAGE", "REOPENED", "VA_HANDED_OVER_CONVERSATION", "TRANSFERRED", "MANUAL"
)
_RESOLVE_TRIGGER = _enum("HUMAN_AGENT", "VIRTUAL_AGENT", "AUTOMATION", "AUTO_RESOLVE")


@dataclass(frozen=True, slots=True)
class EventType:
    """One row of the contract: the type name, its topic, its key field and its fields."""

    name: str
    topic: str
    key_field: str
    record: type[Event]
    fields: tuple[_Field, ...]

    @property
    def stream(self) -> str:
        """The state stream the type feeds: ``conversation`` (messages, locks and
        conversation topics together), ``presence`` or ``directory``."""
        return "conversation" if self.key_field == "conversation_id" else self.topic


def _type(name: str, topic: str, key_field: str, record: type[Event], *fields: _Field) -> EventType:
    return EventType(name, topic, key_field, record, fields)


_TAG_FIELDS = (
    _req("message_id"),
    _req("conversation_id"),
    _req("tag_id"),
    _req("actor", _CHANGE_ACTOR),
    _opt("team_id"),
)
_TOPIC_FIELDS = (
    _req("conversation_id"),
    _req("topic_id"),
    _req("actor", _CHANGE_ACTOR),
    _opt("team_id"),
)

# fmt: off
EVENT_TYPES: Final[Mapping[str, EventType]] = {
    t.name: t
    for t in (
        _type(
            "message.created", "messages", "conversation_id", MessageCreated,
            _req("message_id"), _req("conversation_id"),
            _req("direction", _enum("INBOUND", "OUTBOUND")),
            _req("sender", _MESSAGE_SENDER), _opt("team_id"),
            _req("message_type"), _req("origin"),
            _opt("outbound_type"), _opt("system_user_type"), _opt("content"), _opt("post_url"),
        ),
        _type(
            "message.updated", "messages", "conversation_id", MessageUpdated,
            _req("message_id"), _req("conversation_id"), _opt("content"),
        ),
        _type(
            "message.deleted", "messages", "conversation_id", MessageDeleted,
            _req("message_id"), _req("conversation_id"),
        ),
        _type("message.tag_added", "messages", "conversation_id", MessageTagChanged, *_TAG_FIELDS),
        _type(
            "message.tag_removed", "messages", "conversation_id", MessageTagChanged, *_TAG_FIELDS
        ),
        _type(
            "conversation.locked", "locks", "conversation_id", ConversationLocked,
            _req("conversation_id"), _req("agent_id"), _opt("team_id"),
        ),
        _type(
            "conversation.unlocked", "locks", "conversation_id", ConversationUnlocked,
            _req("conversation_id"), _req("agent_id"),
        ),
        _type(
            "conversation.created", "conversations", "conversation_id", ConversationCreated,
            _req("conversation_id"), _req("channel_id"), _req("contact_profile_id"),
            _req("url"), _opt("language"),
        ),
        _type(
            "conversation.status_changed", "conversations", "conversation_id", StatusChanged,
            _req("conversation_id"), _req("status", _enum("NEW", "PENDING", "RESOLVED")),
            _req("actor", _STATUS_ACTOR), _opt("team_id"),
        ),
        _type(
            "conversation.topic_added", "conversations", "conversation_id", TopicChanged,
            *_TOPIC_FIELDS,
        ),
        _type(
            "conversation.topic_removed", "conversations", "conversation_id", TopicChanged,
            *_TOPIC_FIELDS,
        ),
        _type(
            "conversation.language_set", "conversations", "conversation_id", LanguageSet,
            _req("conversation_id"), _req("language"),
        ),
        _type(
            "csat.sent", "conversations", "conversation_id", CsatSent,
            _req("conversation_id"), _req("survey_id"),
        ),
        _type(
            "csat.responded", "conversations", "conversation_id", CsatResponded,
            _req("conversation_id"), _req("survey_id"), _req("score", _score),
            _opt("followup_question"), _opt("followup_answer"),
        ),
        _type(
            "agent.presence_changed", "presence", "agent_id", PresenceChanged,
            _req("agent_id"), _req("presence", _enum("AVAILABLE", "AWAY", "OFFLINE")),
            _opt("away_status"),
        ),
        _type(
            "agent.upserted", "directory", "agent_id", AgentUpserted,
            _req("agent_id"), _req("name"), _req("email"), _req("reference"), _opt("team_id"),
        ),
        _type("team.upserted", "directory", "team_id", TeamUpserted, _req("team_id"), _req("name")),
        _type(
            "virtual_agent.upserted", "directory", "virtual_agent_id", VirtualAgentUpserted,
            _req("virtual_agent_id"), _req("name"),
        ),
        _type(
            "channel.upserted", "directory", "channel_id", ChannelUpserted,
            _req("channel_id"), _req("medium"), _req("name"), _req("display_name"),
        ),
        _type(
            "contact.upserted", "directory", "contact_profile_id", ContactUpserted,
            _req("contact_profile_id"), _req("medium"), _req("primary_identifier"),
            _opt("secondary_identifier"),
        ),
        _type(
            "contact.attribute_set", "directory", "contact_profile_id", ContactAttributeSet,
            _req("contact_profile_id"), _req("attribute_id"), _req("name"), _opt("value"),
            _req("attribute_type"),
        ),
        _type(
            "topic.upserted", "directory", "topic_id", TopicUpserted,
            _req("topic_id"), _req("name"),
        ),
        _type("topic.deleted", "directory", "topic_id", TopicDeleted, _req("topic_id")),
        _type("tag.upserted", "directory", "tag_id", TagUpserted, _req("tag_id"), _req("name")),
        _type("tag.deleted", "directory", "tag_id", TagDeleted, _req("tag_id")),
    )
}
# fmt: on
"""Every event type of the contract, by ``type``. ``topic`` is the settings role
(``messages`` → ``Settings.topic_messages``)."""

KEY_FIELD_BY_TYPE: Final[Mapping[str, str]] = {n: t.key_field for n, t in EVENT_TYPES.items()}

_STATUS_EXTRA: Final[Mapping[str, tuple[_Field, ...]]] = {
    "NEW": (
        _req("started_by", _STARTED_BY),
        _opt("inbound_message_id"),
        _opt("handover_reason"),
    ),
    "PENDING": (),
    "RESOLVED": (
        _opt("resolve_reason"),
        _opt("resolve_comment"),
        _req("resolve_trigger", _RESOLVE_TRIGGER),
    ),
}

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?"
    r"(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)


def parse_timestamp(name: str, value: Any) -> datetime:
    """An RFC 3339 timestamp with ``Z`` or an offset, as an aware UTC datetime."""
    if not isinstance(value, str):
        raise _FieldError(f"field {name!r} must be an RFC 3339 string, got {_json_type(value)}")
    if not _RFC3339.fullmatch(value):
        raise _FieldError(
            f"field {name!r} must be RFC 3339 with Z or an offset "
            f"(e.g. 2026-11-20T14:03:11.250Z; offsets -23:59..+23:59), got {shown(value)}"
        )
    try:
        parsed = datetime.fromisoformat(value)  # Python 3.11 reads a trailing "Z"
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError as exc:
            raise _FieldError(f"field {name!r} is not a valid time: {exc}") from None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past the last representable UTC time
        raise _FieldError(f"field {name!r} is outside the years 0001..9999 in UTC") from None


def _epoch_ms(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def decode_object(raw: bytes | None) -> dict[str, Any]:
    """Decode raw bytes into a JSON object, or raise InvalidEvent saying what is wrong."""
    if raw is None:
        raise InvalidEvent("empty value (null/tombstone message)")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(f"not a JSON object: got {_json_type(obj)}")
    return obj


def parse_event(raw: bytes | None) -> Event:
    """Parse one Kafka value into its typed record; raise InvalidEvent with a one-line reason."""
    return parse_object(decode_object(raw))


def parse_object(obj: Mapping[str, Any]) -> Event:
    """Validate a decoded JSON object against the contract and build its record."""
    try:
        event_id = obj.get("event_id")
        if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_EVENT_ID_LEN:
            raise _FieldError(
                f"field 'event_id' must be a string of 1..{MAX_EVENT_ID_LEN} characters"
            )
        type_name = obj.get("type")
        if not isinstance(type_name, str):
            raise _FieldError("field 'type' must be a string")
        spec = EVENT_TYPES.get(type_name)
        if spec is None:
            raise _FieldError(f"unknown event type {shown(type_name)}")
        version = obj.get("v", CONTRACT_VERSION)
        if isinstance(version, bool) or not isinstance(version, int):
            raise _FieldError("field 'v' must be an integer")
        if version != CONTRACT_VERSION:
            raise _FieldError(
                f"unsupported contract version v={shown(version)} (this service reads v1)"
            )
        if "occurred_at" not in obj:
            raise _FieldError("missing required field 'occurred_at'")
        values: dict[str, Any] = {
            "event_id": event_id,
            "type": type_name,
            "occurred_at": parse_timestamp("occurred_at", obj["occurred_at"]),
            "v": version,
        }
        _check_fields(obj, spec.fields, values)
        if spec.record is StatusChanged:
            _check_fields(obj, _STATUS_EXTRA[values["status"]], values)
        if spec.record is MessageUpdated:
            values["content_set"] = "content" in obj
        return spec.record(**values)
    except _FieldError as exc:
        type_name = obj.get("type")
        known = isinstance(type_name, str) and type_name in EVENT_TYPES
        prefix = f"{type_name}: " if known else ""
        raise InvalidEvent(prefix + str(exc)) from None


def _check_fields(obj: Mapping[str, Any], fields: tuple[_Field, ...], out: dict[str, Any]) -> None:
    for f in fields:
        if f.name in obj:
            out[f.name] = f.check(f.name, obj[f.name])
        elif f.required:
            raise _FieldError(f"missing required field {f.name!r}")
        else:
            out[f.name] = None


def routing_of(obj: Mapping[str, Any]) -> tuple[str, str | None]:
    """Best-effort (topic role, key) of a possibly invalid decoded line, for the producer.

    Valid events go to their type's topic with the contract key; anything whose type is
    unknown goes to ``messages`` (so that it reaches the dead-letter path).
    """
    type_name = obj.get("type")
    spec = EVENT_TYPES.get(type_name) if isinstance(type_name, str) else None
    if spec is None:
        return "messages", None
    key = obj.get(spec.key_field)
    return spec.topic, key if isinstance(key, str) else None
