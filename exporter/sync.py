"""Keeps the read model up to date: consumes the tables' changelogs into SQLite in batches."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from exporter.readmodel import STATE_TABLES, ReadModel
from streamproc.changelog import changelog_topic
from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.topics import partition_counts

Offsets = dict[tuple[str, int], int]
LATE = "the read model could not reach the changelogs' end in time"


class FollowerStalled(TimeoutError):
    """The changelog consumer read nothing for a while although partitions are behind."""


class ChangelogFollower:
    """A consumer of every state table's changelog, resuming where the read model is."""

    def __init__(self, settings: Settings, model: ReadModel) -> None:
        self.settings = settings
        self.model = model
        self.topic_table = {changelog_topic(settings, t): t for t in STATE_TABLES}
        self.consumer: AIOKafkaConsumer | None = None
        self.partitions: list[TopicPartition] = []

    async def start(self) -> None:
        """Connect and seek every changelog partition to the model's next offset."""
        counts = await partition_counts(self.settings, list(self.topic_table))
        self.partitions = [
            TopicPartition(t, p) for t, n in sorted(counts.items()) for p in range(n)
        ]
        consumer = AIOKafkaConsumer(
            **client_kwargs(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await consumer.start()
        self.consumer = consumer
        if not self.partitions:
            return
        consumer.assign(self.partitions)
        done = self.model.next_offsets()
        for tp in self.partitions:
            offset = done.get((tp.topic, tp.partition))
            if offset is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)

    async def stop(self) -> None:
        """Disconnect. Closing a consumer whose broker went away can surface the
        cancellation of its internal fetch task; that is not ours to propagate."""
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await consumer.stop()

    async def end_offsets(self) -> Offsets:
        """The changelogs' current end offsets (what a snapshot taken now must reach)."""
        assert self.consumer is not None  # noqa: S101 - start() first
        if not self.partitions:
            return {}
        ends = await self.consumer.end_offsets(self.partitions)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def catch_up(
        self, targets: Offsets, deadline: float | None = None, stall_s: float | None = None
    ) -> int:
        """Apply changelog records until every partition reaches ``targets``; returns the
        number of records read. Each batch keeps only the latest value of each key.
        Raises TimeoutError past ``deadline`` (a ``time.monotonic()`` value), and
        FollowerStalled when this follower does not follow a partition of ``targets`` or
        nothing was read for ``stall_s`` (whatever call it hangs in) while behind."""
        assert self.consumer is not None  # noqa: S101 - start() first
        followed = {(tp.topic, tp.partition) for tp in self.partitions}
        unfollowed = sorted(key for key, end in targets.items() if end > 0 and key not in followed)
        if unfollowed:  # e.g. started while a restarting broker listed no topics
            raise FollowerStalled(
                f"the changelog consumer does not follow {len(unfollowed)} partitions, "
                f"e.g. {unfollowed[0][0]}/{unfollowed[0][1]}"
            )
        read = 0
        progressed = time.monotonic()
        while True:
            now = time.monotonic()
            if deadline is not None and now > deadline:
                raise TimeoutError(LATE)
            limits = [t for t in (deadline, stall_s and progressed + stall_s) if t is not None]
            try:
                async with asyncio.timeout(max(0.0, min(limits) - now) if limits else None):
                    behind, batch = await self._fetch(targets)
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(LATE) from None
                raise FollowerStalled(
                    f"the changelog consumer read nothing for {stall_s:.0f} s "
                    "although the read model is behind"
                ) from None
            if not behind:
                return read
            latest: dict[str, dict[bytes, bytes | None]] = defaultdict(dict)
            reached: dict[str, Offsets] = defaultdict(dict)
            for tp, records in batch.items():
                if not records:
                    continue
                table = self.topic_table[tp.topic]
                for record in records:
                    latest[table][record.key] = record.value
                reached[table][(tp.topic, tp.partition)] = records[-1].offset + 1
                read += len(records)
            for table, values in latest.items():
                self.model.apply_batch(table, values, reached[table])
            if latest:
                progressed = time.monotonic()

    async def _fetch(self, targets: Offsets) -> tuple[list[TopicPartition], dict[Any, Any]]:
        """The partitions still behind ``targets`` and one fetch from them."""
        assert self.consumer is not None  # noqa: S101 - start() first
        behind = [
            tp
            for tp in self.partitions
            if await self.consumer.position(tp) < targets.get((tp.topic, tp.partition), 0)
        ]
        if not behind:
            return behind, {}
        return behind, await self.consumer.getmany(*behind, timeout_ms=500, max_records=20_000)
