"""Live operations benchmarks: API latency of interval queries over a month of simulated
data, and the cost of one feed computation (no Kafka; ``python -m bench.live``).

Freshness from produce to feed record needs the broker: ``python -m bench.live freshness``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from streamproc.live.api import LiveView, live_app
from streamproc.live.figures import compute
from streamproc.testing.simulate import simulate_command  # noqa: F401 - the same generator as the CLI


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "n": len(ordered),
    }


def build_month(seed: int, days: int, conversations: int, work: Path) -> Path:
    """A read model of ``days`` simulated days (the worker's state code, offline)."""
    import subprocess
    import sys

    from tests.offline import ingest, load_model

    events = work / "events.jsonl"
    subprocess.run(
        [sys.executable, "-m", "streamproc", "simulate", "--seed", str(seed), "--days",
         str(days), "--conversations", str(conversations), "--out", str(events)],
        check=True, capture_output=True,
    )  # fmt: skip
    stores, _ = ingest(events.read_bytes().splitlines())
    model = load_model(stores, work / "rm.sqlite")
    model.close()
    return work / "rm.sqlite"


async def _api_latency(path: Path, queries: dict[str, dict[str, str]], repeat: int) -> Any:
    from aiohttp.test_utils import TestClient, TestServer

    results: dict[str, Any] = {}
    async with TestClient(TestServer(live_app(path, LiveView()))) as client:
        for name, params in queries.items():
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = await client.get("/api/v1/metrics", params=params)
                body = await response.json()
                samples.append(time.perf_counter() - started)
                assert response.status == 200, body
            results[name] = {**_quantiles(samples), "intervals": len(body["intervals"])}
    return results


@click.group(invoke_without_command=True)
@click.option("--days", default=30, show_default=True)
@click.option("--conversations", default=300, show_default=True, help="Per day.")
@click.option("--repeat", default=100, show_default=True)
@click.pass_context
def main(ctx: click.Context, days: int, conversations: int, repeat: int) -> None:
    """API latency and feed computation cost on a month of simulated data (JSON)."""
    if ctx.invoked_subcommand is not None:
        return
    import sqlite3

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        path = build_month(11, days, conversations, Path(tmp))
        built_s = time.perf_counter() - started
        conn = sqlite3.connect(path)
        team = conn.execute(
            "SELECT json_extract(fields, '$.team_id') FROM directory WHERE kind = 'agent'"
            " AND json_extract(fields, '$.team_id') IS NOT NULL LIMIT 1"
        ).fetchone()[0]
        agent = conn.execute("SELECT id FROM directory WHERE kind = 'agent' LIMIT 1").fetchone()[0]
        buckets = conn.execute("SELECT count(*) FROM activity").fetchone()[0]
        base = {"timezone": "America/New_York"}
        queries = {
            "team_avg_first_response_60_HOUR": {
                **base, "scope": "team", "id": team, "metric": "average_first_response_ms",
                "from": "2026-11-10T05:00:00Z", "to": "2026-11-12T17:00:00Z", "interval": "HOUR"},
            "team_replies_month_DAY": {
                **base, "scope": "team", "id": team, "metric": "replies",
                "from": "2026-11-02", "to": "2026-12-01", "interval": "DAY"},
            "agent_avg_handle_month_DAY": {
                **base, "scope": "agent", "id": agent, "metric": "average_handle_ms",
                "from": "2026-11-02", "to": "2026-12-01", "interval": "DAY"},
            "team_contacts_month_WEEK": {
                **base, "scope": "team", "id": team, "metric": "contacts_helped",
                "from": "2026-11-02", "to": "2026-12-01", "interval": "WEEK"},
        }  # fmt: skip
        api = asyncio.run(_api_latency(path, queries, repeat))
        as_of = conn.execute("SELECT max(log_lu) FROM conversations").fetchone()[0]
        feed = []
        for _ in range(max(5, repeat // 10)):
            started = time.perf_counter()
            records = compute(conn, as_of, "America/New_York").records
            feed.append(time.perf_counter() - started)
        print(json.dumps({
            "days": days, "conversations_per_day": conversations,
            "activity_rows": buckets, "build_s": round(built_s, 1),
            "api": api,
            "feed_compute": {**_quantiles(feed), "keys": len(records)},
        }, indent=2))  # fmt: skip


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@main.command("freshness")
@click.option("--rate", default=300.0, show_default=True, help="Events per second produced.")
@click.option("--seconds", default=30.0, show_default=True)
@click.option("--interval", default=0.5, show_default=True, help="STREAMPROC_FEED_INTERVAL_S.")
def freshness(rate: float, seconds: float, interval: float) -> None:
    """Produce → feed record latency on the broker of STREAMPROC_KAFKA_PORT: one worker and
    the exporter run; events are stamped with the wall clock when sent; each ``all:all``
    feed record's ``as_of`` is its newest event, so receive time - as_of is that event's
    freshness. Also the CPU of the worker and the exporter, and the feed's compute time."""
    import collections
    import threading
    import urllib.request
    import uuid
    from dataclasses import replace
    from datetime import UTC, datetime

    import orjson
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from prometheus_client.parser import text_string_to_metric_families

    from streamproc.settings import Settings
    from streamproc.topics import ensure_topics
    from tests.harness import ExporterProcess, WorkerProcess, wait_until

    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    base = Settings.from_env()
    settings = replace(
        base.namespaced(f"live-{uuid.uuid4().hex[:6]}", work),
        exporter_metrics_port=19_465,
        feed_interval_s=interval,
    )
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(settings, "w").start()
    exporter = ExporterProcess(settings, "x").start()
    latencies: list[float] = []
    covered: list[float] = []
    sent: collections.deque[tuple[float, float]] = collections.deque()  # (occurred_at, sent)
    done = threading.Event()
    ready = threading.Event()

    async def watch() -> None:
        consumer = AIOKafkaConsumer(settings.topic_metrics,
                                    bootstrap_servers=settings.bootstrap_servers,
                                    group_id=None, auto_offset_reset="earliest")  # fmt: skip
        await consumer.start()
        try:
            while not done.is_set():
                batch = await consumer.getmany(timeout_ms=100)
                now = time.time()
                for records in batch.values():
                    for record in records:
                        if record.key != b"all:all":
                            continue
                        ready.set()
                        as_of = datetime.fromisoformat(orjson.loads(record.value)["as_of"])
                        if as_of.timestamp() > started_at:
                            latencies.append(now - as_of.timestamp())
                        # Every event sent up to as_of is in the feed from now on.
                        while sent and sent[0][0] <= as_of.timestamp():
                            covered.append(now - sent.popleft()[1])
        finally:
            await consumer.stop()

    def stamp(measured: bool) -> str:
        moment = datetime.now(UTC)
        text = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if measured:
            sent.append((datetime.fromisoformat(text).timestamp(), time.time()))
        return text

    async def produce(count: int, first: int) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=1)
        await producer.start()
        try:
            begin = time.monotonic()
            for i in range(count):
                delay = begin + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                conv = f"cv-{first + i // 3}"
                kind = i % 3
                body: dict[str, Any] = {"event_id": f"e-{first}-{i}",
                                        "occurred_at": stamp(first > 0),
                                        "conversation_id": conv}  # fmt: skip
                if kind == 0:
                    body |= {"type": "conversation.created", "channel_id": "ch-1",
                             "contact_profile_id": "c1", "url": "https://x",
                             "language": "en"}  # fmt: skip
                    topic = settings.topic_conversations
                elif kind == 1:
                    body |= {"type": "message.created", "message_id": f"m-{conv}",
                             "direction": "INBOUND", "sender": {"kind": "CONTACT", "id": "c1"},
                             "team_id": None, "message_type": "DIRECT_MESSAGE", "origin": "INBOX",
                             "outbound_type": None, "system_user_type": None, "content": "hi",
                             "post_url": None}  # fmt: skip
                    topic = settings.topic_messages
                else:
                    body |= {"type": "conversation.status_changed", "status": "NEW",
                             "actor": {"kind": "SYSTEM", "id": None}, "team_id": None,
                             "started_by": "NEW_INBOUND_MESSAGE", "handover_reason": None,
                             "inbound_message_id": f"m-{conv}"}  # fmt: skip
                    topic = settings.topic_conversations
                await producer.send(topic, orjson.dumps(body), key=conv.encode())
            await producer.flush()
        finally:
            await producer.stop()

    started_at = time.time() + 1e9  # nothing counts during warm-up
    watcher = threading.Thread(target=lambda: asyncio.run(watch()), daemon=True)
    watcher.start()
    try:
        asyncio.run(produce(30, 0))  # warm-up: the worker joins, the feed starts
        wait_until(lambda: ready.is_set() or None, 180, "the first feed record")
        cpu_before = {"worker": _cpu_s(worker.proc.pid), "exporter": _cpu_s(exporter.proc.pid)}  # type: ignore[union-attr]
        started_at = time.time()
        t0 = time.monotonic()
        asyncio.run(produce(int(rate * seconds), 1_000_000))
        time.sleep(3)  # the last events' feed records (measured, not synchronised on)
        elapsed = time.monotonic() - t0
        cpu = {k: round((_cpu_s(p.proc.pid) - cpu_before[k]) / elapsed, 3)  # type: ignore[union-attr]
               for k, p in (("worker", worker), ("exporter", exporter))}  # fmt: skip
        with urllib.request.urlopen("http://127.0.0.1:19465/metrics", timeout=10) as response:
            text = response.read().decode()
        emitted = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name.startswith("streamproc_feed_emit_seconds_")
                   and s.name.endswith(("_sum", "_count"))}  # fmt: skip
    finally:
        done.set()
        exporter.stop()
        worker.stop()
    print(json.dumps({
        "rate_events_per_s": rate, "seconds": seconds, "feed_interval_s": interval,
        "produce_to_feed_every_event": _quantiles(covered),
        "newest_event_age_per_all_record": _quantiles(latencies),
        "cpu_cores": cpu,
        "feed_emit": {"count": emitted.get("streamproc_feed_emit_seconds_count"),
                      "mean_ms": round(1000 * emitted["streamproc_feed_emit_seconds_sum"]
                                       / max(1, emitted["streamproc_feed_emit_seconds_count"]), 2)},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
