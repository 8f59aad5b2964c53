"""A message's own state (content, tags now, deletion, last update) folded from its events."""

from __future__ import annotations

from typing import Any

from streamproc.events import (
    Event,
    MessageCreated,
    MessageDeleted,
    MessageTagChanged,
    MessageUpdated,
)

# The message record is a JSON-able dict:
#   "conversation_id", "created": {fields and content of the first message.created, with
#   its "stamp" [t, event_id]} or None until one arrives, "update": [stamp, content] of the
#   latest message.updated with content, "deleted_t", "tags": {tag: [t, id]},
#   "removed": {tag: [t, id]}, "lu": latest event time, "seen": [event ids]
MessageRecord = dict[str, Any]


def new_message(conversation_id: str) -> MessageRecord:
    """An empty record for a message no event has been applied to yet."""
    return {
        "conversation_id": conversation_id,
        "created": None,
        "update": None,
        "deleted_t": None,
        "tags": {},
        "removed": {},
        "lu": None,
        "seen": [],
    }


def apply_message_event(record: MessageRecord, event: Event) -> bool:
    """Apply one ``message.*`` event in place; False if it was already applied (duplicate).

    Every rule is order-independent, so events may arrive in any order: the latest content
    (by occurred_at, event_id) wins, the earliest deletion counts, and a tag is on the
    message when its latest add is later than its latest removal.
    """
    if event.event_id in record["seen"]:
        return False
    record["seen"].append(event.event_id)
    stamp = [event.occurred_at_ms, event.event_id]
    if record["lu"] is None or event.occurred_at_ms > record["lu"]:
        record["lu"] = event.occurred_at_ms
    match event:
        case MessageCreated() if record["created"] is None or stamp < record["created"]["stamp"]:
            # A repeated creation: the first one in event order stands.
            record["created"] = {
                "t": event.occurred_at_ms,
                "stamp": stamp,
                "direction": event.direction,
                "sender_kind": event.sender.kind,
                "sender_id": event.sender.id,
                "team_id": event.team_id,
                "message_type": event.message_type,
                "origin": event.origin,
                "outbound_type": event.outbound_type,
                "system_user_type": event.system_user_type,
                "post_url": event.post_url,
                "content": event.content,
            }
        case MessageUpdated(content_set=True):
            if record["update"] is None or stamp > record["update"][0]:
                record["update"] = [stamp, event.content]
        case MessageDeleted():
            if record["deleted_t"] is None or event.occurred_at_ms < record["deleted_t"]:
                record["deleted_t"] = event.occurred_at_ms
        case MessageTagChanged(type="message.tag_added"):
            _latest(record["tags"], event.tag_id, stamp)
        case MessageTagChanged(type="message.tag_removed"):
            _latest(record["removed"], event.tag_id, stamp)
    return True


def content_of(record: MessageRecord) -> str | None:
    """The content now: of the latest content update after the creation, else the
    creation's (whichever comes last in event order)."""
    created, update = record["created"], record["update"]
    if update is not None and (created is None or update[0] > created["stamp"]):
        return update[1]
    return None if created is None else created["content"]


def _latest(stamps: dict[str, list[Any]], tag_id: str, stamp: list[Any]) -> None:
    if tag_id not in stamps or stamp > stamps[tag_id]:
        stamps[tag_id] = stamp


def tags_now(record: MessageRecord) -> list[str]:
    """Tags on the message, ordered by when they were (last) added (ms), then id."""
    current = [
        (added[0], tag)
        for tag, added in record["tags"].items()
        if tag not in record["removed"] or added > record["removed"][tag]
    ]
    return [tag for _added, tag in sorted(current)]
