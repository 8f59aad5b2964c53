"""Recovery: rebuilding ≥ 1M table keys from the changelog, and restarting on local state."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

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


def _time_to_process(settings: Settings, n: int) -> float:
    """Start a worker, publish a probe event, return seconds until it is committed."""
    from bench.run import Worker

    started = time.monotonic()
    worker = Worker(settings, "recovery").start()
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


def recovery(settings: Settings, keys: int) -> dict[str, Any]:
    """Rebuild from an empty local store, then restart on the local RocksDB state."""
    asyncio.run(ensure_topics(settings))
    _, fill_s = _timed(lambda: asyncio.run(_fill_changelog(settings, keys)))
    rebuild_s = _time_to_process(settings, 1)
    restart_s = _time_to_process(settings, 2)
    return {
        "keys": keys,
        "changelog_write_s": round(fill_s, 1),
        "rebuild_from_empty_s": round(rebuild_s, 1),
        "rebuild_keys_per_s": round(keys / rebuild_s),
        "restart_with_local_state_s": round(restart_s, 1),
    }


def _timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    return fn(), time.perf_counter() - started
