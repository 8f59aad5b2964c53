"""Random and mutated records on the real broker: the worker survives, each lands somewhere."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest

from streamproc.changelog import read_to_end
from streamproc.events import EVENT_TYPES
from streamproc.produce import produce_lines
from streamproc.settings import Settings
from streamproc.simulate import SimulationConfig, simulate
from streamproc.topics import ensure_topics
from tests.expectations import Expected, caught_up, mismatches, snapshot
from tests.harness import WorkerProcess, wait_until

pytestmark = pytest.mark.integration

JUNK: list[Any] = [
    None,
    True,
    0,
    -1,
    2**40,
    1.5,
    "",
    "x" * 300,
    [],
    {},
    [1, {"a": None}],
    "é\u0000",
]


def mutate(line: bytes, rng: random.Random) -> bytes:
    """One random mutation of a valid event line."""
    obj = orjson.loads(line)
    field = rng.choice(sorted(obj))
    kind = rng.choice(["drop", "retype", "swap_type", "truncate", "corrupt", "noise"])
    if kind == "drop":
        obj.pop(field)
    elif kind == "retype":
        obj[field] = rng.choice(JUNK)
    elif kind == "swap_type":
        obj["type"] = rng.choice([*sorted(EVENT_TYPES), "nope", 7])
    raw = orjson.dumps(obj)
    if kind == "truncate":
        raw = raw[: rng.randrange(len(raw))]
    elif kind == "corrupt":
        i = rng.randrange(len(raw))
        raw = raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1 :]
    elif kind == "noise":
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    return raw


def test_mutated_traffic_never_crashes_the_worker(isolated: Settings) -> None:
    rng = random.Random(99)
    # No re-deliveries: a mutated copy of a re-delivered event would reuse its event_id
    # for other content, which the contract rules out.
    config = SimulationConfig(seed=8, days=1, conversations=30, malformed=0.0, duplicates=0.0)
    valid = list(simulate(config))
    lines = [mutate(line, rng) if rng.random() < 0.3 else line for line in valid]
    lines = [line for line in lines if line.strip() and b"\n" not in line]
    expected = Expected(lines)
    assert len(expected.invalid_lines) > 100
    asyncio.run(ensure_topics(isolated))
    asyncio.run(produce_lines(isolated, lines))
    worker = WorkerProcess(isolated, "fuzz").start()
    try:

        def done() -> bool:
            worker.assert_alive()
            return caught_up(isolated)

        wait_until(done, 180, "the worker to process the mutated traffic", poll_s=1.0)
        dead = asyncio.run(read_to_end(isolated, isolated.topic_deadletter))
        # The producer routes every valid event by its own type and key, so the records
        # the contract rejects are exactly the dead letters, and the rest is in the tables.
        assert sorted(r.value for r in dead) == sorted(expected.invalid_lines)
        assert mismatches(snapshot(isolated), expected) == []
        worker.assert_alive()
    finally:
        worker.stop()
