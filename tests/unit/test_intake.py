"""Routing checks of one raw record: invalid, wrong topic, wrong key, wrong partition, accepted."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from streamproc.events import Event
from streamproc.intake import Rejection, admit_record, count_once, partition_for_key
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


def test_well_routed_event_is_admitted() -> None:
    outcome = admit_record(S, "inbox.locks", P, b"conv-1", RAW, 8)
    assert isinstance(outcome, Event)
    assert outcome.event_id == "e1"


@pytest.mark.parametrize(
    ("topic", "partition", "key", "value", "category", "reason_part"),
    [
        ("inbox.locks", P, b"conv-1", b"{", "invalid", "not JSON"),
        ("inbox.messages", P, b"conv-1", RAW, "misrouted", "belongs on topic inbox.locks"),
        ("inbox.locks", P, None, RAW, "misrouted", "keyed by conversation_id 'conv-1', got none"),
        ("inbox.locks", P, b"conv-2", RAW, "misrouted", "got 'conv-2'"),
        ("inbox.locks", (P + 1) % 8, b"conv-1", RAW, "misrouted", f"belongs on partition {P}"),
    ],
)
def test_rejections(
    topic: str, partition: int, key: bytes | None, value: bytes, category: str, reason_part: str
) -> None:
    outcome = admit_record(S, topic, partition, key, value, 8)
    assert isinstance(outcome, Rejection)
    assert outcome.category == category
    assert reason_part in outcome.reason


@pytest.mark.parametrize(
    ("offsets", "count"),
    [([0], 1), ([0, 1, 5], 3), ([0, 1, 1, 0], 2), ([3, 2, 7, 7], 2), ([], 0)],
)
def test_rejections_count_each_offset_once(offsets: list[int], count: int) -> None:
    counter = None
    for offset in offsets:
        counter = count_once(counter, offset)
    assert (orjson.loads(counter)["n"] if counter else 0) == count
