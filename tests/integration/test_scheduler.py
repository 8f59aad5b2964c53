"""The schedule runner in-process on the real broker with a fake clock: due times, one run in
flight, a broker restart, catch-up in order, progress shared by two instances, failures."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from exporter import delivery
from exporter.scheduler import ScheduleRunner
from streamproc.changelog import read_to_end
from streamproc.settings import Settings
from streamproc.testing import broker
from streamproc.topics import ensure_topics

pytestmark = pytest.mark.integration


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def schedule_file(tmp_path: Path, inbox: Path, broken: Path) -> Path:
    path = tmp_path / "schedules.toml"
    path.write_text(
        f"""
[[schedule]]
name = "madrid"
exports = ["teams"]
cadence = "daily at 06:00"
timezone = "Europe/Madrid"
start = 2026-10-24
destination = {{ type = "directory", path = "{inbox}" }}

[[schedule]]
name = "broken"
exports = ["tags"]
cadence = "daily at 06:00"
timezone = "Europe/Madrid"
start = 2026-10-24
until = 2026-10-25
destination = {{ type = "directory", path = "{broken}" }}
"""
    )
    return path


async def topic_json(settings: Settings, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in await read_to_end(settings, topic)]


def fake_result(tmp_path: Path, request_id: str, content: bytes) -> dict[str, Any]:
    """What the service publishes for a request, with its CSV file."""
    path = tmp_path / f"{hashlib.sha256(request_id.encode()).hexdigest()[:8]}.csv"
    path.write_bytes(content)
    return {
        "request_id": request_id,
        "status": "succeeded",
        "path": str(path),
        "rows": 1,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def test_runner_with_a_fake_clock(
    kafka: Settings, isolated: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "DIRECTORY_BACKOFF_S", 0.01)
    inbox = tmp_path / "inbox"
    (tmp_path / "not-a-dir").write_text("x")
    settings = replace(
        isolated, schedules=schedule_file(tmp_path, inbox, tmp_path / "not-a-dir" / "sub")
    )
    asyncio.run(scenario(settings, tmp_path, inbox, kafka))


async def scenario(settings: Settings, tmp_path: Path, inbox: Path, kafka: Settings) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    # Madrid's 2026-10-25 has 25 hours; each day's run is due at 06:00 the next day.
    clock = FakeClock(datetime(2026, 10, 25, 4, 59, 59, tzinfo=UTC))  # 05:59:59 CET
    a = ScheduleRunner.from_settings(settings, producer, clock=clock, export_retry_s=3600)
    b = ScheduleRunner.from_settings(settings, producer, clock=clock)
    assert a is not None and b is not None
    try:
        assert await a.tick() == []  # not due yet
        clock.now = datetime(2026, 10, 25, 5, 0, tzinfo=UTC)  # 06:00 CET
        first = "schedule:madrid:teams:2026-10-24T00:00:00+02:00"
        broken = "schedule:broken:tags:2026-10-24T00:00:00+02:00"
        assert await a.tick() == [first, broken]
        assert await a.tick() == []  # one run in flight per schedule and type
        requests = await topic_json(settings, settings.topic_export_requests)
        assert requests[0] == {
            "request_id": first,
            "export_type": "teams",
            "timezone": "Europe/Madrid",
            "channels": [],
            "locale": "en",
            "from": "2026-10-24",
            "to": "2026-10-24",
        }

        # The service answered: the file is delivered, progress recorded.
        result = fake_result(tmp_path, first, b"Created at,Team ID\r\n")
        assert await a.deliver_run(result) == "delivered"
        assert (inbox / "madrid-teams-20261024.csv").read_bytes() == b"Created at,Team ID\r\n"
        assert a.counters["delivered"] == 1
        # A repeat (or the other instance) finds it delivered and does nothing.
        assert await a.deliver_run(result) == "already delivered"
        assert await b.deliver_run(result) == "already delivered"
        # A broker restart: the progress is kept; a fresh runner (a restarted exporter)
        # and the running ones carry on with the next period.
        await asyncio.to_thread(broker.down, kafka)
        await asyncio.to_thread(lambda: broker.up(kafka, timeout_s=120))
        c = ScheduleRunner(settings, a.schedules, producer, clock=clock)
        try:
            clock.now = datetime(2026, 10, 26, 5, 0, tzinfo=UTC)  # the 25-h day is due
            assert "schedule:madrid:teams:2026-10-25T00:00:00+02:00" in await c.tick()
        finally:
            await c.close()
        clock.now = datetime(2026, 10, 25, 5, 0, tzinfo=UTC)
        # (b also sends "broken" again: it is not in flight there; only the instance that
        # serves the command topic ticks in the service)
        assert [r for r in await b.tick() if "madrid" in r] == []  # the 25-h day: tomorrow

        # Downtime until Wednesday: the 25th, 26th and 27th are caught up in order, one
        # at a time, by the other instance.
        clock.now = datetime(2026, 10, 28, 9, 0, tzinfo=UTC)
        days = []
        while sent := [r for r in await b.tick() if r.startswith("schedule:madrid")]:
            (request_id,) = sent
            days.append(request_id.split("teams:")[1])
            if len(days) == 1:  # a result out of order is ignored
                later = "schedule:madrid:teams:2026-10-27T00:00:00+01:00"
                ahead = fake_result(tmp_path, later, b"x\r\n")
                assert await b.deliver_run(ahead) == "out of order"
            content = f"day {request_id}\r\n".encode()
            assert await b.deliver_run(fake_result(tmp_path, request_id, content)) == "delivered"
        assert days == [
            "2026-10-25T00:00:00+02:00",
            "2026-10-26T00:00:00+01:00",
            "2026-10-27T00:00:00+01:00",
        ]
        assert sorted(p.name for p in inbox.iterdir()) == [
            f"madrid-teams-202610{d}.csv" for d in (24, 25, 26, 27)
        ]
        progress = await topic_json(settings, settings.topic_export_schedules)
        assert [p["period_start"] for p in progress if p["schedule"] == "madrid"] == [
            "2026-10-24T00:00:00+02:00",
            "2026-10-25T00:00:00+02:00",
            "2026-10-26T00:00:00+01:00",
            "2026-10-27T00:00:00+01:00",
        ]
        assert progress[1]["period_end"] == "2026-10-26T00:00:00+01:00"

        # A destination that cannot be written: reported, counted, retried later.
        failed = fake_result(tmp_path, broken, b"Tag ID\r\n")
        assert await a.deliver_run(failed) == "delivery failed"
        assert a.counters["delivery_failures"] == 1
        assert await a.tick() == []  # not before the retry delay
        reports = await topic_json(settings, settings.topic_export_results)
        (report,) = [r for r in reports if r["status"] == "delivery_failed"]
        assert report["request_id"] == broken and report["schedule"] == "broken"
        assert "after 3 attempts" in report["error"] and "not-a-dir" in report["error"]
        delivered = [r["request_id"] for r in reports if r["status"] == "delivered"]
        assert len(delivered) == len(set(delivered)) == 4

        # An export that failed is retried after export_retry_s, not delivered.
        assert await a.deliver_run({**failed, "status": "failed"}) == "export failed"
        assert a.counters["export_failures"] == 1
    finally:
        await a.close()
        await b.close()
        await producer.stop()
