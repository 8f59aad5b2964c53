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
#   "conversation_id", "created": {fields of message.created} or None until it arrives,
#   "content", "content_t": (t, id) of the latest content, "deleted_t", "tags": {tag: [t, id]},
#   "removed": {tag: [t, id]}, "lu": latest event time, "seen": [event ids]
MessageRecord = dict[str, Any]


def new_message(conversation_id: str) -> MessageRecord:
    """An empty record for a message no event has been applied to yet."""
    return {
        "conversation_id": conversation_id,
        "created": None,
        "content": None,
        "content_at": None,
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
        case MessageCreated() if (
            record["created"] is None or event.occurred_at_ms < record["created"]["t"]
        ):
            # A repeated creation: the first one (in event order) stands.
            record["created"] = {
                "t": event.occurred_at_ms,
                "direction": event.direction,
                "sender_kind": event.sender.kind,
                "sender_id": event.sender.id,
                "team_id": event.team_id,
                "message_type": event.message_type,
                "origin": event.origin,
                "outbound_type": event.outbound_type,
                "system_user_type": event.system_user_type,
                "post_url": event.post_url,
            }
            _set_content(record, event.content, [event.occurred_at_ms, ""])
        case MessageUpdated(content_set=True):
            _set_content(record, event.content, stamp)
        case MessageDeleted():
            if record["deleted_t"] is None or event.occurred_at_ms < record["deleted_t"]:
                record["deleted_t"] = event.occurred_at_ms
        case MessageTagChanged(type="message.tag_added"):
            _latest(record["tags"], event.tag_id, stamp)
        case MessageTagChanged(type="message.tag_removed"):
            _latest(record["removed"], event.tag_id, stamp)
    return True


def _set_content(record: MessageRecord, content: str | None, stamp: list[Any]) -> None:
    """The creation's content has the lowest rank among contents at its time."""
    if record["content_at"] is None or stamp > record["content_at"]:
        record["content"], record["content_at"] = content, stamp


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
