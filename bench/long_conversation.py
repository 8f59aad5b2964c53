"""Long conversation through Kafka: one N-event conversation against N events over many.

Black box on the real broker: a running worker (joined, tables ready, its Prometheus
``/metrics`` on a port of its own) gets a burst of N events produced as fast as the
producer goes, and the drain is timed from the first send to the last event counted by
the worker (``streamproc_events_total``: applied, duplicate, dead-lettered or
re-routed); the worker's CPU seconds (``process_cpu_seconds_total``) and its time applying
batches over the same span are reported beside it, unaffected by how fast the producer
goes. The two workloads are timed alternately, each on fresh topics with a fresh worker.
``python -m bench.long_conversation`` prints JSON (``bench.run`` includes it).
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from streamproc.settings import Settings
from streamproc.testing import long_conversation as lc
from streamproc.testing.produce import produce_lines
from streamproc.topics import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
RATIO_TARGET = 2.0


def one_conversation(events: int) -> list[bytes]:
    """One conversation of ``events`` events, in order."""
    return list(lc.events("long-1", events))


def spread(events: int, conversations: int) -> list[bytes]:
    """``events`` events over ``conversations`` conversations of equal length, the
    conversations interleaved (the n-th event of each, then the next)."""
    per = max(1, events // conversations)
    logs = [list(lc.events(f"conv-{i}", per)) for i in range(conversations)]
    return [logs[i][n] for n in range(per) for i in range(conversations)]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the worker's /metrics)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """The worker's counters: events by outcome (and dead letters by category), changelog
    bytes written, its CPU seconds and the seconds spent applying batches."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("streamproc_events_total{"):
            labels, value = line.rsplit(" ", 1)
            outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
            category = labels.split('category="', 1)[1].split('"', 1)[0]
            names = ["events", outcome] + ([f"dead_lettered_{category}"] if category else [])
            for name in names:
                found[name] = found.get(name, 0.0) + float(value)
        elif line.startswith(("process_cpu_seconds_total ", "streamproc_batch_apply_seconds_sum ")):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
        elif line.startswith("streamproc_changelog_bytes_total{"):
            value = line.rsplit(" ", 1)[1]
            found["changelog_bytes"] = found.get("changelog_bytes", 0.0) + float(value)
    return found


def counters(port: int) -> dict[str, float] | None:
    try:
        return scrape(port)
    except OSError:
        return None  # not serving yet


def wait_for(
    condition: Callable[[], dict[str, float] | None],
    alive: Callable[[], bool],
    timeout_s: float,
    what: str,
    poll_s: float,
) -> dict[str, float]:
    """Poll the worker's counters until ``condition`` holds (the worker must stay up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value is not None:
            return value
        if not alive():
            raise RuntimeError(f"the worker exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)  # polling the worker's counters, not synchronisation


def drain(base: Settings, work: Path, lines: list[bytes], timeout_s: float) -> dict[str, float]:
    """Start a worker on fresh topics, warm it with one directory event, then produce
    ``lines`` and time them until the worker has counted every one."""
    from bench.run import Worker  # the benchmarks' worker process

    ns = f"bench-long-{uuid.uuid4().hex[:8]}"
    settings = replace(base.namespaced(ns, work / ns), metrics_port=free_port())
    asyncio.run(ensure_topics(settings))
    worker = Worker(settings, "w").start()

    def alive() -> bool:
        return worker.proc is not None and worker.proc.poll() is None

    port = settings.metrics_port
    try:
        asyncio.run(produce_lines(settings, [lc.agent("agent-1", lc.START)]))

        def warm() -> dict[str, float] | None:
            got = counters(port)
            return got if got and got.get("events", 0) >= 1 else None

        before = wait_for(warm, alive, 180, "the worker to take its first event", 0.2)
        target = before["events"] + len(lines)
        started = time.monotonic()
        produced = asyncio.run(produce_lines(settings, lines))

        def done() -> dict[str, float] | None:
            got = counters(port)
            return got if got and got.get("events", 0) >= target else None

        after = wait_for(done, alive, timeout_s, f"{len(lines):,} events to be counted", 0.05)
        seconds = time.monotonic() - started
    finally:
        worker.stop()

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    return {
        "seconds": seconds,
        "produce_s": produced.elapsed_s,
        "events_per_s": len(lines) / seconds,
        "worker_cpu_s": grew("process_cpu_seconds_total"),
        "batch_apply_s": grew("streamproc_batch_apply_seconds_sum"),
        "changelog_bytes_per_event": grew("changelog_bytes") / len(lines),
        "dead_lettered": grew("dead_lettered"),
        "dead_lettered_too_large": grew("dead_lettered_too_large"),
    }


def summary(values: list[float]) -> dict[str, float]:
    """Median, min and max of the runs."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def long_conversation(
    base: Settings,
    work: Path,
    events: int = 20_000,
    conversations: int = 2_000,
    runs: int = 3,
    timeout_s: float = 900,
) -> dict[str, Any]:
    """Drain times of one ``events``-event conversation and of ``events`` events over
    ``conversations`` conversations, alternating which goes first; their ratio."""
    workloads = {"one": one_conversation(events), "spread": spread(events, conversations)}
    results: dict[str, list[dict[str, float]]] = {"one": [], "spread": []}
    ratios: dict[str, list[float]] = {"seconds": [], "worker_cpu_s": [], "batch_apply_s": []}
    for run in range(runs):
        order = ("one", "spread") if run % 2 == 0 else ("spread", "one")
        for name in order:
            results[name].append(drain(base, work, workloads[name], timeout_s))
        for key, values in ratios.items():
            spread_value = results["spread"][-1][key]
            values.append(results["one"][-1][key] / spread_value if spread_value else math.inf)
    ratio = statistics.median(ratios["seconds"])
    complete = all(r["dead_lettered"] == 0 for rs in results.values() for r in rs)

    def figures(rows: list[dict[str, float]]) -> dict[str, Any]:
        return {key: summary([r[key] for r in rows]) for key in rows[0]}

    return {
        "events": {name: len(lines) for name, lines in workloads.items()},
        "conversations": {"one": 1, "spread": conversations},
        "runs": runs,
        "one_conversation": figures(results["one"]),
        "spread": figures(results["spread"]),
        "ratio_one_to_spread": {**summary(ratios["seconds"]), "runs": ratios["seconds"]},
        "cpu_ratio_one_to_spread": summary(ratios["worker_cpu_s"]),
        "apply_ratio_one_to_spread": summary(ratios["batch_apply_s"]),
        "target": {"ratio_max": RATIO_TARGET},
        "targets_met": {
            "ratio": ratio <= RATIO_TARGET,
            "nothing_dead_lettered": complete,
            "all": ratio <= RATIO_TARGET and complete,
        },
    }


@click.command()
@click.option("--events", type=click.IntRange(10), default=20_000, show_default=True,
              help="Events in each workload.")  # fmt: skip
@click.option("--conversations", type=click.IntRange(1), default=2_000, show_default=True,
              help="Conversations the spread workload's events are spread over.")  # fmt: skip
@click.option("--runs", type=click.IntRange(1, 9), default=3, show_default=True,
              help="Drains of each workload (figures: median, min, max).")  # fmt: skip
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=10), default=900,
              show_default=True, help="Seconds allowed for one drain.")  # fmt: skip
def main(events: int, conversations: int, runs: int, timeout_s: float) -> None:
    """Time one long conversation against the same events over many conversations, on
    the broker of STREAMPROC_BOOTSTRAP_SERVERS (e.g. `streamproc kafka up`)."""
    if conversations > events:
        raise click.BadParameter(
            f"{conversations} conversations for {events} events: give at most one "
            "conversation per event",
            param_hint="--conversations",
        )
    base = replace(Settings.from_env(), event_max_age_days=36_500)  # traffic dated 2026-11
    (ROOT / ".data").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="streamproc-bench-long-", dir=ROOT / ".data"))
    report = long_conversation(base, work, events, conversations, runs, timeout_s)
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
