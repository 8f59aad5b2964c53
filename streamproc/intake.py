"""Admission of one raw Kafka record: parse it, then apply, re-route or dead-letter it."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import orjson
from aiokafka.partitioner import murmur2

from streamproc.events import EVENT_TYPES, Event, InvalidEvent, parse_event, shown
from streamproc.settings import Settings

MAX_REASON_CHARS = 300
"""A dead letter's reason is one line of at most this many characters."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record is dead-lettered: a category (``invalid``; ``misrouted``: only on the
    re-route topic; ``late``, ``out_of_range``, ``too_large``, ``unprocessable``) and a
    one-line reason."""

    category: str
    reason: str

    @property
    def bounded_reason(self) -> str:
        """The reason as sent: one line, at most ``MAX_REASON_CHARS`` characters."""
        line = " ".join(self.reason.split())
        if len(line) > MAX_REASON_CHARS:
            line = line[: MAX_REASON_CHARS - 1] + "…"
        return line


DEAD_LETTER_MAX_BYTES = 900_000
"""Key + value + headers of a dead letter stay below this (the producer's limit is 1 MB)."""
DEAD_LETTER_KEPT_BYTES = 65_536
"""What is kept of a key or value that had to be cut to fit."""

Header = tuple[str, bytes]


def dead_letter(
    rejection: Rejection,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
) -> tuple[bytes | None, bytes | None, list[Header]]:
    """The dead letter of a rejected record: its key and value as received, the reason
    and the source in headers.

    A record that would not fit the producer's limit with its headers keeps the first
    64 KiB of its key and value; ``truncated`` and each cut part's ``original_*_length``
    and ``original_*_sha256`` say what it was, so the dead letter can always be sent.
    """
    headers: list[Header] = [
        ("category", rejection.category.encode()),
        ("reason", rejection.bounded_reason.encode()),
        ("source_topic", topic.encode()),
        ("source_partition", str(partition).encode()),
        ("source_offset", str(offset).encode()),
    ]
    size = len(key or b"") + len(value or b"") + sum(len(n) + len(v) for n, v in headers)
    if size <= DEAD_LETTER_MAX_BYTES:
        return key, value, headers
    cut: list[bytes | None] = []
    for name, raw in (("key", key), ("value", value)):
        if raw is not None and len(raw) > DEAD_LETTER_KEPT_BYTES:
            headers.append((f"original_{name}_length", str(len(raw)).encode()))
            headers.append((f"original_{name}_sha256", hashlib.sha256(raw).hexdigest().encode()))
            raw = raw[:DEAD_LETTER_KEPT_BYTES]
        cut.append(raw)
    headers.append(("truncated", b"true"))
    return cut[0], cut[1], headers


_HASHES: dict[bytes, int] = {}
_HASHES_MAX = 50_000
_HASHED_KEY_MAX = 256


def partition_for_key(key: bytes, partition_count: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives ``key``.

    aiokafka's murmur2 is pure Python (~5 µs); keys recur (a conversation has dozens of
    events), so hashes of keys up to 256 bytes are memoised, up to 50k keys at a time
    (at most ~15 MB however hostile the keys).
    """
    hashed = _HASHES.get(key)
    if hashed is None:
        hashed = murmur2(key) & 0x7FFFFFFF
        if len(key) <= _HASHED_KEY_MAX:
            if len(_HASHES) >= _HASHES_MAX:
                _HASHES.clear()
            _HASHES[key] = hashed
    return hashed % partition_count


def time_window_rejection(settings: Settings, event: Event, now_ms: int) -> Rejection | None:
    """``out_of_range`` when the event's time is outside the accepted window:
    ``event_max_age_days`` before ``now_ms`` up to ``event_max_future_s`` after it."""
    t = event.occurred_at_ms
    earliest = now_ms - settings.event_max_age_days * 86_400_000
    latest = now_ms + settings.event_max_future_s * 1000
    if earliest <= t <= latest:
        return None
    side = "older than" if t < earliest else "further ahead than"
    limit = (
        f"{settings.event_max_age_days} days (STREAMPROC_EVENT_MAX_AGE_DAYS)"
        if t < earliest
        else f"{settings.event_max_future_s} s (STREAMPROC_EVENT_MAX_FUTURE_S)"
    )
    return Rejection(
        "out_of_range",
        f"{event.type}: occurred_at {event.occurred_at.isoformat()} is {side} the accepted "
        f"window of {limit} around the worker's clock",
    )


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
    now_ms: int | None = None,
) -> Event | Reroute | Rejection:
    """Parse a record and decide what to do with it: apply it here (the event), forward
    it to the re-route topic (a ``Reroute``), or dead-letter it (a ``Rejection``).

    Per-key state lives on the partition murmur2 gives the contract key, so a valid event
    with another key, no key, on another partition or on another inbound topic than its
    type's is forwarded to that partition of the re-route topic (co-partitioned with the
    state) and applied from there. A record on the re-route topic is never forwarded
    again: if it is not where it belongs either, it is dead-lettered ``misrouted``.
    An event time outside the accepted window (``time_window_rejection``; ``now_ms``
    defaults to the wall clock) is ``out_of_range``.
    """
    try:
        event = parse_event(value)
    except InvalidEvent as exc:
        return Rejection("invalid", exc.reason)
    out_of_range = time_window_rejection(
        settings, event, time.time_ns() // 1_000_000 if now_ms is None else now_ms
    )
    if out_of_range is not None:
        return out_of_range
    spec = EVENT_TYPES[event.type]
    expected_key = event.key.encode()
    expected_partition = partition_for_key(expected_key, partition_count)
    expected_topic = settings.topic_for_role(spec.topic)
    in_place = key == expected_key and partition == expected_partition
    if in_place and topic in (expected_topic, settings.topic_reroute):
        return event
    got = "none" if key is None else shown(key.decode(errors="replace"))
    if topic == settings.topic_reroute:
        return Rejection(
            "misrouted",
            f"on the re-route topic, {event.type} must be keyed by {spec.key_field} "
            f"{shown(event.key)} on partition {expected_partition} of {partition_count}; "
            f"got key {got} on partition {partition} (never forwarded twice)",
        )
    if topic != expected_topic:
        reason = "wrong_topic"
        detail = f"{event.type} belongs on topic {expected_topic}, arrived on {topic}"
    elif not key:
        reason = "no_key"
        detail = f"{event.type} arrived without a key; its {spec.key_field} is {shown(event.key)}"
    elif key != expected_key:
        reason = "wrong_key"
        detail = f"{event.type} must be keyed by {spec.key_field} {shown(event.key)}, got {got}"
    else:
        reason = "wrong_partition"
        detail = (
            f"key {shown(event.key)} belongs on partition {expected_partition} of "
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
