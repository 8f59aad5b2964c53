"""The routing decision for one raw record: apply it, re-route it, or dead-letter it."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from streamproc.events import Event
from streamproc.intake import (
    REROUTE_REASONS,
    Rejection,
    Reroute,
    admit_record,
    count_once,
    partition_for_key,
)
from streamproc.settings import Settings

S = Settings(event_max_age_days=36_500)  # the fixtures are dated 2026-11
LOCK = {
    "event_id": "e1",
    "type": "conversation.locked",
    "occurred_at": "2026-11-20T14:03:11Z",
    "conversation_id": "conv-1",
    "agent_id": "agent-1",
    "team_id": None,
}
RAW = orjson.dumps(LOCK)
P = partition_for_key(b"conv-1", 8)


@pytest.mark.parametrize("key", [b"conv-1", b"agent-7", b"", b"\xff\x00x" * 20])
def test_partition_matches_the_default_partitioner(key: bytes) -> None:
    assert partition_for_key(key, 8) == DefaultPartitioner()(key, list(range(8)), list(range(8)))


Q = (P + 1) % 8
"""A partition that is not conv-1's."""
APPLY, REROUTE, DEAD = "apply", "reroute", "dead-letter"


@pytest.mark.parametrize(
    ("topic", "partition", "key", "value", "decision", "why"),
    [
        # Where the contract puts it: applied here.
        ("inbox.locks", P, b"conv-1", RAW, APPLY, ""),
        # A valid event anywhere else: forwarded to conv-1's partition of the re-route topic.
        ("inbox.locks", P, b"conv-2", RAW, REROUTE, "wrong_key"),
        ("inbox.locks", Q, b"conv-2", RAW, REROUTE, "wrong_key"),
        ("inbox.locks", P, b"e1", RAW, REROUTE, "wrong_key"),
        ("inbox.locks", P, None, RAW, REROUTE, "no_key"),
        ("inbox.locks", Q, b"", RAW, REROUTE, "no_key"),
        ("inbox.locks", Q, b"conv-1", RAW, REROUTE, "wrong_partition"),
        ("inbox.messages", P, b"conv-1", RAW, REROUTE, "wrong_topic"),
        ("inbox.presence", Q, None, RAW, REROUTE, "wrong_topic"),
        # On the re-route topic: applied where it belongs (any type), never forwarded again.
        ("inbox.reroute", P, b"conv-1", RAW, APPLY, ""),
        ("inbox.reroute", Q, b"conv-1", RAW, DEAD, "misrouted"),
        ("inbox.reroute", P, None, RAW, DEAD, "misrouted"),
        ("inbox.reroute", P, b"conv-2", RAW, DEAD, "misrouted"),
        # Not a valid event: dead-lettered wherever it is.
        ("inbox.locks", P, b"conv-1", b"{", DEAD, "invalid"),
        ("inbox.locks", Q, None, orjson.dumps({**LOCK, "type": "nope"}), DEAD, "invalid"),
        ("inbox.messages", P, b"conv-1", orjson.dumps({**LOCK, "v": 2}), DEAD, "invalid"),
        ("inbox.reroute", P, b"conv-1", None, DEAD, "invalid"),
    ],
)
def test_routing_decision(
    topic: str, partition: int, key: bytes | None, value: bytes | None, decision: str, why: str
) -> None:
    outcome = admit_record(S, topic, partition, key, value, 8)
    if decision == APPLY:
        assert isinstance(outcome, Event)
        assert outcome.event_id == "e1"
    elif decision == REROUTE:
        assert isinstance(outcome, Reroute)
        assert (outcome.reason, outcome.key, outcome.partition) == (why, b"conv-1", P)
        assert outcome.reason in REROUTE_REASONS
        assert outcome.event.event_id == "e1"
        assert outcome.detail and "\n" not in outcome.detail
    else:
        assert isinstance(outcome, Rejection)
        assert outcome.category == why
        assert outcome.reason and "\n" not in outcome.reason


@pytest.mark.parametrize(
    ("topic", "partition", "key", "detail_part"),
    [
        ("inbox.messages", P, b"conv-1", "belongs on topic inbox.locks, arrived on inbox.messages"),
        ("inbox.locks", P, None, "without a key; its conversation_id is 'conv-1'"),
        ("inbox.locks", P, b"conv-2", "got 'conv-2'"),
        ("inbox.locks", Q, b"conv-1", f"belongs on partition {P} of 8 (murmur2), arrived on {Q}"),
    ],
)
def test_reroute_detail_says_where_it_belongs(
    topic: str, partition: int, key: bytes | None, detail_part: str
) -> None:
    outcome = admit_record(S, topic, partition, key, RAW, 8)
    assert isinstance(outcome, Reroute)
    assert detail_part in outcome.detail


def test_misrouted_on_the_reroute_topic_says_it_is_not_forwarded_again() -> None:
    outcome = admit_record(S, "inbox.reroute", Q, b"conv-1", RAW, 8)
    assert isinstance(outcome, Rejection)
    assert f"partition {P} of 8" in outcome.reason
    assert "never forwarded twice" in outcome.reason


@pytest.mark.parametrize(
    ("offsets", "count"),
    [([0], 1), ([0, 1, 5], 3), ([0, 1, 1, 0], 2), ([3, 2, 7, 7], 2), ([], 0)],
)
def test_rejections_count_each_offset_once(offsets: list[int], count: int) -> None:
    counter = None
    for offset in offsets:
        counter = count_once(counter, offset)
    assert (orjson.loads(counter)["n"] if counter else 0) == count
