"""A 10,000-event conversation on the real broker: nothing dead-lettered, exact exports."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.request import parse_request
from streamproc.changelog import read_to_end
from streamproc.events import parse_event
from streamproc.settings import Settings
from streamproc.testing import long_conversation as lc
from streamproc.testing.oracle import run_oracle
from tests.expectations import caught_up
from tests.harness import ExporterProcess, WorkerProcess, first_difference, run_cli, wait_until

pytestmark = pytest.mark.integration

EVENTS = 10_000
DAY = "2026-11-02"


def export_result(settings: Settings, export_type: str) -> dict[str, Any]:
    records = asyncio.run(read_to_end(settings, settings.topic_export_results))
    found = [orjson.loads(r.value) for r in records]
    return next(r for r in reversed(found) if r["export_type"] == export_type)


def test_a_long_conversation_is_processed_whole_and_exactly(
    isolated: Settings, tmp_path: Path
) -> None:
    in_order = list(lc.events("long-1", EVENTS))
    arrived = lc.arrival_order(in_order, late=0.02, duplicates=0.02, seed=11)
    lines = [lc.agent("agent-1", lc.START), *arrived]
    assert len(arrived) > EVENTS, "the conversation should contain re-deliveries"
    assert arrived != in_order, "some events should arrive late"
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"\n".join(lines) + b"\n")
    message_ids = {
        e.message_id  # type: ignore[attr-defined]
        for e in map(parse_event, in_order)
        if e.type == "message.created"
    }

    worker = WorkerProcess(isolated, "a").start()
    exporter = ExporterProcess(isolated, "x").start()
    try:
        produced = run_cli(isolated, "produce", str(events_file))
        assert produced.returncode == 0, produced.stderr

        def drained() -> bool:
            worker.assert_alive()
            return caught_up(isolated)

        wait_until(drained, 120, "the worker to process the conversation", poll_s=0.5)

        # Nothing dead-lettered: no event of the conversation is too large for its state.
        dead = asyncio.run(read_to_end(isolated, isolated.topic_deadletter))
        reasons = sorted({dict(r.headers).get("category", b"?").decode() for r in dead})
        assert not dead, f"{len(dead):,} events dead-lettered ({', '.join(reasons)})"

        # The exports equal the batch oracle's over the same file, byte for byte.
        for export_type in ("messages", "conversations_resolved"):
            out = tmp_path / f"{export_type}.csv"
            cli = run_cli(
                isolated, "export", export_type, "--from", DAY, "--to", DAY,
                "--out", str(out), "--timeout", "120",
            )  # fmt: skip
            assert cli.returncode == 0, f"{cli.stderr}\n{exporter.log_tail()}"
            result = export_result(isolated, export_type)
            request = parse_request(
                {"request_id": "o", "export_type": export_type, "from": DAY, "to": DAY}
            )
            oracle = tmp_path / f"{export_type}-oracle.csv"
            run_oracle(events_file, request, datetime.fromisoformat(result["as_of"]), oracle)
            ours, theirs = out.read_bytes(), oracle.read_bytes()
            assert ours == theirs, first_difference(ours, theirs)
            if export_type == "messages":
                # A direct count too: one row per message of the conversation.
                assert result["rows"] == len(message_ids)
            else:
                assert result["rows"] == 1
        worker.assert_alive()
    finally:
        exporter.stop()
        worker.stop()
