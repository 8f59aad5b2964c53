"""Long conversations as JSON lines: one conversation of many events (late ones, re-deliveries)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson

START = datetime(2026, 11, 2, 9, tzinfo=UTC)
"""When the generated conversations start (inside the simulated traffic's days)."""

CYCLE = 100
"""Every ``CYCLE`` events the conversation is resolved and then re-opened."""


def stamp(moment: datetime) -> str:
    """RFC 3339 with ``Z``, as the contract writes times."""
    return moment.isoformat().replace("+00:00", "Z")


def agent(agent_id: str, at: datetime) -> bytes:
    """An ``agent.upserted`` event for ``agent_id`` of team-1 (a directory event: it
    touches no conversation)."""
    return orjson.dumps(
        {"event_id": f"{agent_id}-upsert-{stamp(at)}", "type": "agent.upserted",
         "occurred_at": stamp(at), "agent_id": agent_id, "name": f"Agent {agent_id}",
         "email": f"{agent_id}@example.com", "reference": agent_id, "team_id": "team-1"}
    )  # fmt: skip


def created(conversation_id: str, at: datetime) -> bytes:
    """The ``conversation.created`` event of ``conversation_id``."""
    return orjson.dumps(
        {"event_id": f"{conversation_id}-c", "type": "conversation.created",
         "occurred_at": stamp(at), "conversation_id": conversation_id,
         "channel_id": "channel-01", "contact_profile_id": f"contact-{conversation_id}",
         "url": f"https://inbox.example/{conversation_id}", "language": "en"}
    )  # fmt: skip


def message(
    conversation_id: str,
    n: int,
    at: datetime,
    inbound: bool,
    team_id: str = "team-1",
    agent_id: str = "agent-1",
) -> bytes:
    """Message ``n`` of the conversation: from the contact, or an agent's reply (by
    ``agent_id`` for ``team_id``)."""
    sender = {"kind": "CONTACT", "id": None} if inbound else {"kind": "AGENT", "id": agent_id}
    return orjson.dumps(
        {"event_id": f"{conversation_id}-m{n}", "type": "message.created",
         "occurred_at": stamp(at), "message_id": f"{conversation_id}-m{n}",
         "conversation_id": conversation_id, "direction": "INBOUND" if inbound else "OUTBOUND",
         "sender": sender, "team_id": None if inbound else team_id,
         "message_type": "DIRECT_MESSAGE", "origin": "NATIVE" if inbound else "INBOX",
         "outbound_type": None if inbound else "REPLY", "system_user_type": None,
         "content": "hello" if inbound else "ok", "post_url": None}
    )  # fmt: skip


def status(conversation_id: str, n: int, at: datetime, resolved: bool) -> bytes:
    """A status change: resolved by agent-1, or back to NEW on a contact's message."""
    body: dict[str, object] = {
        "event_id": f"{conversation_id}-s{n}", "type": "conversation.status_changed",
        "occurred_at": stamp(at), "conversation_id": conversation_id,
    }  # fmt: skip
    if resolved:
        body.update({"status": "RESOLVED", "actor": {"kind": "AGENT", "id": "agent-1"},
                     "team_id": "team-1", "resolve_reason": "answered",
                     "resolve_comment": None, "resolve_trigger": "HUMAN_AGENT"})  # fmt: skip
    else:
        body.update({"status": "NEW", "actor": {"kind": "SYSTEM", "id": None}, "team_id": None,
                     "started_by": "NEW_INBOUND_MESSAGE", "inbound_message_id": None,
                     "handover_reason": None})  # fmt: skip
    return orjson.dumps(body)


def event(conversation_id: str, n: int, start: datetime = START, spacing_ms: int = 1000) -> bytes:
    """Event ``n`` (0-based) of a long conversation, at ``start + n * spacing_ms``.

    Event 0 creates it; in every cycle of ``CYCLE`` events the first opens it (NEW), the
    last resolves it, and the others alternate a contact's message and an agent's reply.
    """
    at = start + timedelta(milliseconds=n * spacing_ms)
    if n == 0:
        return created(conversation_id, at)
    position = n % CYCLE
    if position == 1:
        return status(conversation_id, n, at, resolved=False)
    if position == 0:
        return status(conversation_id, n, at, resolved=True)
    return message(conversation_id, n, at, inbound=position % 2 == 0)


def events(
    conversation_id: str, count: int, start: datetime = START, spacing_ms: int = 1000
) -> Iterator[bytes]:
    """Events 0 .. ``count`` - 1 of the conversation in event-time order; the last one
    resolves it (so it is in the resolved conversations export)."""
    for n in range(count - 1):
        yield event(conversation_id, n, start, spacing_ms)
    if count > 1:
        at = start + timedelta(milliseconds=(count - 1) * spacing_ms)
        yield status(conversation_id, count - 1, at, resolved=True)
    elif count == 1:
        yield event(conversation_id, 0, start, spacing_ms)


def arrival_order(
    lines: list[bytes], late: float, duplicates: float, seed: int, reach: int = 50
) -> list[bytes]:
    """``lines`` as they would arrive: a fraction ``late`` of them arrives up to ``reach``
    places after their successors (seconds late, inside the lateness bound) and a
    fraction ``duplicates`` arrives a second time up to ``reach`` places later. The first
    line (the creation) stays first."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible arrival order, not a secret)
    arrived: list[tuple[float, int, bytes]] = []
    for i, line in enumerate(lines):
        place = float(i)
        if i > 0 and rng.random() < late:
            place += rng.randint(2, reach) + 0.5
        arrived.append((place, i, line))
        if i > 0 and rng.random() < duplicates:
            arrived.append((i + rng.randint(1, reach) + 0.25, i, line))
    return [line for _, _, line in sorted(arrived)]
