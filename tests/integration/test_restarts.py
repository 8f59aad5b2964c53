"""Two workers, one SIGKILLed mid-stream and restarted: nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import orjson
import pytest

from streamproc.changelog import read_table, read_to_end
from streamproc.settings import Settings
from streamproc.testing.produce import produce_lines
from streamproc.topics import ensure_topics
from tests.expectations import Expected, mismatches, snapshot
from tests.harness import WorkerProcess, run_cli, wait_until

pytestmark = pytest.mark.integration


def test_sigkilled_worker_resumes_from_the_changelogs(isolated: Settings, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        isolated, "simulate", "--seed", "23", "--days", "1", "--conversations", "150",
        "--malformed", "0.01", "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    lines = events.read_bytes().splitlines()
    expected = Expected(lines)
    asyncio.run(ensure_topics(isolated))
    a = WorkerProcess(isolated, "a").start()
    b = WorkerProcess(isolated, "b").start()
    producer = threading.Thread(
        target=lambda: asyncio.run(produce_lines(isolated, lines, rate=len(lines) / 12))
    )
    try:
        producer.start()

        def some_state() -> bool:
            a.assert_alive()
            return len(asyncio.run(read_table(isolated, "conversations"))) > 30

        wait_until(some_state, 120, "the workers to apply some events")
        a.kill()  # mid-stream: no commit, no flush, local RocksDB left as it was
        a_again = WorkerProcess(isolated, "a").start()  # same table state dir as the killed one
        producer.join(timeout=120)
        assert not producer.is_alive()

        workers = {"a": a_again, "b": b}

        def state_complete() -> bool:
            for name, worker in workers.items():
                # Like systemd or compose: a worker that stopped itself (stall watchdog,
                # failed send) is restarted; any other exit fails the test.
                if worker.proc is not None and worker.proc.poll() in (70, 71, 75):
                    restarts.append(f"{name}: exit {worker.proc.returncode}")
                    workers[name] = WorkerProcess(isolated, name).start()
                workers[name].assert_alive()
            return not mismatches(snapshot(isolated), expected)

        restarts: list[str] = []

        try:
            wait_until(state_complete, 240, "the tables to hold every valid event", poll_s=1.0)
        except AssertionError:
            problems = mismatches(snapshot(isolated), expected)
            raise AssertionError(
                f"{problems} (restarts: {restarts})\n--- a:\n{workers['a'].log_tail()}"
                f"\n--- b:\n{workers['b'].log_tail()}"
            ) from None

        # Dead letters are at-least-once (a replay after the kill may repeat one); the
        # counters count each rejected offset once.
        dead = asyncio.run(read_to_end(isolated, isolated.topic_deadletter))
        assert {r.value for r in dead} == set(expected.invalid_lines)
        counters = asyncio.run(read_table(isolated, "rejections_by_partition"))
        assert sum(orjson.loads(v)["n"] for v in counters.values()) == len(expected.invalid_lines)
        for worker in workers.values():
            worker.stop()
    finally:
        producer.join(timeout=5)
        for worker in (a, b, *locals().get("workers", {}).values()):
            worker.kill()
