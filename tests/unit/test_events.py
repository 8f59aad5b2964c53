"""Parsers of the v1 event contract: every type valid, and every kind of invalid input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from streamproc.events import (
    EVENT_TYPES,
    Actor,
    InvalidEvent,
    MessageCreated,
    MessageUpdated,
    StatusChanged,
    parse_event,
    routing_of,
)

T = "2026-11-20T14:03:11.250Z"
AGENT = {"kind": "AGENT", "id": "agent-1"}

# One valid example per event type (the contract's fields, in docs/events.md order).
VALID: dict[str, dict[str, Any]] = {
    "message.created": {
        "message_id": "m1", "conversation_id": "c1", "direction": "INBOUND",
        "sender": {"kind": "CONTACT", "id": "p1"}, "team_id": None,
        "message_type": "DIRECT_MESSAGE", "origin": "NATIVE", "outbound_type": None,
        "system_user_type": None, "content": "hello", "post_url": None,
    },
    "message.updated": {"message_id": "m1", "conversation_id": "c1", "content": "edited"},
    "message.deleted": {"message_id": "m1", "conversation_id": "c1"},
    "message.tag_added": {
        "message_id": "m1", "conversation_id": "c1", "tag_id": "t1", "actor": AGENT,
        "team_id": "team-1",
    },
    "message.tag_removed": {
        "message_id": "m1", "conversation_id": "c1", "tag_id": "t1",
        "actor": {"kind": "SYSTEM", "id": None}, "team_id": None,
    },
    "conversation.locked": {"conversation_id": "c1", "agent_id": "agent-1", "team_id": None},
    "conversation.unlocked": {"conversation_id": "c1", "agent_id": "agent-1"},
    "conversation.created": {
        "conversation_id": "c1", "channel_id": "ch1", "contact_profile_id": "p1",
        "url": "https://inbox.example/c1", "language": None,
    },
    "conversation.status_changed": {
        "conversation_id": "c1", "status": "NEW", "actor": {"kind": "SYSTEM", "id": None},
        "team_id": None, "started_by": "NEW_INBOUND_MESSAGE", "inbound_message_id": "m1",
        "handover_reason": None,
    },
    "conversation.topic_added": {
        "conversation_id": "c1", "topic_id": "tp1", "actor": AGENT, "team_id": "team-1",
    },
    "conversation.topic_removed": {
        "conversation_id": "c1", "topic_id": "tp1",
        "actor": {"kind": "VIRTUAL_AGENT", "id": "va-1"}, "team_id": None,
    },
    "conversation.language_set": {"conversation_id": "c1", "language": "es-MX"},
    "csat.sent": {"conversation_id": "c1", "survey_id": "s1"},
    "csat.responded": {
        "conversation_id": "c1", "survey_id": "s1", "score": 5, "followup_question": None,
        "followup_answer": None,
    },
    "agent.presence_changed": {"agent_id": "agent-1", "presence": "AWAY", "away_status": "Lunch"},
    "agent.upserted": {
        "agent_id": "agent-1", "name": "Ana", "email": "ana@example.com", "reference": "E-1",
        "team_id": "team-1",
    },
    "team.upserted": {"team_id": "team-1", "name": "Tier 1"},
    "virtual_agent.upserted": {"virtual_agent_id": "va-1", "name": "Bot"},
    "channel.upserted": {
        "channel_id": "ch1", "medium": "TWITTER", "name": "@brand", "display_name": "Brand",
    },
    "contact.upserted": {
        "contact_profile_id": "p1", "medium": "TWITTER", "primary_identifier": "@joe",
        "secondary_identifier": None,
    },
    "contact.attribute_set": {
        "contact_profile_id": "p1", "attribute_id": "a1", "name": "Plan", "value": None,
        "attribute_type": "TEXT",
    },
    "topic.upserted": {"topic_id": "tp1", "name": "Billing"},
    "topic.deleted": {"topic_id": "tp1"},
    "tag.upserted": {"tag_id": "t1", "name": "Urgent"},
    "tag.deleted": {"tag_id": "t1"},
}  # fmt: skip


def event(type_name: str, **overrides: Any) -> dict[str, Any]:
    """A valid event of ``type_name`` with ``overrides`` applied (None-valued = removed)."""
    obj: dict[str, Any] = {
        "event_id": f"e-{type_name}",
        "type": type_name,
        "occurred_at": T,
        **VALID[type_name],
    }
    for name, value in overrides.items():
        if value is _DROP:
            obj.pop(name, None)
        else:
            obj[name] = value
    return obj


_DROP = object()


def raw(obj: Any) -> bytes:
    return orjson.dumps(obj)


def test_every_contract_type_has_an_example() -> None:
    assert set(VALID) == set(EVENT_TYPES)


@pytest.mark.parametrize("type_name", sorted(VALID))
def test_valid_event_of_every_type_parses(type_name: str) -> None:
    parsed = parse_event(raw(event(type_name)))
    spec = EVENT_TYPES[type_name]
    assert type(parsed) is spec.record
    assert parsed.event_id == f"e-{type_name}"
    assert parsed.type == type_name
    assert parsed.occurred_at == datetime(2026, 11, 20, 14, 3, 11, 250000, tzinfo=UTC)
    assert parsed.v == 1
    assert parsed.key == VALID[type_name][spec.key_field]
    for name, value in VALID[type_name].items():
        got = getattr(parsed, name)
        if isinstance(got, Actor):
            assert {"kind": got.kind, "id": got.id} == value
        else:
            assert got == value


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-20T14:03:11Z", datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)),
        ("2026-11-20T15:03:11.5+01:00", datetime(2026, 11, 20, 14, 3, 11, 500000, tzinfo=UTC)),
        ("2026-11-20T09:03:11-05:00", datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)),
        ("2026-11-20t14:03:11.123456789z", datetime(2026, 11, 20, 14, 3, 11, 123456, tzinfo=UTC)),
        ("2026-11-20 14:03:11Z", datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)),
    ],
)
def test_timestamps_with_offsets_become_aware_utc(stamp: str, expected: datetime) -> None:
    parsed = parse_event(raw(event("team.upserted", occurred_at=stamp)))
    assert parsed.occurred_at == expected
    assert parsed.occurred_at.utcoffset() == timedelta(0)
    assert parsed.occurred_at_ms == int(expected.timestamp() * 1000)


def test_unknown_fields_are_ignored_and_v1_is_accepted() -> None:
    parsed = parse_event(raw(event("team.upserted", v=1, extra={"x": 1}, colour="red")))
    assert parsed.v == 1


def test_nullable_fields_may_be_absent() -> None:
    parsed = parse_event(raw(event("conversation.locked", team_id=_DROP)))
    assert parsed.team_id is None  # type: ignore[attr-defined]


def test_message_updated_records_whether_content_was_given() -> None:
    with_content = parse_event(raw(event("message.updated")))
    without = parse_event(raw(event("message.updated", content=_DROP)))
    assert isinstance(with_content, MessageUpdated) and with_content.content_set
    assert isinstance(without, MessageUpdated) and not without.content_set


def test_status_resolved_fields() -> None:
    parsed = parse_event(
        raw(
            event(
                "conversation.status_changed",
                status="RESOLVED",
                actor=AGENT,
                started_by=_DROP,
                inbound_message_id=_DROP,
                handover_reason=_DROP,
                resolve_reason="Solved",
                resolve_comment=None,
                resolve_trigger="HUMAN_AGENT",
            )
        )
    )
    assert isinstance(parsed, StatusChanged)
    assert (parsed.status, parsed.resolve_trigger, parsed.started_by) == (
        "RESOLVED",
        "HUMAN_AGENT",
        None,
    )


def test_message_created_sender_is_an_actor() -> None:
    parsed = parse_event(raw(event("message.created")))
    assert isinstance(parsed, MessageCreated)
    assert parsed.sender == Actor("CONTACT", "p1")


INVALID: list[tuple[str, bytes | None, str]] = [
    ("tombstone", None, "empty value"),
    ("not json", b"hello{", "not JSON"),
    ("truncated json", raw(event("team.upserted"))[:-5], "not JSON"),
    ("array", b"[1, 2]", "not a JSON object: got array"),
    ("number", b"42", "not a JSON object: got number"),
    ("missing event_id", raw(event("team.upserted", event_id=_DROP)), "'event_id'"),
    ("empty event_id", raw(event("team.upserted", event_id="")), "'event_id'"),
    ("long event_id", raw(event("team.upserted", event_id="x" * 129)), "1..128"),
    ("numeric event_id", raw(event("team.upserted", event_id=7)), "'event_id'"),
    ("missing type", raw(event("team.upserted", type=_DROP)), "'type'"),
    ("type is a list", raw(event("team.upserted", type=["team.upserted"])), "'type' must be"),
    ("type is an object", raw(event("team.upserted", type={"a": 1})), "'type' must be"),
    ("unknown type", raw(event("team.upserted", type="team.exploded")), "unknown event type"),
    ("missing time", raw(event("team.upserted", occurred_at=_DROP)), "'occurred_at'"),
    ("naive time", raw(event("team.upserted", occurred_at="2026-11-20T14:03:11")), "RFC 3339"),
    ("date only", raw(event("team.upserted", occurred_at="2026-11-20")), "RFC 3339"),
    ("garbage time", raw(event("team.upserted", occurred_at="yesterday")), "RFC 3339"),
    ("numeric time", raw(event("team.upserted", occurred_at=1700000000)), "RFC 3339"),
    ("hour 25", raw(event("team.upserted", occurred_at="2026-11-20T25:00:00Z")), "valid time"),
    ("version 2", raw(event("team.upserted", v=2)), "unsupported contract version"),
    ("version string", raw(event("team.upserted", v="1")), "'v' must be an integer"),
    ("missing required", raw(event("team.upserted", name=_DROP)), "missing required field 'name'"),
    ("empty id", raw(event("team.upserted", team_id="")), "must not be empty"),
    ("wrong type", raw(event("team.upserted", name=5)), "'name' must be a string, got number"),
    ("null required", raw(event("tag.upserted", name=None)), "'name' must be a string, got null"),
    ("nullable wrong type", raw(event("conversation.locked", team_id=3)), "string or null"),
    ("bad enum", raw(event("agent.presence_changed", presence="BUSY")), "AVAILABLE|AWAY|OFFLINE"),
    ("bad direction", raw(event("message.created", direction="SIDEWAYS")), "'direction'"),
    ("sender not object", raw(event("message.created", sender="AGENT")), "'sender' must be an"),
    ("sender kind", raw(event("message.created", sender={"kind": "ROBOT"})), "'sender.kind'"),
    ("sender no kind", raw(event("message.created", sender={"id": "x"})), "misses 'kind'"),
    ("tag actor contact", raw(event("message.tag_added", actor={"kind": "CONTACT"})), "actor"),
    ("score 0", raw(event("csat.responded", score=0)), "integer 1..5"),
    ("score 6", raw(event("csat.responded", score=6)), "integer 1..5"),
    ("score float", raw(event("csat.responded", score=4.5)), "integer 1..5"),
    ("score bool", raw(event("csat.responded", score=True)), "integer 1..5"),
    ("bad status", raw(event("conversation.status_changed", status="CLOSED")), "'status'"),
    (
        "new without started_by",
        raw(event("conversation.status_changed", started_by=_DROP)),
        "missing required field 'started_by'",
    ),
    (
        "bad started_by",
        raw(event("conversation.status_changed", started_by="MAGIC")),
        "'started_by'",
    ),
    (
        "resolved without trigger",
        raw(event("conversation.status_changed", status="RESOLVED")),
        "'resolve_trigger'",
    ),
]


@pytest.mark.parametrize(("case", "payload", "reason_part"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_input_raises_with_a_one_line_reason(
    case: str, payload: bytes | None, reason_part: str
) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(payload)
    reason = info.value.reason
    assert reason_part in reason
    assert "\n" not in reason
    assert len(reason) < 300


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (event("conversation.locked"), ("locks", "c1")),
        (event("agent.presence_changed"), ("presence", "agent-1")),
        (event("contact.attribute_set"), ("directory", "p1")),
        (event("conversation.locked", conversation_id=5), ("locks", None)),
        ({"type": "nope"}, ("messages", None)),
        ({}, ("messages", None)),
    ],
)
def test_routing_of_possibly_invalid_objects(obj: dict[str, Any], expected: tuple) -> None:
    assert routing_of(obj) == expected
