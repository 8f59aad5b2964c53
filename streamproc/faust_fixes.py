"""Every fix to faust-streaming 0.15.3 and aiokafka 0.14.0 internals, in one place.

Each fix is named after the upstream defect it mends. Three are subclasses that
streamproc's own transport (streamproc.transport) puts in place of Faust's classes; one
replaces an aiokafka method at start-up (aiokafka offers no door: the coordinator is
built inside ``AIOKafkaConsumer``). :func:`apply` checks, before anything runs, that the
installed libraries are the versions these were written for and that every private
member the service relies on is still there: an upgrade fails loudly at start-up instead
of silently dropping a fix.

1. ``FlushWaitsForEverySend`` (Faust's ``ProducerBuffer.flush`` gives up after 0.1 s;
   cf. faust-streaming PR #112 and #273, flush before commit). Faust calls ``flush``
   right before committing source offsets, but it returned as soon as the buffer had
   not drained for 0.1 s, and did not wait for the message being handed to aiokafka: a
   worker killed then lost table changelog writes and dead letters whose source offsets
   were committed (found by the acceptance suite). The fixed buffer drains completely,
   the in-flight send included.
2. ``ExitOnSendError`` (a failed send is only logged, and offsets are still committed).
   A sensor (Faust's own door) stops the worker process at once (exit 70), so nothing
   past the failure is committed; the supervisor restarts it and the events are
   processed again (updates are idempotent).
3. ``CommitNeverSkipsAHole`` (the head-gap check of ``Consumer._new_offset`` added for
   faust-streaming #312, PR #313, is ``if committed_offset:``; related: #606, wrong
   commits with gaps). Right after a rebalance a stream skips, without tracking them,
   messages fetched under the previous generation; with no commit yet (or offset 0,
   which ``perform_seek`` also stores as None) the check did not run and the commit went
   right over the skipped messages: events lost (found by the chaos tests). Fixed: the
   committed offset is kept when it is 0 and the head check always runs; the topics are
   created with a committed start offset for the worker group (streamproc.topics), so
   the check has a reference. A partition whose commit is held back by such a hole is
   re-read after the worker restarts (stall watchdog, streamproc.agents.watchdog).
4. ``leader_assigns_from_complete_metadata`` (aiokafka: a group leader assigns from
   whatever metadata it holds, cf. aiokafka #118). Right after a broker restart the
   broker can answer metadata requests before it has loaded its topics, so the leader
   saw every topic as missing and assigned nothing to anyone. With static membership a
   restarted worker rejoins without a rebalance, so the empty assignment stayed (found
   by the chaos acceptance test: all partitions unowned, nothing consumed). Fixed:
   before assigning, the leader refreshes metadata until every subscribed topic has
   partitions (our topics are created before any worker starts), for up to
   ``ASSIGNMENT_METADATA_WAIT_S`` and half the group's session timeout. Workers and the
   exporter apply it.
5. ``RevokeClosesEachDatabase`` (Faust's RocksDB ``Store.revoke_partitions`` drops the
   revoked partitions' databases and runs a full ``gc.collect()``, once per table and
   rebalance, "RocksDB has no .close() method"; rocksdict has one). With eight tables
   that was ~1.6 s of the 2.2 s a worker stood still when a second worker joined
   (measured, docs/performance.md). The fixed store closes each revoked database
   itself and collects nothing. Put in place by streamproc's own store class
   (streamproc.tables.store, the ``faust.stores`` entry point).

6. ``FetchWaitBounded`` (Faust creates its worker consumer with a hard-coded
   ``fetch_max_wait_ms=1500``). aiokafka sends its offset look-ups (``ListOffsets``:
   Faust's recovery asks for the changelogs' end and start offsets after every
   rebalance) on the same broker connection as its fetches, and the broker answers a
   connection's requests in order: behind a fetch of caught-up or paused partitions,
   each look-up waited up to 1.5 s. A worker that kept its partitions when a second one
   joined stood still 2.8 s for two of them (1.3 s and 1.5 s, against 3 ms on the
   newcomer; measured, docs/performance.md). The fixed consumer thread creates the
   consumer with ``FETCH_MAX_WAIT_MS`` (100 ms): a look-up waits at most that; an idle
   worker polls ten times a second; a fetch still returns as soon as records arrive.
   Put in place by streamproc's consumer (streamproc.transport).
7. ``SeekToCommittedIncludesZero`` (aiokafka's ``AIOKafkaConsumer.seek_to_committed``
   seeks only ``if offset and offset > 0``: a partition whose committed offset is 0 keeps
   its fetch position). Faust's ``perform_seek`` relies on that seek after every
   rebalance, and records fetched during a rebalance are dropped without being
   processed (the flow is stopped), so the position is already past them: with nothing
   committed yet (0: the start offset streamproc.topics commits for the worker group),
   the partition went on from there. The skipped records were never applied; fix 3
   held every later commit of the partition back, so the watchdog restarted the worker
   45 s later, which read them again (found by CI: ``test_restarts``, all of a worker's
   partitions stalled after a rebalance in its first seconds). Fixed: the consumer
   thread seeks to the committed offset, 0 included.

Batch-applied recovery (streamproc.tables.recovery) is not a fix but relies on the
state of Faust's ``Recovery`` service; it checks that state itself (``RECOVERY_STATE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, cast

from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.coordinator.protocol import ConsumerProtocol
from faust.sensors import Sensor
from faust.stores.rocksdb import Store as RocksDBStore
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from faust.utils.functional import consecutive_numbers

from streamproc.exits import EXIT_SEND_FAILED, exit_worker

log = logging.getLogger(__name__)


# -- 1. Faust: ProducerBuffer.flush gives up after 0.1 s ----------------------------------


class FlushWaitsForEverySend(ProducerBuffer):
    """Faust's producer buffer whose ``flush`` waits until every buffered message, and
    the one being handed over, has reached the Kafka client."""

    in_flight = 0

    async def _send_pending(self, fut: Any) -> None:
        self.in_flight += 1
        try:
            await super()._send_pending(fut)
        finally:
            self.in_flight -= 1

    async def flush(self) -> None:
        """Wait until every buffered message has been handed to the Kafka client."""
        while self.size or self.in_flight:
            if self.state != "running" and self.size:
                raise RuntimeError("Cannot flush: Producer not Running")
            self.message_sent.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)


# -- 2. Faust: a failed send is only logged ---------------------------------------------


class ExitOnSendError(Sensor):
    """Stop the process when a produced message (changelog, dead letter) is lost."""

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        exit_worker(
            log,
            EXIT_SEND_FAILED,
            "a produced message failed for good (%r): exiting so that no offset "
            "past it is committed; a restart reprocesses from the last commit",
            exc,
        )


# -- 3. Faust: commits past a hole at the head of the acked offsets ---------------------


class CommitNeverSkipsAHole(Consumer):
    """Faust's consumer whose commit never goes past messages it skipped (mix-in for
    the transport's consumer)."""

    async def perform_seek(self) -> None:
        """``Consumer.perform_seek`` keeping a committed offset of 0 (not None)."""
        committed = await self.seek_to_committed()
        self._read_offset.update(
            {
                tp: offset if offset is not None and offset >= 0 else None
                for tp, offset in committed.items()
            }
        )
        self._committed_offset.update(
            {tp: offset for tp, offset in committed.items() if offset is not None}
        )

    def _new_offset(self, tp: TP) -> int | None:
        return new_offset(self, tp)


