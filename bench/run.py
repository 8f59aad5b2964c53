"""Benchmarks on the real local broker, each against a baseline measured in the same run."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamproc.changelog import changelog_topic
from streamproc.events import EVENT_TYPES, InvalidEvent, parse_event
from streamproc.exits import EXIT_STALLED
from streamproc.intake import partition_for_key
from streamproc.keys import parse_segment_key
from streamproc.metrics.conversation_log import read_log
from streamproc.security import client_kwargs
from streamproc.settings import Settings, settings_to_env
from streamproc.testing.produce import produce_lines
from streamproc.testing.simulate import SimulationConfig, simulate
from streamproc.topics import committed_offsets, consumer_lag, ensure_topics, partition_counts

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def namespaced(base: Settings, work: Path) -> Settings:
    """Fresh topics and app id for one measurement."""
    ns = f"bench-{uuid.uuid4().hex[:8]}"
    return base.namespaced(ns, work / ns)


def summary(values: list[float]) -> dict[str, float]:
    """Median, min and max of a measurement's runs."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def workload(events: int, cache: Path) -> list[bytes]:
    """Simulated traffic of at least ``events`` lines (cached by size)."""
    path = cache / f"events-{events}.jsonl"
    if not path.exists():
        days = max(1, events // 40_000)
        per_day = max(50, events // days // 14)
        lines = list(simulate(SimulationConfig(seed=7, days=days, conversations=per_day)))
        while len(lines) < events:
            days += 1
            lines = list(simulate(SimulationConfig(seed=7, days=days, conversations=per_day)))
        cache.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\n".join(lines[:events]) + b"\n")
    return path.read_bytes().splitlines()


async def preload(settings: Settings, lines: list[bytes]) -> None:
    await ensure_topics(settings)
    await produce_lines(settings, lines)


async def baseline_read(settings: Settings, total: int) -> float:
    """Raw aiokafka getmany + orjson decode of every inbound record: events/s."""
    counts = await partition_counts(settings, list(settings.inbound_topics))
    tps = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        started = time.perf_counter()
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for record in records:
                    try:
                        orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        pass
                    seen += 1
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


RESTARTS: list[str] = []
"""Logs of workers the benchmark restarted after a stall exit (75), in this process."""


class Worker:
    """A `streamproc worker` subprocess."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = replace(settings, tables_dir=settings.data_dir / f"tables-{name}")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = settings.data_dir / f"worker-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamproc", "worker", "--loglevel", "warning"],
                env={**os.environ, **settings_to_env(self.settings)},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def exited(self) -> bool:
        """Whether the worker is gone for good. A worker that exited with 75 (the stall
        watchdog: a partition with pending records and no commit for the stall timeout)
        is restarted, as its supervisor would in a deployment, and counted in
        ``RESTARTS``; any other exit ends the measurement."""
        if self.proc is None or self.proc.poll() is None:
            return False
        if self.proc.returncode == EXIT_STALLED:
            RESTARTS.append(str(self.log))
            self.start()
            return False
        return True

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def lag(settings: Settings) -> int:
    return asyncio.run(consumer_lag(settings, settings.app_id, list(settings.consumed_topics)))


class LagPoll:
    """The worker group's lag (end offsets - committed), read every poll through one
    admin client and one consumer kept for the whole drain. (A new admin client and
    consumer per poll, two a second, cost the 2-core machine a share of a core that the
    workers being measured then lacked.)"""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.admin: AIOKafkaAdminClient | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.tps: list[TopicPartition] = []

    def __enter__(self) -> LagPoll:
        self.loop.run_until_complete(self._start())
        return self

    def __exit__(self, *_exc: object) -> None:
        self.loop.run_until_complete(self._stop())
        self.loop.close()

    async def _start(self) -> None:  # (clients are made inside their loop)
        self.admin = AIOKafkaAdminClient(**client_kwargs(self.settings))
        await self.admin.start()
        self.consumer = AIOKafkaConsumer(**client_kwargs(self.settings), group_id=None)
        await self.consumer.start()
        counts = await partition_counts(self.settings, list(self.settings.consumed_topics))
        self.tps = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]

    async def _stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.admin is not None:
            await self.admin.close()

    def lag(self) -> int:
        return self.loop.run_until_complete(self._lag())

    async def _lag(self) -> int:
        assert self.admin is not None and self.consumer is not None  # (see __enter__)
        committed = await committed_offsets(self.admin, self.settings.app_id, self.tps)
        ends = await self.consumer.end_offsets(self.tps)
        return sum(max(0, ends[tp] - committed[tp]) for tp in self.tps)


def drain(settings: Settings, total: int, workers: int, timeout_s: float = 3600) -> float:
    """Workers drain preloaded topics: events/s from the first commit to lag 0."""
    procs = [Worker(settings, f"w{i}").start() for i in range(workers)]
    try:
        with LagPoll(settings) as poll:
            started = time.monotonic()
            deadline = started + timeout_s
            first: tuple[float, int] | None = None
            while True:
                remaining = poll.lag()
                now = time.monotonic()
                if first is None and remaining < total:
                    first = (now, remaining)
                if remaining == 0 and first is not None:
                    if first[1] > 0:
                        return first[1] / max(now - first[0], 1e-9)
                    # Drained before a second look (tiny runs): count the start-up too.
                    return total / max(now - started, 1e-9)
                if now > deadline or any(p.exited() for p in procs):
                    raise RuntimeError(
                        f"drain did not finish (lag {remaining}); see {settings.data_dir}"
                    )
                time.sleep(0.5)  # polling the group's lag, not synchronisation
    finally:
        for proc in procs:
            proc.stop()


def drain_joining(settings: Settings, total: int, join_at: float = 0.3) -> dict[str, float]:
    """One worker drains preloaded topics; a second joins once ``join_at`` of the events
    are committed. Events/s from the first commit to lag 0 (as :func:`drain`), and the
    seconds from the second worker's start until the group moves again."""
    procs = [Worker(settings, "w0").start()]
    try:
        with LagPoll(settings) as poll:
            started = time.monotonic()
            deadline = started + 3600
            first: tuple[float, int] | None = None
            joined_at: float | None = None
            while True:
                remaining = poll.lag()
                now = time.monotonic()
                if first is None and remaining < total:
                    first = (now, remaining)
                if joined_at is None and remaining <= total * (1 - join_at):
                    procs.append(Worker(settings, "w1").start())
                    joined_at = now
                    joined_lag = remaining
                if remaining == 0 and first is not None and joined_at is not None:
                    return {
                        "events_per_s": first[1] / max(now - first[0], 1e-9),
                        "after_join_events_per_s": joined_lag / max(now - joined_at, 1e-9),
                        "joined_at_lag": joined_lag,
                    }
                if remaining == 0 and joined_at is None:
                    raise RuntimeError("drained before the second worker joined: use more events")
                if now > deadline or any(p.exited() for p in procs):
                    raise RuntimeError(
                        f"drain did not finish (lag {remaining}); see {settings.data_dir}"
                    )
                time.sleep(0.5)  # polling the group's lag, not synchronisation
    finally:
        for proc in procs:
            proc.stop()


def joining(
    base: Settings, work: Path, lines: list[bytes], runs: int, standby_replicas: int | None
) -> dict[str, Any]:
    """One worker alone, and one worker joined mid-drain by a second (with the batch
    recovery, Faust's per-record recovery, and warm standbys when asked), alternating on
    fresh topics per drain: events/s, median (min-max) of the runs."""
    variants: dict[str, Settings] = {
        "2_workers_joining": base,
        "2_workers_joining_faust_recovery": replace(base, recovery_apply="faust"),
    }
    if standby_replicas:
        variants["2_workers_joining_standbys"] = replace(base, standby_replicas=standby_replicas)
    one: list[float] = []
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(runs):
        settings = namespaced(base, work)
        asyncio.run(preload(settings, lines))
        one.append(drain(settings, len(lines), workers=1))
        for name, variant in variants.items():
            settings = namespaced(variant, work)
            asyncio.run(preload(settings, lines))
            results[name].append(drain_joining(settings, len(lines)))
    report: dict[str, Any] = {"events": len(lines), "1_worker_events_per_s": summary(one)}
    for name, found in results.items():
        rates = [r["events_per_s"] for r in found]
        report[f"{name}_events_per_s"] = summary(rates)
        report[f"{name}_after_join_events_per_s"] = summary(
            [r["after_join_events_per_s"] for r in found]
        )
        report[f"{name}_ratio_to_1_worker"] = statistics.median(rates) / statistics.median(one)
    return report


def freshness(
    settings: Settings, lines: list[bytes], rate: float, seconds: float
) -> dict[str, float]:
    """Produce at ``rate`` while a worker runs; latency from produce to the table update
    (the conversation changelog record carrying the event), p50/p99 in ms, measured on
    the events of one conversation in ten. Half of those conversations (5% of the
    traffic) are published on the partition after their key's, so the worker re-routes
    them: their latency is reported apart (``rerouted_*``)."""
    sent_at: dict[str, float] = {}
    rerouted_at: dict[str, float] = {}
    conversation_lines: list[tuple[str, str, bytes, bytes]] = []
    seen: set[str] = set()
    for line in lines:
        try:
            event = parse_event(line)
        except InvalidEvent:
            continue  # the workload's malformed lines would go to the dead-letter topic
        if event.type.startswith("conversation.") and event.event_id not in seen:
            seen.add(event.event_id)
            topic = settings.topic_for_role(EVENT_TYPES[event.type].topic)
            conversation_lines.append((event.event_id, topic, event.key.encode(), line))
    # Latency is read for one conversation in ten: decoding every changelog record in
    # this process would take CPU from the worker on a 2-core machine.
    sampled = {key for _, _, key, _ in conversation_lines if zlib.crc32(key) % 10 == 0}
    rerouted = {key for key in sampled if zlib.crc32(key) % 20 == 10}
    partitions = settings.events_partitions
    rate = max(rate, 20.0)
    count = min(len(conversation_lines), max(40, int(rate * seconds)))
    chosen = conversation_lines[:count]
    asyncio.run(ensure_topics(settings))
    worker = Worker(settings, "fresh").start()
    latencies: list[float] = []
    rerouted_latencies: list[float] = []
    try:
        # Let the worker join and create its tables before measuring.
        asyncio.run(produce_lines(settings, [chosen[0][3]]))
        deadline = time.monotonic() + 120
        while lag(settings) != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        topic = changelog_topic(settings, "segments")
        done = threading.Event()

        async def watch() -> None:
            consumer = AIOKafkaConsumer(
                topic,
                **client_kwargs(settings),
                group_id=None,
                auto_offset_reset="latest",
            )
            await consumer.start()
            try:
                while not done.is_set():
                    batch = await consumer.getmany(timeout_ms=200)
                    now = time.time()
                    for records in batch.values():
                        for record in records:
                            if record.value is None:
                                continue
                            conversation, _segment = parse_segment_key(record.key)
                            if conversation.encode() not in sampled:
                                continue
                            for entry in read_log(record.value):
                                t = sent_at.pop(entry.event_id, None)
                                if t is not None:
                                    latencies.append((now - t) * 1000)
                                t = rerouted_at.pop(entry.event_id, None)
                                if t is not None:
                                    rerouted_latencies.append((now - t) * 1000)
            finally:
                await consumer.stop()

        watcher = threading.Thread(target=lambda: asyncio.run(watch()), daemon=True)
        watcher.start()
        time.sleep(2)  # give the watcher time to subscribe at the latest offsets

        async def send() -> None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(**client_kwargs(settings), linger_ms=1)
            await producer.start()
            try:
                start = time.monotonic()
                for i, (event_id, topic, key, line) in enumerate(chosen[1:]):
                    delay = start + i / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if key in rerouted:
                        # The next partition: a wrong_partition re-route, one hop more.
                        rerouted_at[event_id] = time.time()
                        wrong = (partition_for_key(key, partitions) + 1) % partitions
                        await producer.send(topic, line, key=key, partition=wrong)
                        continue
                    if key in sampled:
                        sent_at[event_id] = time.time()
                    await producer.send(topic, line, key=key)
                await producer.flush()
            finally:
                await producer.stop()

        asyncio.run(send())
        deadline = time.monotonic() + 60
        while (sent_at or rerouted_at) and time.monotonic() < deadline:
            time.sleep(0.2)
        done.set()
        watcher.join(timeout=10)
    finally:
        worker.stop()
    direct = percentiles(latencies)
    via_reroute = percentiles(rerouted_latencies)
    return {
        **direct,
        "lost": len(sent_at),
        "rerouted_p50_ms": via_reroute["p50_ms"],
        "rerouted_p99_ms": via_reroute["p99_ms"],
        "rerouted_samples": via_reroute["samples"],
        "rerouted_lost": len(rerouted_at),
    }


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50 and p99 (ms) of latencies, and their count."""
    latencies = sorted(latencies)
    if not latencies:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "samples": 0}
    return {
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "samples": len(latencies),
    }


def freshness_report(rate: float, fresh: list[dict[str, float]]) -> dict[str, Any]:
    """The freshness runs' medians: direct events, and re-routed ones (one hop more)."""
    rerouted = [f for f in fresh if f["rerouted_samples"]]
    return {
        "rate_events_per_s": rate,
        "p50_ms": summary([f["p50_ms"] for f in fresh]),
        "p99_ms": summary([f["p99_ms"] for f in fresh]),
        "samples": sum(int(f["samples"]) for f in fresh),
        "rerouted_p50_ms": summary([f["rerouted_p50_ms"] for f in rerouted]) if rerouted else None,
        "rerouted_p99_ms": summary([f["rerouted_p99_ms"] for f in rerouted]) if rerouted else None,
        "rerouted_samples": sum(int(f["rerouted_samples"]) for f in fresh),
    }


def measure_export(db: Path, export_type: str, out: Path) -> dict[str, float]:
    """Run one export in a subprocess: rows/s and its peak RSS."""
    code = (
        "import sys,time,orjson; from bench.export_once import run;"
        "print(orjson.dumps(run(sys.argv[1], sys.argv[2], sys.argv[3])).decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(db), export_type, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def sqlite_dump(db: Path, query: str, out: Path) -> dict[str, float]:
    """The ceiling: sqlite3 -csv dumping the same rows from the same read model."""
    started = time.perf_counter()
    with out.open("wb") as handle:
        subprocess.run(["sqlite3", "-csv", str(db), query], stdout=handle, check=True)
    seconds = time.perf_counter() - started
    rows = sum(1 for _ in out.open("rb"))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


@click.command()
@click.option("--size", type=click.Choice(["smoke", "full"]), default="full")
@click.option("--runs", type=click.IntRange(1, 9), default=3)
@click.option(
    "--only",
    multiple=True,
    help="baseline|ingest|freshness|export|recovery|growth|long_conversation|join (join: a "
    "second worker joins a one-worker drain; not part of the default set) (repeatable)",
)
@click.option(
    "--events",
    type=click.IntRange(min=1000),
    default=None,
    help="Events in the workload instead of the size's (500k full, 3k smoke).",
)
@click.option(
    "--standby-replicas",
    type=click.IntRange(0, 1),
    default=None,
    help="With --only join: also measure the join with this many warm standbys.",
)
@click.option(
    "--freshness-rate",
    type=click.FloatRange(min=1),
    default=None,
    help="Measure freshness at this rate (events/s) instead of half the drain rate; with "
    "--only freshness, skips the drains.",
)
@click.option(
    "--growth-lengths",
    default=None,
    help="Conversation lengths for growth, comma-separated [full: 10,1000,100000; smoke: 10,100].",
)
@click.option(
    "--growth-populations",
    default=None,
    help="Conversations per bucket for growth [full: 10,1000,100000; smoke: 10,100].",
)
@click.option(
    "--long-conversation-events",
    type=click.IntRange(min=10),
    default=None,
    help="Events of the long conversation and of the spread workload it is compared with "
    "(spread over a tenth as many conversations) [full: 20,000; smoke: 400].",
)
def main(
    size: str,
    runs: int,
    only: tuple[str, ...],
    events: int | None,
    standby_replicas: int | None,
    freshness_rate: float | None,
    growth_lengths: str | None,
    growth_populations: str | None,
    long_conversation_events: int | None,
) -> None:
    """Run the benchmarks; results as JSON under bench/results/ and a table on stdout."""
    from bench.exportdb import build_readmodel
    from bench.growth import growth, sizes
    from bench.long_conversation import long_conversation
    from bench.recovery import recovery, recovery_run

    base = replace(Settings.from_env(), event_max_age_days=36_500)  # traffic dated 2026-11
    (ROOT / ".data").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="streamproc-bench-", dir=ROOT / ".data"))
    events = events or (500_000 if size == "full" else 3_000)
    export_rows = [250_000, 1_000_000] if size == "full" else [2_000, 8_000]
    recovery_keys = 1_000_000 if size == "full" else 5_000
    lines = workload(events, ROOT / ".data" / "bench-cache")
    report: dict[str, Any] = {
        "conditions": {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(),
            "events": len(lines),
            "runs": runs,
            "size": size,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    }
    default = {
        "baseline", "ingest", "freshness", "export", "recovery", "growth", "long_conversation"
    }  # fmt: skip
    known = default | {"join"}
    unknown = set(only) - known
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(sorted(unknown))}; choose from {', '.join(sorted(known))}",
            param_hint="--only",
        )
    wanted = set(only) or default
    if freshness_rate is not None and "freshness" in wanted:
        seconds = 30 if size == "full" else 8
        fresh = [
            freshness(namespaced(base, work), lines, freshness_rate, seconds) for _ in range(runs)
        ]
        report["freshness"] = freshness_report(freshness_rate, fresh)
        wanted.discard("freshness")
    if wanted & {"baseline", "ingest", "freshness"}:
        baseline, one, two = [], [], []
        for _ in range(runs):
            settings = namespaced(base, work)
            asyncio.run(preload(settings, lines))
            baseline.append(asyncio.run(baseline_read(settings, len(lines))))
            if "ingest" in wanted or "freshness" in wanted:
                one.append(drain(settings, len(lines), workers=1))
                second = namespaced(base, work)
                asyncio.run(preload(second, lines))
                two.append(drain(second, len(lines), workers=2))
        report["baseline_events_per_s"] = summary(baseline)
        if one:
            report["ingest_1_worker_events_per_s"] = summary(one)
            report["ingest_2_workers_events_per_s"] = summary(two)
            report["ingest_ratio_to_baseline"] = statistics.median(one) / statistics.median(
                baseline
            )
        if "freshness" in wanted:
            rate = statistics.median(one) / 2
            seconds = 30 if size == "full" else 8
            fresh = [freshness(namespaced(base, work), lines, rate, seconds) for _ in range(runs)]
            report["freshness_at_half_load"] = freshness_report(rate, fresh)
    if "export" in wanted:
        exports: dict[str, Any] = {}
        for rows in export_rows:
            db = build_readmodel(work / f"readmodel-{rows}.sqlite", rows)
            for export_type, query in (
                ("messages", "SELECT * FROM messages ORDER BY created_t, message_id"),
                (
                    "conversations_resolved",
                    "SELECT * FROM conversations ORDER BY created_t, conversation_id",
                ),
            ):
                ours = [
                    measure_export(db, export_type, work / f"{export_type}.csv")
                    for _ in range(runs)
                ]
                ceiling = [
                    sqlite_dump(db, query, work / f"{export_type}-sqlite.csv") for _ in range(runs)
                ]
                exports[f"{export_type}@{rows}"] = {
                    "rows": ours[0]["rows"],
                    "rows_per_s": summary([r["rows_per_s"] for r in ours]),
                    "peak_rss_mb": summary([r["peak_rss_mb"] for r in ours]),
                    "worker_peak_rss_mb": summary([r["worker_peak_rss_mb"] for r in ours]),
                    "sqlite3_rows_per_s": summary([r["rows_per_s"] for r in ceiling]),
                    "ratio_to_sqlite3": statistics.median([r["rows_per_s"] for r in ours])
                    / statistics.median([r["rows_per_s"] for r in ceiling]),
                }
        report["export"] = exports
    if "recovery" in wanted:
        runs_of_recovery = [
            recovery_run(namespaced(base, work), recovery_keys) for _ in range(runs)
        ]
        report["recovery"] = recovery(runs_of_recovery, recovery_keys)
    if "join" in wanted:
        report["join"] = joining(base, work, lines, runs, standby_replicas)
    if "growth" in wanted:
        report["growth"] = growth(
            sizes(growth_lengths or ("10,1000,100000" if size == "full" else "10,100")),
            sizes(growth_populations or ("10,1000,100000" if size == "full" else "10,100")),
            sample=2000 if size == "full" else 20,
            runs=runs,
        )
    if "long_conversation" in wanted:
        long_events = long_conversation_events or (20_000 if size == "full" else 400)
        report["long_conversation"] = long_conversation(
            base, work, long_events, max(1, long_events // 10), runs
        )
    # Stall exits (75) the drains restarted, as a supervisor would: each one is a
    # partition that went 45 s without a commit, and part of the figures above.
    report["worker_restarts"] = {"count": len(RESTARTS), "logs": list(RESTARTS)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"{report['conditions']['started'].replace(':', '')}-{size}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2))
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
