"""Acceptance: chaos on the real broker, then every export byte-identical to the batch oracle.

Size: STREAMPROC_ACCEPTANCE=full (make acceptance: ≥ 50k events over a week) or the small
CI instance (default). The report is written to $STREAMPROC_ACCEPTANCE_REPORT if set.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.request import parse_request
from streamproc.changelog import read_table, read_to_end
from streamproc.settings import Settings
from streamproc.testing import broker
from streamproc.testing.oracle import run_oracle
from streamproc.testing.produce import RouteFn, produce_lines, route_line
from streamproc.topics import ensure_topics, lag_by_partition
from tests.harness import (
    ExporterProcess,
    WorkerProcess,
    export_requests,
    first_difference,
    request_export,
    run_cli,
    wait_until,
)
from tests.integration.test_live_feed import (
    assert_all_equals_the_oracle,
    expected_feed,
    wait_for_exact_feed,
)

pytestmark = pytest.mark.integration

FULL = os.environ.get("STREAMPROC_ACCEPTANCE") == "full"
SIZE = {"days": 7, "conversations": 560} if FULL else {"days": 2, "conversations": 60}
PRODUCE_SECONDS = 60 if FULL else 12


@dataclass
class Report:
    """What the run did, for docs/acceptance.md."""

    size: str = "full" if FULL else "ci"
    lines: int = 0
    valid_unique: int = 0
    duplicates: int = 0
    malformed: int = 0
    worker_kills: list[str] = field(default_factory=list)
    broker_restarts: int = 0
    workers_restarted_after_exit: int = 0
    misrouted_sent: dict[str, int] = field(default_factory=dict)
    rerouted_counted: int = 0
    exports_compared: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


class Workers:
    """Two worker processes; ``supervise`` restarts one that exited (as systemd would)."""

    def __init__(self, settings: Settings, report: Report) -> None:
        self.settings = settings
        self.report = report
        self.procs = {name: WorkerProcess(settings, name).start() for name in ("a", "b")}

    def kill(self, name: str) -> None:
        self.procs[name].kill()
        self.report.worker_kills.append(name)
        self.procs[name] = WorkerProcess(self.settings, name).start()

    def supervise(self) -> None:
        for name, proc in self.procs.items():
            if proc.proc is not None and proc.proc.poll() is not None:
                self.report.workers_restarted_after_exit += 1
                self.procs[name] = WorkerProcess(self.settings, name).start()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {n}:\n{p.log_tail(80)}" for n, p in self.procs.items())


def misrouting(
    settings: Settings, lines: list[bytes], share: float = 0.1, seed: int = 13
) -> tuple[RouteFn, Counter[str]]:
    """A producer that sends about ``share`` of the events elsewhere than the contract says
    (no key, a random key, another inbound topic), for the workers to re-route; and the
    count of what it sent that way, by how (filled while producing).

    Presence changes are misrouted by whole agents, with a key of their own: an agent's
    changes then keep their order through the hop. (Scattered over partitions, they would
    be reordered by the hop's delay; at this replay speed, 12 s for two days, a second of
    delay is four hours of event time, beyond the lateness bound.)
    """
    rng = random.Random(seed)
    agents = sorted(
        {key for topic, key in map(partial(route_line, settings), lines)
         if topic == settings.topic_presence and key is not None}
    )  # fmt: skip
    misrouted_agents = set(rng.sample(agents, max(1, round(len(agents) * share))))
    sent: Counter[str] = Counter()
    others = [t for t in settings.inbound_topics if t != settings.topic_presence]

    def route(settings: Settings, line: bytes) -> tuple[str, bytes | None]:
        topic, key = route_line(settings, line)
        if key is None:  # not a valid event
            return topic, key
        if topic == settings.topic_presence:
            if key in misrouted_agents:
                sent["presence_own_key"] += 1
                return topic, b"presence-of-" + key
            return topic, key
        if rng.random() >= share:
            return topic, key
        how = rng.choice(["no_key", "random_key", "other_topic"])
        sent[how] += 1
        if how == "no_key":
            return topic, None
        if how == "random_key":
            return topic, f"random-{rng.randrange(10**9)}".encode()
        return rng.choice([t for t in others if t != topic]), key

    return route, sent


def test_chaos_then_every_export_equals_the_oracle(
    kafka: Settings, isolated: Settings, tmp_path: Path
) -> None:
    report = Report()
    started = time.monotonic()
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        isolated, "simulate", "--seed", "2026", "--days", str(SIZE["days"]),
        "--conversations", str(SIZE["conversations"]), "--duplicates", "0.05",
        "--shuffle-seconds", "300", "--malformed", "0.005", "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    lines = events.read_bytes().splitlines()
    report.lines = len(lines)
    summary = simulated.stderr
    for name in ("duplicates", "malformed"):
        row = next(r for r in summary.splitlines() if r.startswith(name))
        setattr(report, name, int(row.split()[1].replace(",", "")))
    report.valid_unique = report.lines - report.duplicates - report.malformed
    asyncio.run(ensure_topics(isolated))
    workers = Workers(isolated, report)
    exporter = ExporterProcess(isolated, "x").start()
    rng = random.Random(7)
    produced = threading.Event()

    route, misrouted = misrouting(isolated, lines)

    def produce() -> None:
        rate = len(lines) / PRODUCE_SECONDS
        asyncio.run(produce_lines(isolated, lines, rate=rate, route=route))
        produced.set()

    producer = threading.Thread(target=produce, daemon=True)
    try:
        producer.start()
        # Chaos while events flow: three SIGKILLs at random points, one broker restart.
        kill_at = sorted(rng.uniform(0.1, 0.9) for _ in range(3))
        restart_at = rng.uniform(0.3, 0.7)
        t0 = time.monotonic()
        while not produced.is_set():
            progress = (time.monotonic() - t0) / PRODUCE_SECONDS
            if kill_at and progress >= kill_at[0]:
                kill_at.pop(0)
                workers.kill(rng.choice(["a", "b"]))
            if restart_at is not None and progress >= restart_at:
                restart_at = None
                broker.down(kafka)
                broker.up(kafka, timeout_s=120)
                report.broker_restarts += 1
            workers.supervise()
            produced.wait(timeout=0.2)
        producer.join(timeout=60)
        while kill_at:  # production outran the plan: kill the rest now
            kill_at.pop(0)
            workers.kill(rng.choice(["a", "b"]))
        report.seconds["produce"] = round(time.monotonic() - t0, 1)

        lagging: dict[Any, int] = {}

        def drained() -> bool:
            workers.supervise()
            lagging.clear()
            lagging.update(
                asyncio.run(
                    lag_by_partition(isolated, isolated.app_id, list(isolated.consumed_topics))
                )
            )
            return not lagging

        try:
            wait_until(drained, 900 if FULL else 300, "the workers to drain the topics", 1.0)
        except AssertionError as exc:
            pending = ", ".join(f"{tp.topic}/{tp.partition}: {n}" for tp, n in lagging.items())
            raise AssertionError(f"{exc}\nuncommitted: {pending}\n{workers.logs()}") from None
        report.seconds["ingest"] = round(time.monotonic() - t0, 1)
        # Every misrouted record was re-routed, and counted once whatever the crashes.
        report.misrouted_sent = dict(misrouted)
        reroutes = asyncio.run(read_table(isolated, "reroutes_by_partition"))
        report.rerouted_counted = sum(orjson.loads(v)["n"] for v in reroutes.values())

        # Every export through the command topic; each CSV against the oracle at its as_of.
        requests = export_requests(SIZE["days"])
        for request in requests:
            request_export(isolated, request)

        def answered() -> dict[str, dict[str, Any]] | None:
            exporter.assert_alive()
            records = asyncio.run(read_to_end(isolated, isolated.topic_export_results))
            results = {r["request_id"]: r for r in (orjson.loads(x.value) for x in records)}
            return results if all(r["request_id"] in results for r in requests) else None

        results = wait_until(answered, 900 if FULL else 300, "every export result", poll_s=1.0)
        t1 = time.monotonic()
        for request in requests:
            result = results[request["request_id"]]
            label = (
                f"{request['export_type']} {request.get('timezone')} {request.get('locale', '')}"
            )
            assert result["status"] == "succeeded", f"{label}: {result.get('error')}"
            oracle_csv = tmp_path / f"oracle-{request['request_id']}.csv"
            run_oracle(
                events,
                parse_request(request),
                datetime.fromisoformat(result["as_of"]),
                oracle_csv,
                lock_max_s=isolated.lock_max_s,
            )
            ours = Path(result["path"]).read_bytes()
            theirs = oracle_csv.read_bytes()
            report.exports_compared += 1
            if ours != theirs:
                report.mismatches.append(f"{label}: {first_difference(ours, theirs)}")
        report.seconds["compare"] = round(time.monotonic() - t1, 1)
        # The metrics feed after the chaos: every key's last record is exact (docs/live.md).
        as_of, expected = expected_feed(lines, isolated.feed_timezone, tmp_path / "feed.sqlite")
        last = wait_for_exact_feed(isolated, expected, exporter.assert_alive, 120)
        assert_all_equals_the_oracle(last["all:all"], lines, as_of, "UTC", isolated.lock_max_s)
        report.seconds["total"] = round(time.monotonic() - started, 1)
        target = os.environ.get("STREAMPROC_ACCEPTANCE_REPORT")
        if target:
            Path(target).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        assert len(report.worker_kills) == 3 and report.broker_restarts == 1
        assert report.rerouted_counted == sum(misrouted.values()) > report.lines // 20
        assert not report.mismatches, "\n".join(report.mismatches)
    finally:
        exporter.stop()
        workers.stop()
        if not broker.status(kafka).running:
            broker.up(replace(kafka), timeout_s=120)
