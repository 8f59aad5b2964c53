"""Recovery: rebuilding ≥ 1M table keys from the changelog, and restarting on local state."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamproc.changelog import changelog_topic
from streamproc.intake import partition_for_key
from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.testing.produce import produce_lines
from streamproc.topics import consumer_lag, ensure_topics


async def _fill_changelog(settings: Settings, keys: int) -> None:
    """Write ``keys`` directory records straight into the directory table's changelog,
    on the partition each key's entity belongs to (as a worker would have)."""
    topic = changelog_topic(settings, "directory")  # created by ensure_topics
    producer = AIOKafkaProducer(**client_kwargs(settings), linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        pending = []
        for i in range(keys):
            entity = f"contact-{i:08d}"
            value = orjson.dumps(
                {
                    "kind": "contact",
                    "id": entity,
                    "up": [1, f"e{i}"],
                    "fields": {
                        "medium": "SMS",
                        "primary_identifier": f"+{i}",
                        "secondary_identifier": None,
                    },
                    "del": None,
                    "lu": 1,
                }
            )
            partition = partition_for_key(entity.encode(), settings.events_partitions)
            pending.append(
                await producer.send(
                    topic, value, key=f"contact|{entity}".encode(), partition=partition
                )
            )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _probe(settings: Settings, n: int) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"probe-{n}",
            "type": "team.upserted",
            "occurred_at": "2026-11-02T00:00:00Z",
            "team_id": f"probe-{n}",
            "name": "Probe",
        }
    )


def _time_to_process(settings: Settings, n: int, name: str) -> float:
    """Start a worker (local tables under ``tables-<name>``), publish a probe event,
    return seconds until it is committed."""
    from bench.run import Worker

    started = time.monotonic()
    worker = Worker(settings, name).start()
    try:
        asyncio.run(produce_lines(settings, [_probe(settings, n)]))
        while True:
            lag = asyncio.run(
                consumer_lag(settings, settings.app_id, list(settings.consumed_topics))
            )
            if lag == 0:
                return time.monotonic() - started
            if worker.proc and worker.proc.poll() is not None:
                raise RuntimeError(f"worker exited; see {worker.log}")
            if time.monotonic() - started > 3600:
                raise RuntimeError("recovery took over an hour")
            time.sleep(0.2)  # polling the group's lag, not synchronisation
    finally:
        worker.stop()


async def _read_changelog(settings: Settings, keys: int) -> None:
    """The raw read: aiokafka ``getmany`` of every record of the directory changelog."""
    topic = changelog_topic(settings, "directory")
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.events_partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        while seen < keys:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(records) for records in batch.values())
    finally:
        await consumer.stop()


def recovery_run(settings: Settings, keys: int) -> dict[str, Any]:
    """One run: write the changelog, read it raw, rebuild from an empty local store
    (batch-applied), restart on the local RocksDB state, and rebuild again from empty
    with Faust's per-record recovery (the "before", ``STREAMPROC_RECOVERY_APPLY=faust``)."""
    asyncio.run(ensure_topics(settings))
    _, fill_s = _timed(lambda: asyncio.run(_fill_changelog(settings, keys)))
    _, read_s = _timed(lambda: asyncio.run(_read_changelog(settings, keys)))
    rebuild_s = _time_to_process(settings, 1, "recovery")
    restart_s = _time_to_process(settings, 2, "recovery")
    faust_s = _time_to_process(replace(settings, recovery_apply="faust"), 3, "recovery-faust")
    return {
        "changelog_write_keys_per_s": keys / fill_s,
        "changelog_read_keys_per_s": keys / read_s,
        "rebuild_from_empty_s": rebuild_s,
        "rebuild_keys_per_s": keys / rebuild_s,
        "restart_with_local_state_s": restart_s,
        "rebuild_net_keys_per_s": keys / max(rebuild_s - restart_s, 1e-3),
        "faust_rebuild_from_empty_s": faust_s,
        "faust_rebuild_keys_per_s": keys / faust_s,
    }


def recovery(runs: list[dict[str, Any]], keys: int) -> dict[str, Any]:
    """The runs' medians with min and max, and the ratios of the medians."""
    from bench.run import summary

    report: dict[str, Any] = {"keys": keys, "runs": len(runs)}
    for name in runs[0]:
        report[name] = summary([run[name] for run in runs])
    rebuild = report["rebuild_keys_per_s"]["median"]
    report["ratio_to_changelog_write"] = rebuild / report["changelog_write_keys_per_s"]["median"]
    report["ratio_to_changelog_read"] = rebuild / report["changelog_read_keys_per_s"]["median"]
    report["speedup_over_faust"] = rebuild / report["faust_rebuild_keys_per_s"]["median"]
    return report


def _timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    return fn(), time.perf_counter() - started
