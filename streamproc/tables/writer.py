"""Writes one batch's table changes: the local store per key, one changelog batch per table."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import faust
from aiokafka.producer.message_accumulator import BatchBuilder
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP
from rocksdict import WriteBatch

from streamproc.exits import EXIT_SEND_FAILED, exit_worker
from streamproc.live import prom

log = logging.getLogger(__name__)

BATCH_BYTES = 512 * 1024
"""Bytes per changelog record batch: far fewer produce calls than Faust's per-write
sends, well below the broker's default max.message.bytes (1 MiB)."""

Write = Callable[[bytes, bytes | None], None]


def partition_db(table: Any, partition: int) -> Any | None:
    """The local RocksDB database of one partition of ``table`` (None: another store,
    e.g. ``memory://``). The RocksDB store's private members used here are checked at
    start-up (streamproc.faust_fixes.PRIVATE_MEMBERS): never a silent slow path."""
    store: Any = table.data
    if isinstance(store, RocksDBStore):
        return store._db_for_partition(partition)
    return None


class PartitionWriter:
    """Table writes of one partition's batch, bypassing Faust's per-write changelog send.

    ``table[key] = value`` in Faust costs a ``FutureMessage``, a trip through the producer
    buffer, one aiokafka ``send`` and a RocksDB write of the persisted offset, per write.
    Here each write goes to the table's local store at once, and its changelog record
    into an aiokafka record batch for the partition; :meth:`send` submits the batches to
    Faust's own producer, so the flush Faust runs before every offset commit covers
    them. When a batch is delivered, the table's persisted changelog offset is advanced
    once (what Faust's ``_on_changelog_sent`` does per record); a batch that fails stops
    the process (exit 70) before any offset past it can be committed.

    Must be used while Faust's ``current_event()`` names ``partition``
    (streamproc.fastpath.handling): the RocksDB store writes to that partition's database.
    """

    def __init__(self, app: faust.App, partition: int) -> None:
        self.app = app
        self.partition = partition
        self.builders: dict[Any, list[BatchBuilder]] = {}
        self.local: dict[Any, tuple[Any, Any]] = {}  # table -> (its partition db, batch)
        self.timestamp_ms = int(time.time() * 1000)  # what aiokafka stamps a record with

    def writer(self, table: Any) -> Write:
        """A function writing ``key → value`` (``None``: delete) to ``table``: the local
        RocksDB write is held in a write batch until :meth:`apply_local`."""
        store = table.data
        builders = self.builders.setdefault(table, [])
        now_ms = self.timestamp_ms
        local_batch = self._local_batch

        def write(key: bytes, value: bytes | None) -> None:
            local = local_batch(table)
            if local is None:  # not RocksDB: write through the store
                if value is None:
                    del store[key]
                else:
                    store[key] = value
            elif value is None:
                local.delete(key)
            else:
                local.put(key, value)
            if not builders or builders[-1].append(timestamp=now_ms, key=key, value=value) is None:
                builder = BatchBuilder(BATCH_BYTES, 0)  # 0: uncompressed, as Faust produces
                builders.append(builder)
                if builder.append(timestamp=now_ms, key=key, value=value) is None:
                    raise ValueError(f"a {len(value or b'')}-byte record exceeds a batch")

        return write

    def _local_batch(self, table: Any) -> Any | None:
        held = self.local.get(table)
        if held is not None:
            return held[1]
        db = partition_db(table, self.partition)
        if db is None:
            return None
        batch = WriteBatch(raw_mode=True)
        self.local[table] = (db, batch)
        return batch

    def apply_local(self) -> None:
        """Write the held local writes to the partition's databases (one RocksDB write
        batch per table); reads from the databases see them from now on."""
        for table, (db, batch) in list(self.local.items()):
            db.write(batch)
            del self.local[table]

    async def send(self) -> None:
        """Submit the batches to the producer (delivery is awaited by Faust's flush)."""
        producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
        for table, builders in self.builders.items():
            topic = table.changelog_topic.get_topic_name()
            for builder in builders:
                count = builder.record_count()
                if not count:
                    continue
                prom.CHANGELOG_BYTES.labels(table.name).inc(builder.size())
                delivered = await producer.send_batch(builder, topic, partition=self.partition)
                delivered.add_done_callback(functools.partial(_on_delivered, table, count))


def _on_delivered(table: Any, count: int, delivered: Any) -> None:
    if delivered.cancelled() or delivered.exception() is not None:
        reason = "cancelled" if delivered.cancelled() else repr(delivered.exception())
        exit_worker(
            log,
            EXIT_SEND_FAILED,
            "a changelog batch of %s failed for good (%s): exiting so that no offset "
            "past it is committed; a restart reprocesses from the last commit",
            table.name,
            reason,
        )
    metadata = delivered.result()
    if metadata is not None:
        last = TP(metadata.topic, metadata.partition)
        table.data.set_persisted_offset(last, metadata.offset + count - 1)
