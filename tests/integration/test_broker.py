"""Real-broker tests of testing.broker: start, no-op restart, port clash, data kept, stop."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamproc.settings import Settings
from streamproc.testing import broker
from streamproc.testing.broker import BrokerError

pytestmark = pytest.mark.integration

# Our own port (and PORT + 1 for the controller), away from a developer's broker on 9092.
PORT = 19192
BOOTSTRAP = f"127.0.0.1:{PORT}"


def _base_settings() -> Settings:
    # From the environment so a developer's STREAMPROC_CACHE_DIR (shared jar cache) applies.
    return Settings.from_env()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A broker of the tests' own: own port, own data dir, the shared jar cache."""
    s = dataclasses.replace(
        _base_settings(),
        kafka_port=PORT,
        bootstrap_servers=BOOTSTRAP,
        data_dir=tmp_path_factory.mktemp("broker-data"),
    )
    try:
        yield s
    finally:
        broker.down(s)


async def _describe_cluster(bootstrap: str) -> dict[str, Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        result: dict[str, Any] = await admin.describe_cluster()
        return result
    finally:
        await admin.close()


async def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _consume(
    bootstrap: str, topic: str, want: int, timeout_s: float
) -> list[tuple[Any, Any]]:
    """Read ``topic`` from the beginning until ``want`` records arrived or the deadline."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[tuple[Any, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < want and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend((r.key, r.value) for r in batch)
    finally:
        await consumer.stop()
    return records


def _processes_using(server_properties: Path) -> list[int]:
    """Pids of live processes whose command line names ``server_properties``."""
    needle = str(server_properties).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in argv:
            pids.append(int(proc.name))
    return pids


def test_up_serves_metadata_and_logs(settings: Settings) -> None:
    st = broker.up(settings)
    assert st.running
    assert st.pid is not None
    assert st.port == PORT
    assert st.bootstrap == BOOTSTRAP
    assert st.data_dir == settings.kafka_dir

    cluster = asyncio.run(_describe_cluster(st.bootstrap))
    assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [("127.0.0.1", PORT)]
    assert cluster["controller_id"] == 1

    assert broker.status(settings) == dataclasses.replace(st, started_in_s=None)
    # The SLF4J -> log4j2 binding is in place: the broker really logs to its file.
    assert "Kafka Server started" in broker.broker_log(settings).read_text(encoding="utf-8")


def test_second_up_is_a_noop(settings: Settings) -> None:
    first = broker.up(settings)
    second = broker.up(settings)
    assert second.running
    assert second.pid == first.pid
    assert second.started_in_s is None  # nothing was started


def test_port_taken_by_another_process(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        taken = sock.getsockname()[1]
        other = dataclasses.replace(_base_settings(), kafka_port=taken, data_dir=tmp_path)
        with pytest.raises(BrokerError, match=rf"port {taken}\b.*STREAMPROC_KAFKA_PORT"):
            broker.up(other)
    assert not (other.kafka_dir / "kafka.pid").exists()
    assert broker.status(other).pid is None


def test_message_survives_down_and_up(settings: Settings) -> None:
    topic = "broker-test.survives-restart"
    before = broker.up(settings)
    asyncio.run(_create_topic(before.bootstrap, topic, partitions=1))
    asyncio.run(_produce(before.bootstrap, topic, b"k1", b"kept across restarts"))

    stopped = broker.down(settings)
    assert not stopped.running
    assert stopped.pid is None
    assert _processes_using(settings.kafka_dir / "server.properties") == []

    after = broker.up(settings)
    assert after.running
    assert after.pid != before.pid
    assert after.started_in_s is not None
    records = asyncio.run(_consume(after.bootstrap, topic, want=1, timeout_s=30))
    assert records == [(b"k1", b"kept across restarts")]


def test_down_leaves_no_process(settings: Settings) -> None:
    st = broker.up(settings)
    assert st.pid is not None

    stopped = broker.down(settings)
    assert not stopped.running
    assert stopped.pid is None
    assert not (settings.kafka_dir / "kafka.pid").exists()
    assert _processes_using(settings.kafka_dir / "server.properties") == []
    assert not Path(f"/proc/{st.pid}").exists()  # exited and reaped, not a zombie

    again = broker.down(settings)  # a no-op when not running
    assert not again.running
