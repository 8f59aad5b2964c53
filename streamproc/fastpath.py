"""Batch ingest for Faust 0.15: a partition's fetched records go to one synchronous handler.

Faust delivers every record through its conductor, a per-message ``Event``, the stream's
queue and future, sensors and an ack: ~250 µs of CPU per record on this machine, whatever
the agent does. For the topics registered here, the fetch loop of streamproc's consumer
(:class:`BatchFetch`, put in place by streamproc.transport) hands each fetch's records
of one partition number (across the co-partitioned topics) straight to a handler and
then acks the batch's offsets in Faust's own bookkeeping, so commits, the
commit-before-flush order (streamproc.faust_fixes), rebalances and recovery work as for
any agent. The tables' changelog records that Faust's recovery reads are applied one
fetch at a time too (streamproc.tables.recovery); records of other topics take Faust's
normal path.

The handler runs synchronously (no ``await``), so a rebalance can never interleave with
half a batch; while it runs, Faust's ``current_event()`` names the batch's partition, so
table reads and writes (``table[key] = value``: local store and changelog) go to that
partition exactly as they would from an agent.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.types import TP
from mode import Service
from mode.utils.futures import notify

from streamproc.tables.recovery import apply_recovered, recovery_for_batches

BatchHandler = Callable[[Sequence[Any]], Awaitable[None] | None]
"""Called with the fetched records of one partition number across the registered topics
(aiokafka ``ConsumerRecord``s: topic, partition, offset, key, value, headers), each
topic's in offset order. Runs synchronously; it may return an awaitable (its produce
calls) that is awaited before the records are acked."""

_HANDLERS = "_streamproc_batch_handlers"


def register(app: faust.App, topics: Iterable[str], handler: BatchHandler) -> None:
    """Send the records of ``topics`` to ``handler``, batched by partition number (the
    topics must be co-partitioned and subscribed by agents or channels of ``app``)."""
    handlers: dict[str, BatchHandler] = app.__dict__.setdefault(_HANDLERS, {})
    for topic in topics:
        handlers[topic] = handler


class PartitionEvent:
    """What Faust's ``current_event()`` returns while a batch of one partition is handled:
    tables only look at ``event.message.topic`` and ``event.message.partition``."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, record: Any) -> None:
        self.message = record


def handling(record: Any) -> tuple[PartitionEvent, Any]:
    """Make ``record``'s partition the current one; returns the event (keep it alive) and
    the token for :func:`done`."""
    event = PartitionEvent(record)
    return event, _current_event.set(weakref.ref(event))  # type: ignore[arg-type]


def done(token: Any) -> None:
    """Undo :func:`handling`."""
    _current_event.reset(token)


class BatchInFlight:
    """Stands in Faust's set of unacked messages while a batch is handled and its produce
    calls are awaited, so that a rebalance (``Consumer.wait_empty``) waits for the batch
    before it flushes the producer and gives the partition away: no changelog write of
    the batch can land after the new owner's."""

    __slots__ = ("__weakref__", "acked", "partition", "refcount")

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.refcount = 1
        self.acked = False

    def __repr__(self) -> str:
        return f"<batch of partition {self.partition} in flight>"


def _unread(
    consumer: Consumer, tp: TP, records: Sequence[Any]
) -> tuple[list[Any], list[tuple[int, int]]]:
    """The records not yet read (Faust's read-offset rule) and the offset gaps among them."""
    read_offset = consumer._read_offset[tp]
    fresh = []
    gaps = []
    for record in records:
        offset = record.offset
        if read_offset is None or offset >= read_offset:
            if read_offset and offset - read_offset > 1:
                gaps.append((read_offset + 1, offset))
            fresh.append(record)
            read_offset = offset
    return fresh, gaps


def _ack(consumer: Consumer, tp: TP, records: Sequence[Any]) -> None:
    """``Consumer.ack`` for a whole batch: the offsets become committable."""
    committed = consumer._committed_offset[tp]
    acked_index = consumer._acked_index[tp]
    acked = consumer._acked[tp]
    count = 0
    for record in records:
        offset = record.offset
        if (committed is None or offset >= committed) and offset not in acked_index:
            acked_index.add(offset)
            acked.append(offset)
            count += 1
    consumer._n_acked += count
    notify(consumer._waiting_for_ack)


class BatchFetch(Consumer):
    """Faust's consumer whose fetch loop (``_drain_messages``, a copy of Faust 0.15.3's
    with the batch hand-off added) gives the records of registered topics to their
    handler one partition's batch at a time (mix-in for the transport's consumer)."""

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop, handing registered topics' records over in batches."""
        handlers: dict[str, BatchHandler] | None = self.app.__dict__.get(_HANDLERS)
        if not handlers:
            await super()._drain_messages(fetcher)
            return
        callback = self.callback
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        recovery = recovery_for_batches(self.app)
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records, active = await self._wait_next_records(1.0)
                await self.sleep(0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    # Fetched across a rebalance: read again from the committed offsets.
                    try:
                        await self.perform_seek()
                    except Exception as exc:
                        self.log.warning("seek after a stopped flow failed: %r", exc)
                    continue
                generation = self.app.consumer_generation_id

                def moved_on(generation: int = generation) -> bool:
                    return not self.flow_active or self.app.consumer_generation_id != generation

                batches: dict[tuple[BatchHandler, int], list[tuple[TP, list[Any]]]] = {}
                for tp, records_of_tp in records.items():
                    if moved_on():
                        break
                    if (
                        active is not None
                        and tp not in active
                        and tp not in self._buffered_partitions
                    ):
                        continue
                    fresh, gaps = _unread(self, tp, records_of_tp)
                    if not fresh:
                        continue
                    if gaps and acks_enabled_for(tp.topic):
                        for start, end in gaps:
                            await self._add_gap(tp, start, end)
                    handler = handlers.get(tp.topic)
                    if handler is not None:
                        batches.setdefault((handler, tp.partition), []).append((tp, fresh))
                        continue
                    if recovery is not None:
                        last = apply_recovered(recovery, tp, fresh)
                        if last is not None:  # applied: Faust's recovery sees the last one
                            fresh = [last]
                    for record in fresh:
                        await self.wait_first(
                            callback(self._to_message(tp, record)), self.suspend_flow.wait()
                        )
                        self._read_offset[tp] = record.offset
                for (handler, partition), parts in batches.items():
                    # No await from the check to the handler's return: a rebalance cannot
                    # split a batch, and waits for its produce calls (BatchInFlight).
                    if moved_on():
                        break
                    in_flight = BatchInFlight(partition)
                    self._unacked_messages.add(in_flight)  # type: ignore[arg-type]
                    try:
                        sending = handler([record for _, fresh in parts for record in fresh])
                        if sending is not None:
                            await sending
                        if moved_on():
                            break  # not acked: whoever owns the partition now reads them again
                        for tp, fresh in parts:
                            _ack(self, tp, fresh)
                            self._read_offset[tp] = fresh[-1].offset
                    finally:
                        in_flight.acked = True
                        self._unacked_messages.discard(in_flight)  # type: ignore[arg-type]
                        notify(self._waiting_for_ack)
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)