def new_offset(consumer: Any, tp: TP) -> int | None:
    """``Consumer._new_offset`` whose head-gap check also runs for committed offset 0."""
    acked = consumer._acked[tp]
    if not acked:
        return None
    max_offset = max(acked)
    gap_for_tp = consumer._gap[tp]
    if gap_for_tp:
        candidates = sorted(gap_for_tp.overlap(0, max_offset), key=lambda x: x.begin)
        if candidates:
            stuff_to_add: list[int] = []
            for entry in candidates:
                stuff_to_add.extend(range(entry.begin, entry.end))
            new_max_offset = max(stuff_to_add[-1], max_offset + 1)
            acked.extend(stuff_to_add)
            gap_for_tp.chop(0, new_max_offset)
    acked.sort()
    committed_offset = consumer._committed_offset[tp]
    if committed_offset is not None and min(acked) > committed_offset:
        return None  # a hole at the head: never commit past unprocessed messages
    batch = next(consecutive_numbers(acked))
    acked[: len(batch)] = []
    consumer._acked_index[tp].difference_update(batch)
    return int(batch[-1]) + 1


# -- 4. aiokafka: the group leader assigns from incomplete metadata ---------------------

ASSIGNMENT_METADATA_WAIT_S = 20.0
"""How long the group leader refreshes metadata for a subscribed topic it does not see
before it assigns anyway (well under the group's rebalance timeout)."""


def subscribed_topics(members: Any) -> set[str]:
    """Topics the members of a JoinGroup response subscribe to (the metadata is the last
    field of each member, whatever the protocol version)."""
    topics: set[str] = set()
    for member in members:
        topics.update(ConsumerProtocol.METADATA.decode(member[-1]).subscription)
    return topics


