"""The exporter on the real broker: two workers, requests on the command topic, exact CSVs."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from exporter.request import parse_request
from streamproc.changelog import read_to_end
from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.testing.oracle import run_oracle
from tests.harness import ExporterProcess, WorkerProcess, run_cli, wait_until

pytestmark = pytest.mark.integration


def send_request(settings: Settings, request: dict[str, Any] | bytes) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(**client_kwargs(settings))
        await producer.start()
        try:
            value = request if isinstance(request, bytes) else orjson.dumps(request)
            await producer.send_and_wait(settings.topic_export_requests, value=value)
        finally:
            await producer.stop()

    asyncio.run(go())


def results(settings: Settings) -> list[dict[str, Any]]:
    records = asyncio.run(read_to_end(settings, settings.topic_export_results))
    return [orjson.loads(r.value) for r in records]


def test_requests_on_the_command_topic_give_exact_csvs(isolated: Settings, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        isolated, "simulate", "--seed", "5", "--days", "1", "--conversations", "60",
        "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    workers = [WorkerProcess(isolated, name).start() for name in ("a", "b")]
    exporter = ExporterProcess(isolated, "x").start()
    try:
        produced = run_cli(isolated, "produce", str(events))
        assert produced.returncode == 0, produced.stderr

        # Through the command line: request, wait, copy to --out.
        out = tmp_path / "messages.csv"
        cli = run_cli(
            isolated, "export", "messages", "--from", "2026-11-02", "--to", "2026-11-02",
            "--timezone", "America/New_York", "--out", str(out), "--timeout", "240",
        )  # fmt: skip
        assert cli.returncode == 0, f"{cli.stderr}\n{exporter.log_tail()}"
        result = next(r for r in results(isolated) if r["export_type"] == "messages")
        assert result["status"] == "succeeded"
        assert result["rows"] > 100
        assert out.read_bytes() == Path(result["path"]).read_bytes()

        # The same CSV as the batch oracle over the same events, at the result's as_of.
        request = parse_request(
            {"request_id": "o", "export_type": "messages", "from": "2026-11-02",
             "to": "2026-11-02", "timezone": "America/New_York"}
        )  # fmt: skip
        oracle = run_oracle(
            events, request, datetime.fromisoformat(result["as_of"]), tmp_path / "oracle.csv"
        )
        assert (tmp_path / "oracle.csv").read_bytes() == out.read_bytes()
        assert (oracle.sha256, oracle.rows) == (result["sha256"], result["rows"])

        # Straight on the topic: a good one, its repeat, and bad requests.
        good = {"request_id": "r-1", "export_type": "agent_metrics", "from": "2026-11-02",
                "to": "2026-11-02", "locale": "es"}  # fmt: skip
        send_request(isolated, good)
        send_request(isolated, good)
        send_request(isolated, {"request_id": "r-2", "export_type": "nope"})
        send_request(isolated, {"request_id": "r-3", "export_type": "teams", "from": "2026-11-03",
                                "to": "2026-11-02"})  # fmt: skip
        send_request(isolated, b"{not json")

        def all_answered() -> list[dict[str, Any]] | None:
            exporter.assert_alive()
            got = results(isolated)
            return got if len(got) >= 6 else None

        got = wait_until(all_answered, 120, "six results")
        by_id: dict[Any, list[dict[str, Any]]] = {}
        for r in got:
            by_id.setdefault(r["request_id"], []).append(r)
        first, repeat = by_id["r-1"]
        assert first["status"] == "succeeded" and repeat == first
        assert Path(first["path"]).read_bytes().startswith(b"ID de usuario")
        assert by_id["r-2"][0]["status"] == "failed"
        assert "export_type" in by_id["r-2"][0]["error"]
        assert by_id["r-3"][0]["status"] == "failed"
        assert "before" in by_id["r-3"][0]["error"]
        assert by_id[None][0]["status"] == "failed"
        assert "JSON" in by_id[None][0]["error"]
    finally:
        exporter.stop()
        for worker in workers:
            worker.stop()
