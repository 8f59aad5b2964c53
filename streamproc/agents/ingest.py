"""The ingest agent: every inbound record updates the state tables or is dead-lettered."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import faust

from streamproc import fastpath
from streamproc.events import shown
from streamproc.exits import EXIT_APPLY_FAILED, EXIT_SEND_FAILED, exit_worker
from streamproc.intake import Rejection, Reroute, admit_record, count_once, dead_letter
from streamproc.live import prom
from streamproc.metrics import Admission
from streamproc.retention import RetentionClock, sweep_partition
from streamproc.settings import Settings
from streamproc.state import BatchStores, RecordTooLarge, Rules, apply_event
from streamproc.tables import PartitionView, Tables
from streamproc.tables.writer import PartitionWriter
from streamproc.writeback import WriteBack

log = logging.getLogger(__name__)

Outbox = list[Callable[[], None]]
"""Sends (dead letters, forwards) held until a batch's state is settled, so a batch that
is re-run record by record sends each once."""


class Unappliable(Exception):
    """A record whose admission or update failed (not the stores underneath)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class StoreFailed(Exception):
    """Writing to the local stores failed: the worker must stop, no record is to blame."""


def unprocessable(exc: Exception) -> Rejection:
    """The dead-letter category and reason of an event whose update failed."""
    if isinstance(exc, Unappliable):
        exc = exc.cause
    if isinstance(exc, RecordTooLarge):
        return Rejection("too_large", str(exc))
    return Rejection("unprocessable", f"applying it failed: {type(exc).__name__}: {exc}")


