"""Directory records (agents, teams, channels, contacts, topics, tags, ...): last write wins."""

from __future__ import annotations

from typing import Any

from streamproc import keys
from streamproc.events import (
    AgentUpserted,
    ChannelUpserted,
    ContactAttributeSet,
    ContactUpserted,
    Event,
    TagDeleted,
    TagUpserted,
    TeamUpserted,
    TopicDeleted,
    TopicUpserted,
    VirtualAgentUpserted,
)

# A directory record: {"kind", "id", "up": [t, event_id] of the winning upsert, "fields":
# {...}, "del": [t, event_id] of the latest deletion or None, "lu": latest event time}.
DirectoryRecord = dict[str, Any]


def directory_key(event: Event) -> tuple[str, str]:
    """(kind, id) of the record an event writes; attributes are per contact and attribute
    (``contact|attribute``, both escaped: streamproc.keys)."""
    match event:
        case AgentUpserted():
            return "agent", event.agent_id
        case TeamUpserted():
            return "team", event.team_id
        case VirtualAgentUpserted():
            return "virtual_agent", event.virtual_agent_id
        case ChannelUpserted():
            return "channel", event.channel_id
        case ContactUpserted():
            return "contact", event.contact_profile_id
        case ContactAttributeSet():
            return "attribute", keys.attribute_id(event.contact_profile_id, event.attribute_id)
        case TopicUpserted() | TopicDeleted():
            return "topic", event.topic_id
        case TagUpserted() | TagDeleted():
            return "tag", event.tag_id
    raise ValueError(f"{event.type} is not a directory event")


_FIELDS: dict[str, tuple[str, ...]] = {
    "agent.upserted": ("name", "email", "reference", "team_id"),
    "team.upserted": ("name",),
    "virtual_agent.upserted": ("name",),
    "channel.upserted": ("medium", "name", "display_name"),
    "contact.upserted": ("medium", "primary_identifier", "secondary_identifier"),
    "contact.attribute_set": (
        "contact_profile_id", "attribute_id", "name", "value", "attribute_type",
    ),
    "topic.upserted": ("name",),
    "tag.upserted": ("name",),
}  # fmt: skip


def apply_directory_event(record: DirectoryRecord | None, event: Event) -> DirectoryRecord:
    """The record after ``event``: the latest upsert (by occurred_at, event_id) gives the
    fields; a deletion later than it makes the record inactive. Order-independent and
    idempotent, so duplicates and reordering change nothing."""
    kind, entity_id = directory_key(event)
    if record is None:
        record = {"kind": kind, "id": entity_id, "up": None, "fields": {}, "del": None, "lu": 0}
    else:
        record = {**record}
    stamp = [event.occurred_at_ms, event.event_id]
    record["lu"] = max(record["lu"], event.occurred_at_ms)
    if event.type.endswith(".deleted"):
        if record["del"] is None or stamp > record["del"]:
            record["del"] = stamp
    elif record["up"] is None or stamp > record["up"]:
        record["up"] = stamp
        record["fields"] = {name: getattr(event, name) for name in _FIELDS[event.type]}
    return record


def is_active(record: DirectoryRecord) -> bool:
    """Deleted topics/tags are inactive until a later upsert."""
    return record["del"] is None or (record["up"] is not None and record["up"] > record["del"])
