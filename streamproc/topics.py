"""Creates the service's own topics (Faust never creates source topics) with the admin client."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.protocol import ConsumerProtocol
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from streamproc.security import client_kwargs
from streamproc.settings import Settings

TABLE_NAMES = (
    "conversations",
    "messages",
    "presence",
    "presence_days",
    "directory",
    "activity",
    "segments",
    "rejections_by_partition",
    "reroutes_by_partition",
)
"""Every Faust table of the worker (streamproc.tables declares them in this order)."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic the service needs: its name, partition count and configs."""

    name: str
    partitions: int
    config: dict[str, str]


def required_topics(settings: Settings) -> list[TopicSpec]:
    """Every inbound, re-route, dead-letter, command and result topic, with its partition
    count.

    Inbound topics share one partition count so that a conversation's messages, locks and
    status events land on the same partition number (Faust assigns them together); the
    re-route topic has it too, so that partition p of it belongs to the same worker.
    The export command/result topics have one partition: requests are served in order.
    The scheduled exports' progress topic is compacted (the latest value per key counts).
    The live metrics feed is compacted, with one partition (one small record per key).
    The tables' changelog topics (compacted, co-partitioned) are created here too, before
    any worker starts: Faust creating them at start-up raced with its own partition check
    (PartitionsMismatch "... has 0 partitions").
    """
    keep = {"retention.ms": "-1"}
    inbound = [TopicSpec(t, settings.events_partitions, keep) for t in settings.inbound_topics]
    compact = {"cleanup.policy": "compact"}
    changelogs = [
        TopicSpec(f"{settings.app_id}-{table}-changelog", settings.events_partitions, compact)
        for table in TABLE_NAMES
    ]
    return [
        *inbound,
        # Co-partitioned with the inbound topics and the tables (streamproc.intake).
        TopicSpec(settings.topic_reroute, settings.events_partitions, keep),
        TopicSpec(settings.topic_deadletter, settings.events_partitions, keep),
        TopicSpec(settings.topic_export_requests, 1, keep),
        TopicSpec(settings.topic_export_results, 1, keep),
        TopicSpec(settings.topic_export_schedules, 1, compact),
        TopicSpec(settings.topic_metrics, 1, compact),
        *changelogs,
    ]


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing required topics; returns the names created (idempotent)."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in required_topics(settings) if t.name not in existing]
        created: list[str] = []
        replicas = settings.topic_replication_factor
        for spec in wanted:
            try:
                response = await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, replicas, topic_configs=spec.config)]
                )
                if _created(response, spec.name):
                    created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        await _wait_for_metadata(admin, [t.name for t in wanted], timeout_s)
    finally:
        await admin.close()
    await commit_start_offsets(settings)
    return created


def _created(response: Any, name: str) -> bool:
    """Whether a CreateTopics response created ``name``: False when it already existed;
    the broker's error (e.g. a replication factor above the number of brokers) is raised,
    with its message, instead of being left for a metadata wait to time out on."""
    for topic_error in getattr(response, "topic_errors", ()):
        topic, code, *rest = topic_error
        if code == TopicAlreadyExistsError.errno:
            return False
        if code:
            message = rest[0] if rest and rest[0] else ""
            raise for_code(code)(f"cannot create topic {topic}: {message}")
    return True


async def commit_start_offsets(settings: Settings) -> int:
    """Give every consumed partition the worker group has never committed a committed offset
    (its log start), so that Faust can tell a hole at the head of what it processed (see
    streamproc.faust_fixes). Only possible while no worker is in the group; otherwise it
    does nothing (the first worker's start already did it). Returns how many were set."""
    from aiokafka.errors import KafkaError
    from aiokafka.structs import OffsetAndMetadata

    counts = await partition_counts(settings, list(settings.consumed_topics))
    tps = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        missing = [tp for tp in tps if await consumer.committed(tp) is None]
        if not missing:
            return 0
        start = await consumer.beginning_offsets(missing)
        try:
            await consumer.commit({tp: OffsetAndMetadata(start[tp], "") for tp in missing})
        except KafkaError:
            return 0  # workers are running: they own the group's offsets
        return len(missing)
    finally:
        await consumer.stop()


