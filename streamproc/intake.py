"""Admission of one raw Kafka record: parse, check its routing, or say why it is rejected."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiokafka.partitioner import murmur2

from streamproc.events import EVENT_TYPES, Event, InvalidEvent, parse_event
from streamproc.settings import Settings


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record is dead-lettered: a category (``invalid``, ``misrouted``, ``late``) and a
    one-line reason."""

    category: str
    reason: str


_HASHES: dict[bytes, int] = {}
_HASHES_MAX = 200_000


def partition_for_key(key: bytes, partition_count: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives ``key``.

    aiokafka's murmur2 is pure Python (~5 µs); keys recur (a conversation has dozens of
    events), so hashes are memoised, up to 200k keys at a time.
    """
    hashed = _HASHES.get(key)
    if hashed is None:
        if len(_HASHES) >= _HASHES_MAX:
            _HASHES.clear()
        hashed = _HASHES[key] = murmur2(key) & 0x7FFFFFFF
    return hashed % partition_count


def admit_record(
    settings: Settings,
    topic: str,
    partition: int,
    key: bytes | None,
    value: bytes | None,
    partition_count: int,
) -> Event | Rejection:
    """Parse a record and check it sits where the contract puts it.

    Per-key state lives on the partition of its key, so an event with the wrong key, on
    the wrong topic or partition would split that state: it is rejected as ``misrouted``.
    """
    try:
        event = parse_event(value)
    except InvalidEvent as exc:
        return Rejection("invalid", exc.reason)
    spec = EVENT_TYPES[event.type]
    expected_topic = settings.topic_for_role(spec.topic)
    if topic != expected_topic:
        return Rejection(
            "misrouted", f"{event.type} belongs on topic {expected_topic}, arrived on {topic}"
        )
    expected_key = event.key.encode()
    if key != expected_key:
        shown = "none" if key is None else repr(key.decode(errors="replace")[:60])
        return Rejection(
            "misrouted",
            f"{event.type} must be keyed by {spec.key_field} {event.key!r}, got {shown}",
        )
    expected_partition = partition_for_key(expected_key, partition_count)
    if partition != expected_partition:
        return Rejection(
            "misrouted",
            f"key {event.key!r} belongs on partition {expected_partition} of {partition_count}"
            f" (default murmur2 partitioner), arrived on {partition}",
        )
    return event


def count_once(counter: bytes | None, offset: int) -> bytes:
    """A per-partition rejection counter after the record at ``offset``.

    Offsets grow within a partition, so a record processed again after a crash (offset
    below ``next``) is not counted twice. JSON ``{"n": count, "next": offset + 1}``.
    """
    state = orjson.loads(counter) if counter else {"n": 0, "next": 0}
    if offset >= state["next"]:
        state = {"n": state["n"] + 1, "next": offset + 1}
    return orjson.dumps(state)