class BatchIngest:
    """The entry point of every inbound record: ``BatchIngest(...)(records)``.

    The consumer's fetch loop (streamproc.fastpath) calls it with one fetch's records of
    one partition number, across the co-partitioned inbound topics and the re-route
    topic (aiokafka ``ConsumerRecord``s: topic, partition, offset, key, value). For each
    record, in order (:meth:`process`): admit it (parse and routing checks,
    streamproc.intake), then apply it to the batch's write-back stores
    (``state.apply_event``), forward it to the re-route topic, or dead-letter it. Then the
    batch's state is written once per touched key (``BatchStores.flush``,
    ``PartitionWriter``), the held sends (dead letters, forwards) go out, and the
    returned awaitable submits the changelog batches, before the fetch loop acks the
    offsets. A batch with a record whose update fails runs again record by record and
    that record is dead-lettered; a failing store stops the worker.
    """

    def __init__(
        self, app: faust.App, settings: Settings, tables: Tables, reroute_topic: Any
    ) -> None:
        self.app = app
        self.settings = settings
        self.tables = tables
        self.reroute_topic = reroute_topic
        self.deadletter = app.topic(
            settings.topic_deadletter,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        self.retention = RetentionClock(settings.retention_days * 86_400_000)
        self.rules = Rules(
            lateness_ms=settings.lateness_s * 1000,
            lock_max_ms=settings.lock_max_s * 1000,
            partitions=settings.events_partitions,
            max_record_bytes=settings.max_record_bytes,
        )
        self.partition_count = settings.events_partitions

    def __call__(self, records: Sequence[Any]) -> Awaitable[None]:
        """Apply one partition's batch; returns the changelog sends to await."""
        # Faust's current event names the partition, so the local stores are that
        # partition's; PartitionWriter batches the changelog records.
        event, token = fastpath.handling(records[0])
        partition = records[0].partition
        started = time.perf_counter()
        writer = PartitionWriter(self.app, partition)
        try:
            try:
                outbox = self.run_batch(records, writer, partition)
            except Unappliable:
                # A hostile record (or a bug it triggers) must not stop the partition: the
                # batch runs again record by record and the failing one is dead-lettered.
                log.warning(
                    "a batch of partition %s failed; applying its %s records one by one",
                    partition, len(records), exc_info=True,
                )  # fmt: skip
                outbox = self.run_isolated(records, writer, partition)
            for send in outbox:
                send()
        except Exception:
            # Writing the batch failed (the local store, a sweep): never ack a batch that was
            # not fully written. Exit; the restarted worker reads it again.
            exit_worker(
                log,
                EXIT_APPLY_FAILED,
                "writing a batch of partition %s failed; exiting to reprocess it",
                partition,
                exc_info=True,
            )
        finally:
            fastpath.done(token)
            del event
            prom.BATCH_APPLY_SECONDS.observe(time.perf_counter() - started)
        return self.send_or_exit(writer, partition)

    def run_batch(self, records: Sequence[Any], writer: PartitionWriter, partition: int) -> Outbox:
        """Apply ``records`` as one batch (one write per touched key); returns the sends
        (dead letters, forwards) to make. Raises Unappliable if any record fails: nothing
        is written then (unless a retention sweep ran, which writes the batch so far, as a
        restart would)."""
        tables = self.tables
        stores = BatchStores.over(tables.partition_stores(partition, writer), self.rules)
        rejections = self.counters(tables.rejections_by_partition, partition, writer)
        reroutes = self.counters(tables.reroutes_by_partition, partition, writer)
        outbox: Outbox = []
        admitted: Counter[tuple[str, str]] = Counter()
        try:
            for record in records:
                self.process(record, stores, rejections, reroutes, writer, outbox, admitted)
            stores.check_sizes(self.settings.max_record_bytes)
        except StoreFailed:
            raise
        except Exception as exc:
            raise Unappliable(exc) from exc
        stores.flush()
        rejections.flush()
        reroutes.flush()
        writer.apply_local()
        if admitted:
            outbox.append(lambda: prom.note_admissions(admitted))
        return outbox

    def run_isolated(
        self, records: Sequence[Any], writer: PartitionWriter, partition: int
    ) -> Outbox:
        """Apply ``records`` one at a time (each a batch of one) after their batch failed:
        a record whose update fails (or would write a record over the size bound) is
        dead-lettered instead, with nothing of it written; every other record is applied."""
        outbox: Outbox = []
        for record in records:
            try:
                outbox += self.run_batch([record], writer, partition)
            except Unappliable as exc:
                rejection = unprocessable(exc)
                log.warning(
                    "%s/%s@%s dead-lettered %s: %s",
                    record.topic, record.partition, record.offset, rejection.category,
                    rejection.bounded_reason,
                )  # fmt: skip
                rejected = self.tables.rejections_by_partition
                rejections = self.counters(rejected, partition, writer)
                self.reject(record, rejection, rejections, outbox)
                rejections.flush()
                writer.apply_local()
        return outbox

    @staticmethod
    def counters(table: Any, partition: int, writer: PartitionWriter) -> WriteBack:
        """A counter table's partition, written once per batch through ``writer``."""
        return WriteBack(PartitionView(table, partition, writer.writer(table)))

    def process(
        self,
        message: Any,
        stores: BatchStores,
        rejections: MutableMapping[bytes, bytes],
        reroutes: MutableMapping[bytes, bytes],
        writer: PartitionWriter,
        outbox: Outbox,
        admitted: Counter[tuple[str, str]],
    ) -> None:
        """Admit one record and apply, forward or dead-letter it (``admitted`` counts the
        applied and duplicate events by topic, for the metrics once the batch is done)."""
        settings = self.settings
        outcome = admit_record(
            settings,
            message.topic,
            message.partition,
            message.key,
            message.value,
            self.partition_count,
        )
        if isinstance(outcome, Reroute) and len(message.value) > settings.max_record_bytes:
            # A forward this large could not be sent (and its record not be written).
            outcome = Rejection(
                "too_large",
                f"{len(message.value):,} bytes: over the record bound "
                f"{settings.max_record_bytes:,} (STREAMPROC_MAX_RECORD_BYTES), not re-routed",
            )
        if isinstance(outcome, Rejection):
            self.reject(message, outcome, rejections, outbox)
            return
        if isinstance(outcome, Reroute):
            self.forward(message, outcome, reroutes, outbox)
            return
        rerouted = message.topic == settings.topic_reroute
        admission = apply_event(stores, outcome, self.rules, message.offset, rerouted)
        if admission is Admission.TOO_LARGE:
            self.reject(
                message,
                Rejection(
                    "too_large",
                    f"applying it would grow conversation {shown(outcome.key)} past the "
                    f"{settings.max_record_bytes:,}-byte record bound "
                    "(STREAMPROC_MAX_RECORD_BYTES)",
                ),
                rejections,
                outbox,
            )
            return
        if admission is Admission.LATE:
            self.reject(
                message,
                Rejection(
                    "late",
                    f"late: occurred_at {outcome.occurred_at.isoformat()} is more than "
                    f"{settings.lateness_s} s behind the latest presence change of "
                    f"{shown(outcome.key)}",
                ),
                rejections,
                outbox,
            )
        # DUPLICATE: already applied; its records were re-written unchanged.
        admitted[message.topic, admission.value] += 1
        cutoff = self.retention.cutoff_if_due(message.partition, outcome.occurred_at_ms)
        if cutoff is not None:
            stores.check_sizes(settings.max_record_bytes)  # before the sweep writes them
            try:
                self.sweep(message, cutoff, stores, writer, outcome.occurred_at_ms)
            except Exception as exc:
                raise StoreFailed(f"retention sweep of partition {message.partition}") from exc

    def sweep(
        self,
        message: Any,
        cutoff: int,
        stores: BatchStores,
        writer: PartitionWriter,
        occurred_at_ms: int,
    ) -> None:
        """Run the partition's retention sweep in the middle of a batch."""
        # The sweep scans the tables themselves: write the batch so far first, and
        # through the same writer, so that the changelog gets every write in order.
        stores.flush()
        writer.apply_local()
        swept = sweep_partition(
            self.tables.partition_stores(message.partition, writer),
            message.partition,
            self.partition_count,
            cutoff,
        )
        writer.apply_local()  # the rest of the batch reads what the sweep deleted
        self.retention.swept(message.partition, occurred_at_ms, swept)
        log.info("retention: partition %s dropped %s keys", message.partition, swept.dropped)

    def forward(
        self,
        message: Any,
        reroute: Reroute,
        reroutes: MutableMapping[bytes, bytes],
        outbox: Outbox,
    ) -> None:
        """Count a re-route and hold its forward to the re-route topic."""
        # To the partition of the re-route topic that owns the contract key, on Faust's
        # producer like the dead letters: Faust flushes it before it commits the source
        # offset, so a forward is never lost. A crash in between forwards it twice; the
        # second is a duplicate (event_id) like any re-delivery. The counter counts once.
        counter_key = f"{message.topic}/{message.partition}/{reroute.reason}".encode()
        reroutes[counter_key] = count_once(reroutes.get(counter_key), message.offset)

        def send() -> None:
            prom.note_event(message.topic, "rerouted", reroute.reason)
            self.reroute_topic.send_soon(
                key=reroute.key,
                value=message.value,
                partition=reroute.partition,
                headers=[
                    ("reason", reroute.reason.encode()),
                    ("source_topic", message.topic.encode()),
                    ("source_partition", str(message.partition).encode()),
                    ("source_offset", str(message.offset).encode()),
                ],
            )
            log.debug(
                "re-routed %s/%s@%s to partition %s: %s",
                message.topic, message.partition, message.offset, reroute.partition,
                reroute.detail,
            )  # fmt: skip

        outbox.append(send)

    def reject(
        self,
        message: Any,
        rejection: Rejection,
        rejections: MutableMapping[bytes, bytes],
        outbox: Outbox,
    ) -> None:
        """Count a rejection and hold its dead letter."""
        # Counted once per offset (count_once). The dead letter itself is sent after the
        # batch's state is settled (``outbox``).
        counter_key = f"{message.topic}/{message.partition}/{rejection.category}".encode()
        rejections[counter_key] = count_once(rejections.get(counter_key), message.offset)
        outbox.append(lambda: self.send_dead_letter(message, rejection))

    def send_dead_letter(self, message: Any, rejection: Rejection) -> None:
        """Send ``message`` to the dead-letter topic with ``rejection`` in its headers."""
        # Buffered like the changelog writes: Faust flushes the producer before it commits
        # the source offset, so a dead letter is never lost. At-least-once: after a crash
        # the same record may be dead-lettered again (its source_topic/partition/offset
        # headers identify it); the counter counts it once.
        key, value, headers = dead_letter(
            rejection, message.topic, message.partition, message.offset, message.key,
            message.value,
        )  # fmt: skip
        self.deadletter.send_soon(key=key, value=value, headers=headers)
        prom.note_event(message.topic, "dead_lettered", rejection.category)
        log.debug(
            "dead-lettered %s/%s@%s: %s",
            message.topic,
            message.partition,
            message.offset,
            rejection.bounded_reason,
        )

    async def send_or_exit(self, writer: PartitionWriter, partition: int) -> None:
        """Submit the batch's changelog records; a failure stops the worker (exit 70)."""
        try:
            await writer.send()
        except Exception:
            exit_worker(
                log,
                EXIT_SEND_FAILED,
                "sending the changelog of partition %s failed; exiting to reprocess it",
                partition,
                exc_info=True,
            )


def register_ingest(app: faust.App, settings: Settings, tables: Tables) -> BatchIngest:
    """Declare one ingest agent per inbound topic and one for the re-route topic, and
    register :class:`BatchIngest` as the handler of their records; returns it.

    All inbound topics and the re-route topic have the same partition count and the
    tables are co-partitioned with them, so partition p of every topic is processed by the
    same worker, which owns partition p of every table. The handler is synchronous, so
    updates of a shared record never interleave.
    """
    topics = {
        name: app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.events_partitions,
        )
        for name in settings.consumed_topics
    }
    ingest = BatchIngest(app, settings, tables, topics[settings.topic_reroute])
    for topic_name, topic in topics.items():

        async def subscribe(stream: faust.StreamT[bytes]) -> None:
            # The agent subscribes the topic (Faust's consumer group, co-partitioned
            # assignment, commits); the fetch loop hands its records to BatchIngest in
            # batches, so Faust never delivers one here. Were it to, the record would be
            # a batch of one: there is one path.
            async for event in stream.events():
                await ingest([event.message])

        app.agent(topic, name=f"ingest-{topic_name}", concurrency=1)(subscribe)
    fastpath.register(app, settings.consumed_topics, ingest)
    return ingest
