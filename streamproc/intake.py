"""Admission of one raw Kafka record: parse it, then apply, re-route or dead-letter it."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiokafka.partitioner import murmur2

from streamproc.events import EVENT_TYPES, Event, InvalidEvent, parse_event
from streamproc.settings import Settings


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record is dead-lettered: a category (``invalid``; ``misrouted``: only on the
    re-route topic; ``late``) and a one-line reason."""

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


REROUTE_REASONS = ("wrong_topic", "no_key", "wrong_key", "wrong_partition")
"""Why a valid event is re-routed (the counters' and the forward's ``reason``)."""


@dataclass(frozen=True, slots=True)
class Reroute:
    """A valid event that arrived elsewhere than the contract puts it: forward its record
    to the re-route topic, keyed by its contract key, on that key's partition."""

    event: Event
    key: bytes
    partition: int
    reason: str
    """One of REROUTE_REASONS."""
    detail: str
    """One line saying where it arrived and where it belongs."""


def admit_record(
    settings: Settings,
    topic: str,
    partition: int,
    key: bytes | None,
    value: bytes | None,
    partition_count: int,
) -> Event | Reroute | Rejection:
    """Parse a record and decide what to do with it: apply it here (the event), forward
    it to the re-route topic (a ``Reroute``), or dead-letter it (a ``Rejection``).

    Per-key state lives on the partition murmur2 gives the contract key, so a valid event
    with another key, no key, on another partition or on another inbound topic than its
    type's is forwarded to that partition of the re-route topic (co-partitioned with the
    state) and applied from there. A record on the re-route topic is never forwarded
    again: if it is not where it belongs either, it is dead-lettered ``misrouted``.
    """
    try:
        event = parse_event(value)
    except InvalidEvent as exc:
        return Rejection("invalid", exc.reason)
    spec = EVENT_TYPES[event.type]
    expected_key = event.key.encode()
    expected_partition = partition_for_key(expected_key, partition_count)
    expected_topic = settings.topic_for_role(spec.topic)
    in_place = key == expected_key and partition == expected_partition
    if in_place and topic in (expected_topic, settings.topic_reroute):
        return event
    if topic == settings.topic_reroute:
        shown = "none" if key is None else repr(key.decode(errors="replace")[:60])
        return Rejection(
            "misrouted",
            f"on the re-route topic, {event.type} must be keyed by {spec.key_field} "
            f"{event.key!r} on partition {expected_partition} of {partition_count}; "
            f"got key {shown} on partition {partition} (never forwarded twice)",
        )
    if topic != expected_topic:
        reason = "wrong_topic"
        detail = f"{event.type} belongs on topic {expected_topic}, arrived on {topic}"
    elif not key:
        reason = "no_key"
        detail = f"{event.type} arrived without a key; its {spec.key_field} is {event.key!r}"
    elif key != expected_key:
        reason = "wrong_key"
        detail = (
            f"{event.type} must be keyed by {spec.key_field} {event.key!r}, "
            f"got {key.decode(errors='replace')[:60]!r}"
        )
    else:
        reason = "wrong_partition"
        detail = (
            f"key {event.key!r} belongs on partition {expected_partition} of "
            f"{partition_count} (murmur2), arrived on {partition}"
        )
    return Reroute(event, expected_key, expected_partition, reason, detail)


def count_once(counter: bytes | None, offset: int) -> bytes:
    """A per-partition rejection counter after the record at ``offset``.

    Offsets grow within a partition, so a record processed again after a crash (offset
    below ``next``) is not counted twice. JSON ``{"n": count, "next": offset + 1}``.
    """
    state = orjson.loads(counter) if counter else {"n": 0, "next": 0}
    if offset >= state["next"]:
        state = {"n": state["n"] + 1, "next": offset + 1}
    return orjson.dumps(state)
