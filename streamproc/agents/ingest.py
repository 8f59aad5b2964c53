"""The ingest agents: every inbound record updates the state tables, is re-routed to the
partition of its key, or is dead-lettered."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, MutableMapping, Sequence
from typing import Any

import faust

from streamproc import fastpath
from streamproc.dedupe import Admission
from streamproc.exits import EXIT_APPLY_FAILED, EXIT_SEND_FAILED, exit_worker
from streamproc.intake import Rejection, Reroute, admit_record, count_once
from streamproc.retention import RetentionClock, sweep_partition
from streamproc.settings import Settings
from streamproc.state import BatchStores, Rules, Stores, apply_event
from streamproc.tables import PartitionView, Tables
from streamproc.tables.writer import PartitionWriter
from streamproc.writeback import WriteBack

log = logging.getLogger(__name__)


def register_ingest(app: faust.App, settings: Settings, tables: Tables) -> dict[str, Any]:
    """Declare one ingest agent per inbound topic and one for the re-route topic; returns
    them by topic name.

    All inbound topics and the re-route topic have the same partition count and the
    tables are co-partitioned with them, so partition p of every topic is processed by the
    same worker, which owns partition p of every table. ``apply_event`` is synchronous,
    so the agents' updates of a shared record never interleave.
    """
    deadletter = app.topic(
        settings.topic_deadletter,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    retention = RetentionClock(settings.retention_days * 86_400_000)
    rules = Rules(
        lateness_ms=settings.lateness_s * 1000,
        lock_max_ms=settings.lock_max_s * 1000,
        partitions=settings.events_partitions,
    )
    stores = tables.stores
    partition_count = settings.events_partitions
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
    reroute_topic = topics[settings.topic_reroute]

    def forward(message: Any, reroute: Reroute, reroutes: MutableMapping[bytes, bytes]) -> None:
        # To the partition of the re-route topic that owns the contract key, on Faust's
        # producer like the dead letters: Faust flushes it before it commits the source
        # offset, so a forward is never lost. A crash in between forwards it twice; the
        # second is a duplicate (event_id) like any re-delivery. The counter counts once.
        reroute_topic.send_soon(
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
        counter_key = f"{message.topic}/{message.partition}/{reroute.reason}".encode()
        reroutes[counter_key] = count_once(reroutes.get(counter_key), message.offset)
        log.debug(
            "re-routed %s/%s@%s to partition %s: %s",
            message.topic,
            message.partition,
            message.offset,
            reroute.partition,
            reroute.detail,
        )

    def reject(
        message: Any, rejection: Rejection, rejections: MutableMapping[bytes, bytes]
    ) -> None:
        # Buffered like the changelog writes: Faust flushes the producer before it commits
        # the source offset, so a dead letter is never lost. At-least-once: after a crash
        # the same record may be dead-lettered again (its source_topic/partition/offset
        # headers identify it); the counter counts it once.
        deadletter.send_soon(
            key=message.key,
            value=message.value,
            headers=[
                ("category", rejection.category.encode()),
                ("reason", rejection.reason.encode()),
                ("source_topic", message.topic.encode()),
                ("source_partition", str(message.partition).encode()),
                ("source_offset", str(message.offset).encode()),
            ],
        )
        counter_key = f"{message.topic}/{message.partition}/{rejection.category}".encode()
        rejections[counter_key] = count_once(rejections.get(counter_key), message.offset)
        log.debug(
            "dead-lettered %s/%s@%s: %s",
            message.topic,
            message.partition,
            message.offset,
            rejection.reason,
        )

    def process(
        message: Any,
        stores: Stores,
        rejections: MutableMapping[bytes, bytes],
        reroutes: MutableMapping[bytes, bytes],
        writer: PartitionWriter | None = None,
    ) -> None:
        outcome = admit_record(
            settings,
            message.topic,
            message.partition,
            message.key,
            message.value,
            partition_count,
        )
        if isinstance(outcome, Rejection):
            reject(message, outcome, rejections)
            return
        if isinstance(outcome, Reroute):
            forward(message, outcome, reroutes)
            return
        rerouted = message.topic == reroute_topic.get_topic_name()
        try:
            admission = apply_event(stores, outcome, rules, message.offset, rerouted)
        except Exception:
            # Never skip an event: Faust would ack it and move on. Stop the worker instead;
            # it resumes from the last commit and the (idempotent) update runs again.
            exit_worker(
                log,
                EXIT_APPLY_FAILED,
                "applying %s failed; exiting to reprocess it",
                outcome.event_id,
                exc_info=True,
            )
        if admission is Admission.LATE:
            reject(
                message,
                Rejection(
                    "late",
                    f"late: occurred_at {outcome.occurred_at.isoformat()} is more than "
                    f"{settings.lateness_s} s behind the latest presence change of "
                    f"{outcome.key!r}",
                ),
                rejections,
            )
        # DUPLICATE: already applied; its records were re-written unchanged.
        cutoff = retention.cutoff_if_due(message.partition, outcome.occurred_at_ms)
        if cutoff is not None:
            if isinstance(stores, BatchStores) and writer is not None:
                # The sweep scans the tables themselves: write the batch so far first, and
                # through the same writer, so that the changelog gets every write in order.
                stores.flush()
                writer.apply_local()
            sweep = sweep_partition(
                tables.partition_stores(message.partition, writer),
                message.partition,
                partition_count,
                cutoff,
            )
            if writer is not None:
                writer.apply_local()  # the rest of the batch reads what the sweep deleted
            retention.swept(message.partition, outcome.occurred_at_ms, sweep)
            log.info("retention: partition %s dropped %s keys", message.partition, sweep.dropped)

    def process_batch(records: Sequence[Any]) -> Awaitable[None]:
        # One partition's records of every inbound topic; one write per touched key
        # (fastpath: Faust's current event names the partition, so the local stores are
        # that partition's; PartitionWriter batches the changelog records).
        event, token = fastpath.handling(records[0])
        try:
            partition = records[0].partition
            writer = PartitionWriter(app, partition)
            stores = BatchStores.over(tables.partition_stores(partition, writer), rules)
            rejected = tables.rejections_by_partition
            rejections = WriteBack(PartitionView(rejected, partition, writer.writer(rejected)))
            rerouted = tables.reroutes_by_partition
            reroutes = WriteBack(PartitionView(rerouted, partition, writer.writer(rerouted)))
            for record in records:
                process(record, stores, rejections, reroutes, writer)
            stores.flush()
            rejections.flush()
            reroutes.flush()
            writer.apply_local()
        except Exception:
            # As for one event: never ack a batch that was not fully written. Exit; the
            # restarted worker reads the batch again (its updates are idempotent).
            exit_worker(
                log,
                EXIT_APPLY_FAILED,
                "applying a batch of partition %s failed; exiting to reprocess it",
                records[0].partition,
                exc_info=True,
            )
        finally:
            fastpath.done(token)
            del event
        return send_or_exit(writer, records)

    async def send_or_exit(writer: PartitionWriter, records: Sequence[Any]) -> None:
        try:
            await writer.send()
        except Exception:
            exit_worker(
                log,
                EXIT_SEND_FAILED,
                "sending the changelog of partition %s failed; exiting to reprocess it",
                records[0].partition,
                exc_info=True,
            )

    agents = {}
    for topic_name, topic in topics.items():

        async def ingest(stream: faust.StreamT[bytes]) -> None:
            # The per-message path (ingest_path=stream); with ingest_path=batch the agent
            # only subscribes the topic and fastpath hands its records over in batches.
            async for event in stream.events():
                process(
                    event.message,
                    stores,
                    tables.rejections_by_partition,
                    tables.reroutes_by_partition,
                )

        agents[topic_name] = app.agent(topic, name=f"ingest-{topic_name}", concurrency=1)(ingest)
    if settings.ingest_path == "batch":
        fastpath.register(app, settings.consumed_topics, process_batch)
    return agents