async def wait_for_topics(
    client: Any, cluster: Any, topics: set[str], timeout_s: float, poll_s: float = 0.5
) -> set[str]:
    """Refresh ``client``'s metadata until ``cluster`` knows the partitions of every topic
    in ``topics`` or ``timeout_s`` passed; returns the topics still missing."""

    def missing() -> set[str]:
        return {topic for topic in topics if not cluster.partitions_for_topic(topic)}

    absent = missing()
    if not absent:
        return absent
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout_s
    log.warning("metadata lacks subscribed topics %s: refreshing before assigning", absent)
    while absent and loop.time() < deadline:
        with contextlib.suppress(TimeoutError):  # one refresh may hang: keep to the deadline
            await asyncio.wait_for(client.force_metadata_update(), deadline - loop.time())
        absent = missing()
        if absent:
            await asyncio.sleep(min(poll_s, max(0.0, deadline - loop.time())))
    if absent:
        log.error("topics %s still missing after %.0f s: assigning without them", absent, timeout_s)
    else:
        log.info("metadata complete after %.1f s: assigning", loop.time() - started)
    return absent


_original_perform_assignment = GroupCoordinator._perform_assignment


async def leader_assigns_from_complete_metadata(self: GroupCoordinator, response: Any) -> Any:
    """``GroupCoordinator._perform_assignment`` once metadata has every subscribed topic."""
    topics = subscribed_topics(response.members)
    if not self._subscription.subscribed_pattern:
        self._client.set_topics(topics)  # as the original does next: refreshes include them
    await wait_for_topics(self._client, self._cluster, topics, assignment_wait_s(self))
    return await _original_perform_assignment(self, response)


def assignment_wait_s(coordinator: Any) -> float:
    """How long this leader may wait for metadata: ``ASSIGNMENT_METADATA_WAIT_S``, and at
    most half its session and rebalance timeouts (aiokafka does not heartbeat while the
    leader assigns; a leader that waits longer is expired and the group starts over)."""
    timeouts_ms = [
        t
        for t in (coordinator._session_timeout_ms, coordinator._rebalance_timeout_ms)
        if isinstance(t, int | float) and t > 0
    ]
    return min([ASSIGNMENT_METADATA_WAIT_S, *(t / 2000 for t in timeouts_ms)])


# -- 5. Faust: revoking RocksDB partitions runs a full collection per table --------------


class RevokeClosesEachDatabase(RocksDBStore):
    """Faust's RocksDB store whose ``revoke_partitions`` closes each revoked partition's
    database instead of running ``gc.collect()`` (mix-in for streamproc's store)."""

    def revoke_partitions(self, table: Any, tps: set[TP]) -> None:
        """Close the databases of the revoked partitions of ``table``'s changelog."""
        for tp in tps:
            if tp.topic in table.changelog_topic.topics:
                db = self._dbs.pop(tp.partition, None)
                if db is not None:
                    self.logger.info("closing db %s partition %s", tp.topic, tp.partition)
                    close_database(db)


def close_database(db: Any) -> None:
    """Close a partition's database (its writes are in RocksDB's log already); a
    failure is logged: Faust reopens a partition's database when it is assigned again."""
    try:
        db.close()
    except Exception as exc:
        log.warning("closing a revoked partition's database failed: %r", exc)


# -- 6. Faust: the worker consumer's fetch wait is 1.5 s, offset look-ups queue behind it --

FETCH_MAX_WAIT_MS = 100
"""Longest a fetch waits on the broker for records (Faust: 1,500; Kafka's Java client
defaults to 500)."""