async def partition_counts(settings: Settings, names: list[str]) -> dict[str, int]:
    """Partition count of each named topic that exists (absent topics are left out)."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return {
        d["topic"]: len(d["partitions"])
        for d in described
        if d.get("error_code") == 0 and d.get("partitions")
    }


async def committed_and_end(
    settings: Settings, group: str, tps: list[TopicPartition]
) -> dict[TopicPartition, tuple[int, int]]:
    """(committed offset, end offset) of each partition for consumer ``group``; a partition
    the group never committed counts as committed at 0."""
    if not tps:
        return {}
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None)
    try:
        await admin.start()
        await consumer.start()
        committed = await committed_offsets(admin, group, tps)
        end_offsets = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
        await admin.close()
    return {tp: (committed[tp], end_offsets[tp]) for tp in tps}


async def committed_offsets(
    admin: AIOKafkaAdminClient, group: str, tps: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The committed offset of each partition for consumer ``group``, through a started
    ``admin`` client (kept by a caller that asks repeatedly); a partition the group never
    committed counts as committed at 0."""
    committed = await admin.list_consumer_group_offsets(group, partitions=tps)
    result = {}
    for tp in tps:
        meta = committed.get(tp)
        result[tp] = meta.offset if meta is not None and meta.offset >= 0 else 0
    return result


def inbound_partitions(settings: Settings) -> list[TopicPartition]:
    """Every partition the workers consume (inbound and re-route topics), as ensure_topics
    creates them."""
    return [
        TopicPartition(topic, partition)
        for topic in settings.consumed_topics
        for partition in range(settings.events_partitions)
    ]


async def group_assignment(settings: Settings, group: str) -> tuple[str, set[TopicPartition]]:
    """The consumer group's state ("Stable", "PreparingRebalance", ...) and the partitions
    assigned to its members, as the group coordinator describes them."""
    state, members = await group_members(settings, group)
    return state, set().union(*members.values())


async def group_members(
    settings: Settings, group: str
) -> tuple[str, dict[str, set[TopicPartition]]]:
    """The consumer group's state and the partitions the coordinator assigned to each
    member (by member id)."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.groups
    error_code, _group, state, _protocol_type, _protocol, members = described[:6]
    if error_code:
        raise KafkaError(f"DescribeGroups for {group} failed with error code {error_code}")
    assigned: dict[str, set[TopicPartition]] = {}
    for member in members:
        # member_id, client_id, client_host, metadata, assignment
        held = assigned.setdefault(member[0], set())
        if member[4]:
            for topic, partitions in ConsumerProtocol.ASSIGNMENT.decode(member[4]).assignment:
                held.update(TopicPartition(topic, p) for p in partitions)
    return state, assigned


async def lag_by_partition(
    settings: Settings, group: str, topics: list[str]
) -> dict[TopicPartition, int]:
    """Records of each partition of ``topics`` not yet committed by consumer ``group``
    (end offset - committed); partitions without lag are left out."""
    counts = await partition_counts(settings, topics)
    tps = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    offsets = await committed_and_end(settings, group, tps)
    return {tp: end - done for tp, (done, end) in offsets.items() if end > done}


async def consumer_lag(settings: Settings, group: str, topics: list[str]) -> int:
    """Records of ``topics`` not yet committed by consumer ``group`` (end offset - committed)."""
    return sum((await lag_by_partition(settings, group, topics)).values())


async def _wait_for_metadata(
    admin: AIOKafkaAdminClient, names: list[str], timeout_s: float
) -> None:
    """Wait until every named topic is visible with leaders (creation is asynchronous)."""
    if not names:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        ready = all(
            d.get("error_code", 1) == 0
            and d.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in d["partitions"])
            for d in described
        )
        if ready:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics not ready after {timeout_s:.0f} s: {names}")
        await asyncio.sleep(0.1)
