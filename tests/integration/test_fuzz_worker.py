"""Random and mutated records on the real broker: the worker survives, each lands somewhere."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest

from streamproc.changelog import read_to_end
from streamproc.events import EVENT_TYPES
from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.testing.produce import produce_lines
from streamproc.testing.simulate import SimulationConfig, simulate
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


def random_request(rng: random.Random) -> bytes:
    """A random export request: some valid, most broken in one or more ways."""
    from exporter.schema import EXPORTS

    request: dict[str, Any] = {"request_id": f"fuzz-{rng.randrange(10**9)}"}
    choices: dict[str, list[Any]] = {
        "export_type": [*EXPORTS, "nope", 5, None],
        "timezone": ["UTC", "America/New_York", "Nowhere/City", "../../etc/passwd", 3],
        "from": ["2026-11-02", "2026-11-02T10:00:00Z", "2026-02-30", 20261102, None],
        "to": ["2026-11-03", "2026-11-01", "2026-11-03T00:00:00+01:00", "soon"],
        "channels": [[], ["channel-01"], "channel-01", [1, 2]],
        "locale": ["en", "es", "fr", None],
    }
    for name, values in choices.items():
        if rng.random() < 0.85:
            request[name] = rng.choice(values)
    if rng.random() < 0.1:
        return orjson.dumps(request)[: rng.randrange(5, 40)]
    if rng.random() < 0.1:
        request.pop("request_id")
    return orjson.dumps(request)


def test_random_export_requests_always_get_a_result(isolated: Settings) -> None:
    from aiokafka import AIOKafkaProducer

    from tests.harness import ExporterProcess

    rng = random.Random(4)
    valid = [
        {"request_id": f"ok-{name}", "export_type": name, "from": "2026-11-02", "to": "2026-11-02"}
        for name in ("messages", "teams", "agent_presence")
    ]
    requests = [orjson.dumps(v) for v in valid] + [random_request(rng) for _ in range(27)]
    asyncio.run(ensure_topics(isolated))
    exporter = ExporterProcess(isolated, "fuzz").start()
    try:

        async def send() -> None:
            producer = AIOKafkaProducer(**client_kwargs(isolated))
            await producer.start()
            try:
                for value in requests:
                    await producer.send_and_wait(isolated.topic_export_requests, value)
            finally:
                await producer.stop()

        asyncio.run(send())

        def answered() -> list[dict[str, Any]] | None:
            exporter.assert_alive()
            records = asyncio.run(read_to_end(isolated, isolated.topic_export_results))
            return [orjson.loads(r.value) for r in records] if len(records) >= 30 else None

        results = wait_until(answered, 180, "a result for every request", poll_s=1.0)
        assert len(results) == 30
        assert {r["status"] for r in results} == {"succeeded", "failed"}
        for result in results:
            if result["status"] == "failed":
                assert result["error"] and "\n" not in result["error"]
                assert "internal error" not in result["error"]
            else:
                assert result["rows"] >= 0 and len(result["sha256"]) == 64
    finally:
        exporter.stop()
