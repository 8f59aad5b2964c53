"""Producers no one here wrote (confluent-kafka, kcat: librdkafka's consistent_random
partitioner, with and without keys) publish a simulated day; every export equals the oracle's.

Their records mostly land on other partitions than murmur2 gives the contract key (or have
no key at all): the workers re-route them (streamproc.intake) instead of rejecting them.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.request import parse_request
from streamproc.changelog import read_table, read_to_end
from streamproc.intake import partition_for_key
from streamproc.settings import Settings
from streamproc.testing.oracle import run_oracle
from streamproc.testing.produce import route_line
from streamproc.topics import ensure_topics
from tests.expectations import Expected, caught_up
from tests.harness import (
    ExporterProcess,
    WorkerProcess,
    export_requests,
    first_difference,
    request_export,
    run_cli,
    wait_until,
)

pytestmark = pytest.mark.integration

CONVERSATIONS = 30


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory, kafka: Settings) -> Path:
    """A small simulated day (duplicates, reordering and malformed lines included)."""
    events = tmp_path_factory.mktemp("day") / "events.jsonl"
    simulated = run_cli(
        kafka, "simulate", "--seed", "13", "--days", "1", "--conversations",
        str(CONVERSATIONS), "--malformed", "0.01", "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    return events


def routed(settings: Settings, lines: list[bytes]) -> list[tuple[str, bytes | None, bytes]]:
    """(topic, contract key or None, line) of every line, in file order."""
    return [(*route_line(settings, line), line) for line in lines]


def publish_confluent(settings: Settings, lines: list[bytes], keyed: bool) -> None:
    """confluent-kafka's Producer with its default settings (partitioner consistent_random)."""
    from confluent_kafka import KafkaError, Message, Producer

    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    errors: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            errors.append(error)

    for topic, key, line in routed(settings, lines):
        producer.produce(topic, value=line, key=key if keyed else None, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(60) == 0, "confluent-kafka did not deliver every message in 60 s"
    assert not errors, errors[:3]


def publish_kcat(settings: Settings, lines: list[bytes], keyed: bool) -> None:
    """kcat (Debian's package) with its defaults: one `kcat -P` per topic, lines on stdin,
    ``-K<TAB>`` to send keys ("key<TAB>value" lines; JSON never holds a raw tab)."""
    kcat = shutil.which("kcat")
    assert kcat, "kcat is missing: `make tools` installs Debian's kcat package"
    batches: dict[tuple[str, bool], list[bytes]] = defaultdict(list)
    for topic, key, line in routed(settings, lines):
        if keyed and key is not None:
            batches[(topic, True)].append(key + b"\t" + line)
        else:
            batches[(topic, False)].append(line)
    for (topic, with_keys), records in batches.items():
        command = [kcat, "-P", "-b", settings.bootstrap_servers, "-t", topic]
        if with_keys:
            command += ["-K", "\t"]
        done = subprocess.run(
            command, input=b"\n".join(records) + b"\n", capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")


PUBLISHERS = {"confluent-kafka": publish_confluent, "kcat": publish_kcat}


@pytest.mark.parametrize("keyed", [True, False], ids=["keys", "no-keys"])
@pytest.mark.parametrize("client", sorted(PUBLISHERS))
def test_foreign_producer_day_gives_the_oracles_exports(
    client: str, keyed: bool, day: Path, isolated: Settings, tmp_path: Path
) -> None:
    lines = day.read_bytes().splitlines()
    expected = Expected(lines)
    settings = isolated
    if not keyed:
        # Without keys an agent's presence changes are scattered over the partitions and
        # reach the agent's re-route partition in the order their source partitions are
        # processed: with the day published in one go, hours apart in event time (in real
        # time, the hop's delay). Presence is exact within the lateness bound (with the
        # default hour, some changes are dead-lettered `late`), so here it covers the day.
        settings = replace(isolated, lateness_s=2 * 86_400)
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(settings, "a").start()
    exporter = ExporterProcess(settings, "x").start()
    try:
        PUBLISHERS[client](settings, lines, keyed)

        def drained() -> bool:
            worker.assert_alive()
            return caught_up(settings)

        wait_until(drained, 120, "the worker to apply the day, re-routed events included", 0.5)

        # Valid events were re-routed (none dead-lettered); invalid lines were dead-lettered.
        reroutes = asyncio.run(read_table(settings, "reroutes_by_partition"))
        reasons = Counter(k.decode().rsplit("/", 1)[1] for k in reroutes)
        assert reasons, "a foreign partitioner should have sent events to other partitions"
        assert set(reasons) <= ({"wrong_partition"} if keyed else {"no_key"}), reasons
        rerouted = sum(orjson.loads(v)["n"] for v in reroutes.values())
        valid = len(lines) - len(expected.invalid_lines)
        if keyed:  # crc32 agrees with murmur2 for about one key in eight
            assert valid // 2 < rerouted < valid, (rerouted, valid)
        else:  # without a key every valid event is re-routed
            assert rerouted == valid
        forwarded = asyncio.run(read_to_end(settings, settings.topic_reroute))
        assert len(forwarded) >= rerouted  # more only if a batch was processed twice
        for record in forwarded:
            key = route_line(settings, record.value)[1]
            assert record.key == key
            assert record.partition == partition_for_key(key, settings.events_partitions)
        dead = asyncio.run(read_to_end(settings, settings.topic_deadletter))
        assert Counter(r.value for r in dead) == Counter(expected.invalid_lines)
        assert {dict(r.headers)["category"] for r in dead} == {b"invalid"}

        stats = run_cli(settings, "stats")
        assert stats.returncode == 0, stats.stderr
        reason = "wrong_partition" if keyed else "no_key"
        assert f"{settings.topic_conversations} {reason}" in stats.stdout, stats.stdout

        # Every export byte for byte as the batch oracle computes it from the file.
        requests = export_requests(1, timezones=("America/New_York",), extra=False)
        for request in requests:
            request_export(settings, request)

        def answered() -> dict[str, dict[str, Any]] | None:
            exporter.assert_alive()
            records = asyncio.run(read_to_end(settings, settings.topic_export_results))
            results = {r["request_id"]: r for r in (orjson.loads(x.value) for x in records)}
            return results if all(r["request_id"] in results for r in requests) else None

        results = wait_until(answered, 180, "every export result", poll_s=0.5)
        mismatches = []
        for request in requests:
            result = results[request["request_id"]]
            assert result["status"] == "succeeded", f"{request}: {result.get('error')}"
            oracle_csv = tmp_path / f"oracle-{request['export_type']}.csv"
            run_oracle(
                day, parse_request(request), datetime.fromisoformat(result["as_of"]), oracle_csv
            )
            ours, theirs = Path(result["path"]).read_bytes(), oracle_csv.read_bytes()
            if ours != theirs:
                mismatches.append(f"{request['export_type']}: {first_difference(ours, theirs)}")
        assert not mismatches, "\n".join(mismatches)
        assert len(requests) == 12
    finally:
        exporter.stop()
        worker.stop()
