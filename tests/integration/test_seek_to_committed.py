"""Fix 7 on the real broker: a partition committed at offset 0 is sought back to 0."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from streamproc.faust_fixes import seek_to_committed_including_zero
from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.topics import ensure_topics

pytestmark = pytest.mark.integration

RECORDS = 5


async def fetched_past_a_commit_at_zero(
    settings: Settings,
) -> tuple[AIOKafkaConsumer, TopicPartition]:
    """A group consumer whose partition is committed at 0 and whose position is past
    every record (fetched, as during a rebalance, and never processed)."""
    await ensure_topics(settings)
    tp = TopicPartition(settings.topic_presence, 0)
    producer = AIOKafkaProducer(**client_kwargs(settings))
    await producer.start()
    try:
        for i in range(RECORDS):
            await producer.send_and_wait(tp.topic, b"x", key=b"k%d" % i, partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        group_id=f"{settings.app_id}-seek",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    consumer.assign([tp])
    await consumer.commit({tp: OffsetAndMetadata(0, "")})
    fetched = 0
    while fetched < RECORDS:
        batch = await consumer.getmany(tp, timeout_ms=10_000)
        assert batch, "no records fetched within 10 s"
        fetched += sum(len(records) for records in batch.values())
    assert await consumer.position(tp) == RECORDS
    return consumer, tp


def test_seek_to_committed_moves_a_partition_committed_at_zero_back_to_zero(
    isolated: Settings,
) -> None:
    async def run() -> tuple[int, int, dict[TopicPartition, int | None]]:
        consumer, tp = await fetched_past_a_commit_at_zero(isolated)
        try:
            await consumer.seek_to_committed()  # aiokafka's own: the defect fix 7 mends
            upstream = await consumer.position(tp)
            committed = await seek_to_committed_including_zero(consumer)
            return upstream, await consumer.position(tp), committed
        finally:
            await consumer.stop()

    upstream, fixed, committed = asyncio.run(run())
    assert upstream == RECORDS, "aiokafka now seeks to 0 itself: fix 7 can go"
    assert committed == {TopicPartition(isolated.topic_presence, 0): 0}
    assert fixed == 0
