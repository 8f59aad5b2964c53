"""A SASL_PLAINTEXT broker: worker, exporter and CLI work with credentials; others are refused."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from exporter.request import parse_request
from streamproc.changelog import read_to_end
from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.testing import broker
from streamproc.testing.oracle import run_oracle
from streamproc.topics import ensure_topics, partition_counts
from tests.conftest import TEST_KAFKA_PORT
from tests.harness import ExporterProcess, WorkerProcess, isolated_settings, run_cli

pytestmark = pytest.mark.integration

#: Its own broker (port and port+1), so that the session's plaintext broker stays as it is.
SASL_PORT = int(os.environ.get("STREAMPROC_TEST_SASL_KAFKA_PORT", str(TEST_KAFKA_PORT + 4)))
#: How long a refused client may take to fail.
REFUSAL_DEADLINE_S = 20.0
#: Not the broker's password (which is random per run).
WRONG_PASSWORD = f"wrong-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A local broker with only a SASL_PLAINTEXT client listener (PLAIN and SCRAM users),
    freshly formatted in a temporary dir; stopped at the end of the module."""
    settings = replace(
        Settings.from_env(),
        kafka_port=SASL_PORT,
        bootstrap_servers=f"127.0.0.1:{SASL_PORT}",
        data_dir=tmp_path_factory.mktemp("sasl-broker"),
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="streamproc",
        sasl_password=f"pw-{uuid.uuid4().hex}",
    )
    started = broker.up(settings, timeout_s=120)
    assert started.warning is None, started.warning  # freshly formatted: SCRAM users exist
    try:
        yield settings
    finally:
        broker.down(settings)


def results(settings: Settings) -> list[dict[str, Any]]:
    records = asyncio.run(read_to_end(settings, settings.topic_export_results))
    return [orjson.loads(r.value) for r in records]


def test_worker_and_export_through_sasl(sasl_kafka: Settings, tmp_path: Path) -> None:
    settings = isolated_settings(sasl_kafka, tmp_path)
    password = settings.sasl_password
    assert password
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        settings, "simulate", "--seed", "3", "--days", "1", "--conversations", "25",
        "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    created = run_cli(settings, "topics", "create")
    assert created.returncode == 0, created.stderr
    worker = WorkerProcess(settings, "a").start()
    exporter = ExporterProcess(settings, "x").start()
    try:
        # The producer authenticates with PLAIN, the worker (Faust) and exporter with SCRAM.
        produced = run_cli(replace(settings, sasl_mechanism="PLAIN"), "produce", str(events))
        assert produced.returncode == 0, produced.stderr
        out = tmp_path / "messages.csv"
        cli = run_cli(
            settings, "export", "messages", "--from", "2026-11-02", "--to", "2026-11-02",
            "--out", str(out), "--timeout", "90",
        )  # fmt: skip
        worker.assert_alive()
        assert cli.returncode == 0, f"{cli.stderr}\n{exporter.log_tail()}\n{worker.log_tail()}"
        (result,) = [r for r in results(settings) if r["export_type"] == "messages"]
        assert result["status"] == "succeeded"
        assert result["rows"] > 20
        assert out.read_bytes() == Path(result["path"]).read_bytes()
        # The right rows: the batch oracle over the same events gives the same CSV.
        request = parse_request(
            {"request_id": "o", "export_type": "messages", "from": "2026-11-02",
             "to": "2026-11-02"}
        )  # fmt: skip
        oracle = run_oracle(
            events, request, datetime.fromisoformat(result["as_of"]), tmp_path / "oracle.csv"
        )
        assert (oracle.sha256, oracle.rows) == (result["sha256"], result["rows"])
    finally:
        exporter.stop()
        worker.stop()
    for process in (worker, exporter):
        log = process.log_path.read_text(errors="replace")
        assert log, f"{process.name} wrote no log"
        assert password not in log, f"{process.name} logged the SASL password"
    for done in (simulated, created, produced, cli):
        assert password not in done.stdout + done.stderr


def test_clients_without_the_right_credentials_are_refused(
    sasl_kafka: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def start_admin(**kwargs: Any) -> list[str]:
        admin = AIOKafkaAdminClient(**kwargs, request_timeout_ms=5000)
        try:
            async with asyncio.timeout(REFUSAL_DEADLINE_S):
                await admin.start()
                return list(await admin.list_topics())
        finally:
            await admin.close()

    async def start_producer(**kwargs: Any) -> None:
        producer = AIOKafkaProducer(**kwargs, request_timeout_ms=5000)
        try:
            async with asyncio.timeout(REFUSAL_DEADLINE_S):
                await producer.start()
        finally:
            await producer.stop()

    # The broker is up and serves a client with the credentials (both mechanisms).
    assert isinstance(asyncio.run(start_admin(**client_kwargs(sasl_kafka))), list)
    plain = replace(sasl_kafka, sasl_mechanism="PLAIN")
    assert isinstance(asyncio.run(start_admin(**client_kwargs(plain))), list)

    # No credentials at all: the SASL listener drops the plaintext client.
    with pytest.raises(KafkaConnectionError):
        asyncio.run(start_producer(bootstrap_servers=sasl_kafka.bootstrap_servers))
    with pytest.raises(KafkaConnectionError):
        asyncio.run(start_admin(bootstrap_servers=sasl_kafka.bootstrap_servers))

    # A wrong password, with either mechanism: authentication fails.
    for mechanism in ("SCRAM-SHA-256", "PLAIN"):
        caplog.clear()
        wrong = replace(sasl_kafka, sasl_mechanism=mechanism, sasl_password=WRONG_PASSWORD)
        with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
            asyncio.run(start_admin(**client_kwargs(wrong)))
        assert "SaslAuthenticationFailed" in caplog.text, caplog.text

    # The command line says what failed, without printing the password it was given.
    wrong = replace(sasl_kafka, sasl_password=WRONG_PASSWORD)
    refused = run_cli(wrong, "topics", "create", timeout_s=60)
    assert refused.returncode != 0
    assert f"cannot create topics on {sasl_kafka.bootstrap_servers}" in refused.stderr
    assert "STREAMPROC_SECURITY_PROTOCOL=SASL_PLAINTEXT and these credentials" in refused.stderr
    assert WRONG_PASSWORD not in refused.stdout + refused.stderr


def test_topics_are_created_with_the_configured_replication_factor(
    sasl_kafka: Settings, tmp_path: Path
) -> None:
    settings = isolated_settings(sasl_kafka, tmp_path)
    # Three replicas cannot be placed on the one local broker: the request is refused.
    with pytest.raises(Exception, match="eplication") as raised:
        asyncio.run(ensure_topics(replace(settings, topic_replication_factor=3), timeout_s=10))
    assert settings.topic_messages in str(raised.value)
    assert asyncio.run(partition_counts(settings, [settings.topic_messages])) == {}
    # One replica (the default) is created as asked.
    asyncio.run(ensure_topics(settings))

    async def replicas() -> set[int]:
        admin = AIOKafkaAdminClient(**client_kwargs(settings))
        await admin.start()
        try:
            (described,) = await admin.describe_topics([settings.topic_messages])
        finally:
            await admin.close()
        return {len(p["replicas"]) for p in described["partitions"]}

    assert asyncio.run(replicas()) == {1}
