"""Reads topics to their current end: table changelogs folded into dicts, and plain topics."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.topics import partition_counts


def changelog_topic(settings: Settings, table_name: str) -> str:
    """Faust's changelog topic of a table of this app."""
    return f"{settings.app_id}-{table_name}-changelog"


async def read_to_end(settings: Settings, topic: str) -> list[Any]:
    """Every record of ``topic`` from the beginning up to its end offsets at call time.

    Returns aiokafka ``ConsumerRecord`` objects in partition order, offset order within
    a partition; an absent topic reads as empty.
    """
    count = (await partition_counts(settings, [topic])).get(topic, 0)
    if not count:
        return []
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        partitions = list(range(count))
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        end_offsets = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        records: dict[int, list[Any]] = {p: [] for p in partitions}
        remaining = {tp for tp in tps if end_offsets[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, messages in batch.items():
                records[tp.partition].extend(m for m in messages if m.offset < end_offsets[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= end_offsets[tp]:
                    remaining.discard(tp)
        return [r for p in partitions for r in records[p]]
    finally:
        await consumer.stop()


async def read_table(settings: Settings, table_name: str) -> dict[bytes, bytes]:
    """The latest value of every live key of a table, folded from its changelog."""
    state: dict[bytes, bytes] = {}
    for record in await read_to_end(settings, changelog_topic(settings, table_name)):
        if record.value is None:
            state.pop(record.key, None)
        else:
            state[record.key] = record.value
    return state
