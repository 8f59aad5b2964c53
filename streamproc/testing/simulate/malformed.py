"""Bad lines the simulator mixes in: one of each kind of MALFORMED_KINDS, near a valid event."""

from __future__ import annotations

from random import Random
from typing import Any, Final

import orjson

from streamproc.testing.simulate.config import MALFORMED_KINDS, from_ms, iso


def malformed_line(nr: Random, bad_id: str, t: int) -> tuple[str, bytes]:
    """A bad line near time ``t``; its event_id (when any) is ``bad_id``, drawn from ``nr``."""
    kind = nr.choice(MALFORMED_KINDS)
    if kind == "csat_score":
        template = _BAD_TEMPLATES[-1]
    elif kind == "invalid_enum":
        template = nr.choice([x for x in _BAD_TEMPLATES if x[4]])
    else:
        template = nr.choice(_BAD_TEMPLATES)
    etype, body, required, wrong, enums = template
    stamp = iso(from_ms(t))
    event: dict[str, Any] = {"event_id": bad_id, "type": etype, "occurred_at": stamp, **body}
    if kind == "not_json":
        raw = nr.choice(_NOT_JSON).replace(b"{id}", bad_id.encode())
        return kind, raw
    if kind == "truncated":
        raw = orjson.dumps(event)
        return kind, raw[: nr.randint(1, len(raw) - 2)]
    if kind == "not_object":
        choice = nr.randrange(5)
        if choice == 0:
            return kind, orjson.dumps([event])
        return kind, (b"42", b"3.5", b'"message.created"', b"null")[choice - 1]
    if kind == "missing_field":
        del event[nr.choice(("event_id", "type", "occurred_at", *required))]
    elif kind == "wrong_type":
        name, value = nr.choice((("v", "1"), ("occurred_at", t), *wrong))
        event[name] = value
    elif kind == "unknown_type":
        event["type"] = nr.choice(
            (
                "conversation.archived",
                "message.reacted",
                "agent.deleted",
                "Message.Created",
                "contact.merged",
                "",
            )
        )
    elif kind == "invalid_enum":
        name, value = nr.choice(enums)
        event[name] = value
    elif kind == "bad_timestamp":
        naive = stamp[:-1]
        event["occurred_at"] = nr.choice(
            (
                naive,
                naive[:-4],
                stamp[:10] + "T25:10:00Z",
                "2026-11-31T10:00:00Z",
                "yesterday at noon",
                "",
                stamp[8:10] + "/" + stamp[5:7] + "/" + stamp[:4],
                str(t // 1000),
            )
        )
    elif kind == "bad_event_id":
        event["event_id"] = "" if nr.random() < 0.4 else bad_id + "-" + "x" * nr.randint(120, 200)
    else:  # csat_score
        event["score"] = nr.choice((0, 6))
    return kind, orjson.dumps(event)


# (type, body, required non-null fields, wrong-type replacements, invalid enum replacements)
_BadTemplate = tuple[
    str, dict[str, Any], tuple[str, ...], tuple[tuple[str, Any], ...], tuple[tuple[str, Any], ...]
]

_BAD_TEMPLATES: Final[tuple[_BadTemplate, ...]] = (
    (
        "message.created",
        {"message_id": "msg-bad", "conversation_id": "conv-000001", "direction": "INBOUND",
         "sender": {"kind": "CONTACT", "id": "contact-000001"}, "team_id": None,
         "message_type": "DIRECT_MESSAGE", "origin": "NATIVE", "outbound_type": None,
         "system_user_type": None, "content": "hello?", "post_url": None},
        ("message_id", "conversation_id", "direction", "sender", "message_type", "origin"),
        (("conversation_id", 12345), ("sender", "CONTACT"), ("content", {"text": "hi"}),
         ("message_type", ["DIRECT_MESSAGE"])),
        (("direction", "SIDEWAYS"), ("sender", {"kind": "BOT", "id": None})),
    ),
    (
        "conversation.status_changed",
        {"conversation_id": "conv-000001", "status": "NEW", "actor": {"kind": "SYSTEM", "id": None},
         "team_id": None, "started_by": "NEW_INBOUND_MESSAGE", "inbound_message_id": "msg-bad",
         "handover_reason": None},
        ("conversation_id", "status", "actor", "started_by"),
        (("actor", "SYSTEM"), ("team_id", 3), ("status", None)),
        (("status", "CLOSED"), ("started_by", "MAGIC"), ("actor", {"kind": "ROBOT", "id": None})),
    ),
    (
        "conversation.status_changed",
        {"conversation_id": "conv-000001", "status": "RESOLVED",
         "actor": {"kind": "AGENT", "id": "agent-001"}, "team_id": "team-01",
         "resolve_reason": None, "resolve_comment": None, "resolve_trigger": "HUMAN_AGENT"},
        ("conversation_id", "status", "actor", "resolve_trigger"),
        (("resolve_comment", 7), ("actor", ["AGENT"])),
        (("resolve_trigger", "TIMEOUT"), ("status", "DONE")),
    ),
    (
        "conversation.locked",
        {"conversation_id": "conv-000001", "agent_id": "agent-001", "team_id": "team-01"},
        ("conversation_id", "agent_id"),
        (("agent_id", 7), ("agent_id", None), ("team_id", ["team-01"])),
        (),
    ),
    (
        "agent.presence_changed",
        {"agent_id": "agent-001", "presence": "AWAY", "away_status": "Lunch"},
        ("agent_id", "presence"),
        (("away_status", 5), ("agent_id", {"id": "agent-001"})),
        (("presence", "BUSY"), ("presence", "available")),
    ),
    (
        "contact.upserted",
        {"contact_profile_id": "contact-000001", "medium": "SMS",
         "primary_identifier": "+15550000000", "secondary_identifier": None},
        ("contact_profile_id", "medium", "primary_identifier"),
        (("primary_identifier", 15550000000), ("secondary_identifier", False)),
        (),
    ),
    (
        "csat.responded",
        {"conversation_id": "conv-000001", "survey_id": "survey-bad", "score": 4,
         "followup_question": None, "followup_answer": None},
        ("conversation_id", "survey_id", "score"),
        (("score", "5"), ("score", 4.5), ("followup_answer", 3)),
        (),
    ),
)  # fmt: skip

_NOT_JSON: Final = (
    b"not json at all",
    b"{event_id: '{id}', type: 'message.created'}",
    b"\xff\xfe\x00garbage\x00",
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"event_id={id}&type=message.created",
    b'{"event_id": "{id}", "type": "message.created",}',
    b'{"event_id": "{id}"}{"type": "tag.deleted"}',
)
