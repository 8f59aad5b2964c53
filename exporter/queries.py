"""SQL shared by both renderings of an export (exporter.rows and exporter.sqlcsv): defined once.

The exports of exporter.sqlcsv.SQL_EXPORTS are written by SQLite (the fast path) and, when
that cannot run, from exporter.rows' row dicts (the general path); both select the same rows
in the same order with these fragments, so they cannot drift apart. Named parameters:
``:start``/``:end`` (the range, epoch ms), ``:as_of`` (the export's as-of, epoch ms) and
``:channels`` (the channel filter, one JSON array: ``channels_json``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import orjson

#: The request's channel filter on the conversation ``c`` (only when channels are given).
CHANNEL_FILTER: Final = "c.channel_id IN (SELECT value FROM json_each(:channels))"

#: conversations_resolved: the conversation's FIRST resolution is in the range.
RESOLVED_IN_RANGE: Final = "c.first_resolution_t >= :start AND c.first_resolution_t < :end"
#: conversations_open: the conversation's current status is NEW or PENDING.
OPEN_NOW: Final = "c.status IN ('NEW', 'PENDING')"
#: messages: the message ``m`` was created in the range.
MESSAGE_IN_RANGE: Final = "m.created_t >= :start AND m.created_t < :end"

#: Row order of the conversation exports (no creation time last, then by id).
CONVERSATION_ORDER: Final = "ORDER BY c.created_t IS NULL, c.created_t, c.conversation_id"
#: Row order of the messages export.
MESSAGE_ORDER: Final = "ORDER BY m.created_t, m.message_id"

#: When an agent session ``s`` ended: its end, else its expiry once that is past as_of.
SESSION_END: Final = (
    "CASE WHEN s.end_t IS NOT NULL THEN s.end_t WHEN s.expiry <= :as_of THEN s.expiry END"
)
#: Per conversation, over its sessions ``s`` (NULL without any): Handle Time (replied
#: sessions), No Reply Time (sessions the agent ended by a status change without a
#: reply) and Cherry Pick Time (other sessions without a reply), in ms.
HANDLE_MS: Final = f"sum(CASE WHEN s.replied THEN {SESSION_END} - s.start END)"
NO_REPLY_MS: Final = (
    "sum(CASE WHEN NOT s.replied AND s.own_status_end AND s.end_t IS NOT NULL"
    " THEN s.end_t - s.start END)"
)
CHERRY_PICK_MS: Final = (
    "sum(CASE WHEN NOT s.replied AND NOT (s.own_status_end AND s.end_t IS NOT NULL)"
    f" THEN {SESSION_END} - s.start END)"
)
#: The sessions of the conversation ``c``.
SESSIONS_OF_CONVERSATION: Final = "sessions s WHERE s.conversation_id = c.conversation_id"
#: The messages of the conversation ``c`` (their latest ``lu`` is part of Last Updated).
MESSAGES_OF_CONVERSATION: Final = "messages m WHERE m.conversation_id = c.conversation_id"
#: The conversation ``c`` of the message ``m`` (a message may come before its conversation).
CONVERSATION_OF_MESSAGE: Final = (
    "LEFT JOIN conversations c ON c.conversation_id = m.conversation_id"
)


def channels_json(channels: Iterable[str]) -> str:
    """Channel ids as one JSON array, sorted (one SQL parameter however many)."""
    return orjson.dumps(sorted(channels)).decode()
