"""A conversation's log in bounded segments, each with the fold's checkpoint at its start.

A conversation is stored as a small *head* (``conversations`` table, key: the conversation
id) and a chain of *segments* (``segments`` table, key: ``keys.segment_key``). Each segment
holds at most ``SEGMENT_SPLIT_ENTRIES`` log entries (stored form), the fold's state before
its first entry (the *carry*, metrics.conversation.Carry) and links to its neighbours::

    head:    {"v": 2, "tail": id, "next": next unused id}
    segment: {"c": carry before it, "log": [entries], "r": [repeated creations],
              "p": previous id | null, "n": next id | null, "bk": [buckets ever written]}

An in-order event appends to the tail and refolds only the tail from its carry; the tail
is sealed at ``SEGMENT_ENTRIES``. A late event goes into the segment holding its order key
and the refold carries on into the following segments only while the carry at a boundary
differs from the stored one. So an event's cost is bounded by the segment size, plus
how late it is, never by how long the conversation is. docs/architecture.md, "State".

This module is pure: the carry's JSON form, and the segment's fold and contributions.
"""

from __future__ import annotations

from typing import Any, Final

from streamproc.metrics.conversation import (
    Carry,
    ConversationFacts,
    CsatResponse,
    LockSession,
    QueueEntry,
    Resolution,
    Response,
    fold_segment,
)
from streamproc.metrics.conversation_log import LogEntry

SEGMENT_ENTRIES: Final = 16
"""A tail segment is sealed at this many entries (the next in-order event starts one)."""

SEGMENT_SPLIT_ENTRIES: Final = 2 * SEGMENT_ENTRIES
"""A segment that late events grew past this many entries is split in two."""

SEGMENT_SPLIT_BYTES: Final = 32_768
"""A segment whose stored entries pass this many bytes is split too (entries are bounded
by the event size limits, so a segment record stays well under 64 KiB)."""

HEAD_VERSION: Final = 2

Record = dict[str, Any]


def new_head() -> Record:
    """The head of a conversation with one empty segment (id 0)."""
    return {"v": HEAD_VERSION, "tail": 0, "next": 1}


def new_segment(prev: int | None, carry: Carry) -> Record:
    """An empty segment after ``prev`` (None: the first), starting from ``carry``."""
    return {"c": carry_to_json(carry), "log": [], "r": [], "p": prev, "n": None, "bk": []}


def fold_record(
    conversation_id: str,
    record: Record,
    entries: list[LogEntry],
    lock_max_ms: int,
) -> ConversationFacts:
    """The facts a segment adds (``entries``: its log decoded), from its stored carry and
    repeated creations; ``end`` is the carry after it."""
    return fold_segment(
        conversation_id,
        carry_from_json(record["c"]),
        entries,
        lock_max_ms,
        frozenset(record["r"]),
        last=record["n"] is None,
    )


# ---------------------------------------------------------------------------
# The carry's JSON form (compact: it is stored with every segment).
# ---------------------------------------------------------------------------


def carry_to_json(c: Carry) -> list[Any]:
    """``c`` as a JSON array (field order of Carry; nested facts as arrays)."""
    return [
        c.channel_id, c.contact_profile_id, c.url, c.created_t, c.language, c.status,
        c.last_status_agent_id, c.last_status_team_id, c.first_inbound_t, c.topics_now,
        c.csat_sent_t, c.csat_survey_id,
        [[s.agent_id, s.team_id, s.start, s.expiry, s.replied] for s in c.open_sessions],
        None if c.open_queue is None else _fields(c.open_queue),
        c.replied_since_queue,
        None if c.latest_resolution is None else _fields(c.latest_resolution),
        c.first_resolution_t,
        None if c.first_response is None else _fields(c.first_response),
        {survey: _fields(r) for survey, r in c.csat_latest.items()},
        c.latest_t,
    ]  # fmt: skip


def carry_from_json(data: list[Any]) -> Carry:
    """The inverse of :func:`carry_to_json`; ValueError if ``data`` is not one."""
    try:
        (
            channel_id, contact_profile_id, url, created_t, language, status,
            last_status_agent_id, last_status_team_id, first_inbound_t, topics_now,
            csat_sent_t, csat_survey_id, sessions, queue, replied, resolution,
            first_resolution_t, first_response, csat_latest, latest_t,
        ) = data  # fmt: skip
        return Carry(
            channel_id, contact_profile_id, url, created_t, language, status,
            last_status_agent_id, last_status_team_id, first_inbound_t, dict(topics_now),
            csat_sent_t, csat_survey_id,
            [LockSession(a, tm, start, expiry, None, replied)
             for a, tm, start, expiry, replied in sessions],
            None if queue is None else QueueEntry(*queue),
            replied,
            None if resolution is None else Resolution(*resolution),
            first_resolution_t,
            None if first_response is None else Response(*first_response),
            {survey: CsatResponse(*r) for survey, r in csat_latest.items()},
            latest_t,
        )  # fmt: skip
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a stored fold carry: {str(data)[:120]}") from exc


def _fields(value: Any) -> list[Any]:
    return [getattr(value, name) for name in value.__slots__]