class FetchWaitBounded(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread whose consumer waits at most
    ``FETCH_MAX_WAIT_MS`` per fetch (so an offset look-up queued behind a fetch on the
    same connection waits at most that)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        if getattr(consumer, "_fetch_max_wait_ms", None) != 1500:
            raise RuntimeError(
                "aiokafka's consumer has no _fetch_max_wait_ms of Faust's 1500: port fix 6"
                " in streamproc/faust_fixes.py to the installed versions"
            )
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


# -- 7. aiokafka: seek_to_committed does not seek to a committed offset of 0 ------------


async def seek_to_committed_including_zero(consumer: Any) -> dict[Any, int | None]:
    """``AIOKafkaConsumer.seek_to_committed`` that also seeks a partition committed at 0
    (run in the consumer's own loop); returns the committed offsets."""
    committed: dict[Any, int | None] = await consumer.seek_to_committed()
    for tp, offset in committed.items():
        if offset == 0:
            consumer.seek(tp, 0)
    return committed


class SeekToCommittedIncludesZero(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread whose ``seek_to_committed`` seeks every assigned
    partition to its committed offset, 0 included."""

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await self.call_thread(
            seek_to_committed_including_zero, self._ensure_consumer()
        )
        return cast(Mapping[TP, int], committed)


class ConsumerThread(SeekToCommittedIncludesZero, FetchWaitBounded):
    """The worker's consumer thread: fixes 6 and 7."""


# -- the start-up guard -----------------------------------------------------------------

WRITTEN_FOR = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
"""The library versions whose internals these fixes (and streamproc.transport,
streamproc.tables.writer, streamproc.agents.watchdog) rely on."""

PRIVATE_MEMBERS: dict[str, tuple[str, ...]] = {
    # The batch fetch loop (streamproc.fastpath) and fix 3.
    "faust.transport.consumer:Consumer": (
        "_drain_messages", "_wait_next_records", "_add_gap", "_to_message", "perform_seek",
        "_new_offset", "seek_to_committed", "wait_empty",
    ),
    "faust.transport.drivers.aiokafka:Consumer": ("_new_consumer_thread",),
    # Fix 1.
    "faust.transport.producer:ProducerBuffer": ("_send_pending", "flush"),
    # The batch writer (streamproc.tables.writer): RocksDB partitions and record batches.
    # ... and fix 5.
    "faust.stores.rocksdb:Store": (
        "_db_for_partition", "_visible_items", "_visible_keys", "set_persisted_offset",
        "revoke_partitions",
    ),
    # Batch-applied recovery (streamproc.tables.recovery; its Recovery state is checked
    # on the instance, RECOVERY_STATE).
    "faust.tables.recovery:Recovery": ("flush_buffers",),
    "faust.tables.base:Collection": ("apply_changelog_batch",),
    "faust.transport.drivers.aiokafka:Producer": ("_ensure_producer",),
    "aiokafka.producer.producer:AIOKafkaProducer": ("send_batch",),
    "faust.streams:_current_event": (),
    # The watchdog's rejoin (streamproc.agents.watchdog) and fix 4.
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread": (
        "_ensure_consumer", "_create_worker_consumer", "seek_to_committed", "call_thread",
    ),
    "aiokafka.consumer.group_coordinator:GroupCoordinator": (
        "_perform_assignment", "request_rejoin",
    ),
}  # fmt: skip
"""Private members of faust-streaming, mode and aiokafka the service relies on, by class
(``module:attribute``); checked at start-up."""

CONSUMER_STATE = (
    "_read_offset", "_committed_offset", "_acked", "_acked_index", "_gap", "_n_acked",
    "_waiting_for_ack", "_unacked_messages", "_buffered_partitions", "_commit_every",
    "_stopped",
)  # fmt: skip
"""Private attributes a Faust consumer sets in ``__init__`` that the batch fetch loop and
fix 3 read and update; checked when streamproc's consumer is created."""


def check_consumer_state(consumer: Any) -> None:
    """Fail loudly when a Faust consumer lacks state the fetch loop and fix 3 rely on."""
    missing = [name for name in CONSUMER_STATE if not hasattr(consumer, name)]
    if missing:
        raise RuntimeError(
            f"Faust's consumer has no {', '.join(missing)}: port streamproc/fastpath.py "
            "and streamproc/faust_fixes.py (fix 3) to the installed faust-streaming."
        )


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Fail loudly when an installed library is not the version the fixes were written
    for: a replaced private method that moved would otherwise fail silently."""
    from importlib.metadata import version

    found = installed or {name: version(name) for name in WRITTEN_FOR}
    wrong = {n: v for n, v in found.items() if WRITTEN_FOR.get(n) not in (None, v)}
    if wrong:
        raise RuntimeError(
            "streamproc extends library internals written for "
            + ", ".join(f"{n}=={v}" for n, v in WRITTEN_FOR.items())
            + "; installed: "
            + ", ".join(f"{n}=={v}" for n, v in wrong.items())
            + ". Install the pinned versions (pip install -e .) or port"
            " streamproc/faust_fixes.py (and the modules its PRIVATE_MEMBERS name) to them."
        )


def check_private_members(members: dict[str, tuple[str, ...]] | None = None) -> None:
    """Fail loudly when a private member the service relies on is gone."""
    from mode.utils.imports import symbol_by_name

    missing = []
    for path, names in (PRIVATE_MEMBERS if members is None else members).items():
        try:
            owner: Any = symbol_by_name(path)
        except (ImportError, AttributeError):
            missing.append(path)
            continue
        missing += [f"{path}.{name}" for name in names if not hasattr(owner, name)]
    if missing:
        raise RuntimeError(
            "library internals streamproc relies on are missing: "
            + ", ".join(missing)
            + ". Port streamproc/faust_fixes.py and the modules that use them."
        )


def apply() -> None:
    """Check the libraries, then install the one fix without a door (idempotent)."""
    check_versions()
    check_private_members()
    GroupCoordinator._perform_assignment = leader_assigns_from_complete_metadata
