"""Table keys built from ids: one function per key kind, so that no id content can collide.

Keys join their parts with ``|``. A part that is an arbitrary id (any string an event may
carry) is escaped first: ``\\`` -> ``\\\\`` and ``|`` -> ``\\|``, so the unescaped ``|``
are exactly the separators and two different tuples of ids never give the same key. Ids
without ``\\`` or ``|`` (every id seen in practice) are written as they are, so these
keys are byte-identical to the keys of earlier versions for them.

- directory: ``kind|id``; a contact attribute's id is ``contact|attribute`` (both escaped);
- presence_days: ``agent|day-ms`` (the day is an integer after the last ``|``, so the
  agent id is not escaped: ``rsplit`` finds the day whatever the agent id holds);
- activity: ``partition|dimension|bucket-ms|["entity","conversation",segment]``, one
  record per conversation segment's contribution to a bucket (the state format before
  segments had no segment: ``["entity","conversation"]``); the entity is one or more
  escaped ids (``va|channel``, ``topic|channel``); the primary team of an agent is
  ``~agent``, and a team id that itself starts with ``~`` is written ``\\~...``;
- segments: ``["conversation",segment]`` (JSON), one segment of a conversation's log.
"""

from __future__ import annotations

import orjson

SEPARATOR = "|"
PRIMARY_TEAM = "~"


def escape(part: str) -> str:
    """An id as one key part: ``\\`` and ``|`` escaped with ``\\``."""
    if "\\" in part or SEPARATOR in part:
        return part.replace("\\", "\\\\").replace(SEPARATOR, "\\" + SEPARATOR)
    return part


def compound(*parts: str) -> str:
    """Escaped ids joined with ``|`` (split them again with ``split``)."""
    if len(parts) == 1:
        return escape(parts[0])
    return SEPARATOR.join([escape(p) for p in parts])


def split(text: str) -> list[str]:
    """The unescaped parts of ``text`` (the inverse of ``compound``)."""
    if "\\" not in text:
        return text.split(SEPARATOR)
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == SEPARATOR:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


# -- directory ------------------------------------------------------------------------------


def attribute_id(contact_profile_id: str, attribute_id: str) -> str:
    """The directory id of a contact attribute."""
    return compound(contact_profile_id, attribute_id)


def directory_key(kind: str, entity_id: str) -> bytes:
    """``kind|id`` (kinds are fixed words without ``|``; ``entity_id`` as built by
    metrics.directory.directory_key, already escaped where it is compound)."""
    return f"{kind}{SEPARATOR}{entity_id}".encode()


def parse_directory_key(key: bytes | str) -> tuple[str, str]:
    """(kind, id) of a directory key."""
    text = key.decode() if isinstance(key, bytes) else key
    kind, entity_id = text.split(SEPARATOR, 1)
    return kind, entity_id


# -- presence days --------------------------------------------------------------------------


def presence_day_key(agent_id: str, day_ms: int) -> bytes:
    """``agent|day-ms``."""
    return f"{agent_id}{SEPARATOR}{day_ms}".encode()


def parse_presence_day_key(key: bytes | str) -> tuple[str, int]:
    """(agent id, day ms) of a presence-day key."""
    text = key.decode() if isinstance(key, bytes) else key
    agent_id, day = text.rsplit(SEPARATOR, 1)
    return agent_id, int(day)


# -- activity buckets -----------------------------------------------------------------------


def entity(*ids: str) -> str:
    """An activity entity of one or more ids (``va|channel``, ``topic|channel``, ...)."""
    return compound(*ids)


def team_entity(team_id: str | None, agent_id: str | None) -> str | None:
    """The team of a fact: its team id, else ``~agent`` (the agent's primary team, which
    the reader resolves from the directory as of its own time). A team id starting with
    ``~`` is written ``\\~...`` so that it never reads as an agent's primary team."""
    if team_id is not None:
        escaped = escape(team_id)
        return "\\" + escaped if escaped.startswith(PRIMARY_TEAM) else escaped
    return None if agent_id is None else PRIMARY_TEAM + escape(agent_id)


def bucket_key(dimension: str, entity_text: str, bucket_ms: int) -> str:
    """``dimension|entity|bucket-ms`` (``entity_text`` from ``entity``/``team_entity``)."""
    return f"{dimension}{SEPARATOR}{entity_text}{SEPARATOR}{bucket_ms}"


def activity_key(
    partition: int, bucket: str, conversation_id: str, segment: int | None = None
) -> bytes:
    """The record of one conversation segment's contribution to one bucket (``bucket``
    from ``bucket_key``): ``partition|dimension|bucket-ms|["entity","conversation",segment]``
    (``segment`` None: the key of the state format before segments, without it).

    The entity (as written), the conversation id and the segment go last, as a JSON
    array, so no id content can make two records share a key.
    """
    dimension, rest = bucket.split(SEPARATOR, 1)
    entity_text, start = rest.rsplit(SEPARATOR, 1)
    parts: list[str | int] = [entity_text, conversation_id]
    if segment is not None:
        parts.append(segment)
    ids = orjson.dumps(parts).decode()
    return f"{partition}{SEPARATOR}{dimension}{SEPARATOR}{start}{SEPARATOR}{ids}".encode()


def parse_activity_key(key: bytes | str) -> tuple[int, str, str, int, str]:
    """(partition, dimension, entity as written, bucket ms, conversation id) of an
    ``activity_key``; ValueError for anything else."""
    partition, dimension, entity_text, start, conversation_id, _ = parse_activity_key_segment(key)
    return partition, dimension, entity_text, start, conversation_id


def parse_activity_key_segment(key: bytes | str) -> tuple[int, str, str, int, str, int | None]:
    """(partition, dimension, entity as written, bucket ms, conversation id, segment or
    None for a key of the format before segments) of an ``activity_key``; ValueError for
    anything else."""
    raw = key.encode() if isinstance(key, str) else key
    try:
        partition, dimension, start, ids = raw.split(b"|", 3)
        entity_text, conversation_id, *rest = orjson.loads(ids)
        segment = rest[0] if len(rest) == 1 else None
        if (
            isinstance(entity_text, str)
            and isinstance(conversation_id, str)
            and len(rest) <= 1
            and (segment is None or type(segment) is int)
        ):
            return (
                int(partition), dimension.decode(), entity_text, int(start), conversation_id,
                segment,
            )  # fmt: skip
    except (ValueError, TypeError):
        pass
    raise ValueError(f"not an activity key: {raw[:80]!r}")


# -- conversation segments ------------------------------------------------------------------


def segment_key(conversation_id: str, segment: int) -> bytes:
    """``["conversation",segment]``: one segment of a conversation's log."""
    return orjson.dumps([conversation_id, segment])


def parse_segment_key(key: bytes | str) -> tuple[str, int]:
    """(conversation id, segment) of a ``segment_key``; ValueError for anything else."""
    try:
        conversation_id, segment = orjson.loads(key)
        if isinstance(conversation_id, str) and type(segment) is int:
            return conversation_id, segment
    except (ValueError, TypeError):
        pass
    raise ValueError(f"not a segment key: {key[:80]!r}")
