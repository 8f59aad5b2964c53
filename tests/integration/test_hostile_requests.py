"""Hostile export requests on the real broker: each gets a small failed result, the exporter
never exits, and a normal request after them succeeds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from exporter.request import MAX_CHANNELS, MAX_REASON_LEN
from exporter.service import publish
from streamproc.changelog import read_to_end
from streamproc.settings import Settings
from streamproc.topics import ensure_topics
from tests.harness import ExporterProcess, wait_until

pytestmark = pytest.mark.integration

DAY = {"from": "2026-11-02", "to": "2026-11-02"}

#: (what, request value) pairs that must each be answered ``failed``, in this order.
HOSTILE: list[tuple[str, bytes | None]] = [
    ("600 KB request_id", orjson.dumps(
        {"request_id": "r" * 600_000, "export_type": "teams", **DAY}
    )),
    ("80,000 channels", orjson.dumps(
        {"request_id": "h-channels", "export_type": "messages", **DAY,
         "channels": [f"c{i}" for i in range(80_000)]}
    )),
    ("bad JSON", b"{not json"),
    ("a JSON array", b"[1, 2, 3]"),
    ("a JSON string", b'"teams"'),
    ("JSON null", b"null"),
    ("no value (tombstone)", None),
    ("unknown type, 100 KB", orjson.dumps({"request_id": "h-type", "export_type": "x" * 100_000})),
    ("year 9999 dates", orjson.dumps(
        {"request_id": "h-9999", "export_type": "teams", "from": "9999-12-31", "to": "9999-12-31"}
    )),
    ("year 0 date", orjson.dumps(
        {"request_id": "h-0000", "export_type": "teams", "from": "0000-01-01", "to": "0001-01-01"}
    )),
    ("offset +05:99", orjson.dumps(
        {"request_id": "h-offset", "export_type": "teams",
         "from": "2026-11-02T00:00:00+05:99", "to": "2026-11-03T00:00:00Z"}
    )),
    ("unknown timezone", orjson.dumps(
        {"request_id": "h-tz", "export_type": "teams", **DAY, "timezone": "Mars/Olympus"}
    )),
    ("path as timezone", orjson.dumps(
        {"request_id": "h-tz-path", "export_type": "teams", **DAY,
         "timezone": "../../../../etc/passwd"}
    )),
    ("200 KB timezone", orjson.dumps(
        {"request_id": "h-tz-long", "export_type": "teams", **DAY, "timezone": "A" * 200_000}
    )),
    ("huge nested JSON", b"[" * 300_000 + b"]" * 300_000),
    ("deep object", b'{"a":' * 2_000 + b"1" + b"}" * 2_000),
    ("invalid UTF-8", b'{"request_id": "h-utf8\xff\xfe", "export_type": "teams"}'),
    ("control characters in request_id", orjson.dumps(
        {"request_id": "h-\u0000\n\u202e", "export_type": "teams", **DAY}
    )),
    ("channel list of objects", orjson.dumps(
        {"request_id": "h-ch-obj", "export_type": "teams", **DAY,
         "channels": [{"x": "y" * 1000}] * 50}
    )),
    ("number as request_id", orjson.dumps({"request_id": 10**18, "export_type": "teams"})),
]  # fmt: skip


def send(settings: Settings, values: list[bytes | None]) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, max_request_size=2 * 1024 * 1024
        )
        await producer.start()
        try:
            for value in values:  # one key: one partition, answered in this order
                await producer.send_and_wait(settings.topic_export_requests, value, key=b"k")
        finally:
            await producer.stop()

    asyncio.run(go())


def results(settings: Settings) -> list[dict[str, Any]]:
    records = asyncio.run(read_to_end(settings, settings.topic_export_results))
    return [orjson.loads(r.value) for r in records]


def test_hostile_requests_get_small_failed_results_and_the_exporter_keeps_serving(
    isolated: Settings, tmp_path: Path
) -> None:
    asyncio.run(ensure_topics(isolated))
    exporter = ExporterProcess(isolated, "x").start()
    try:
        normal = {"request_id": "normal", "export_type": "messages", **DAY}
        wide = {
            "request_id": "wide",
            "export_type": "conversations_resolved",
            **DAY,
            "channels": [f"channel-{i}" for i in range(MAX_CHANNELS)],
        }
        send(isolated, [value for _what, value in HOSTILE] + [orjson.dumps(wide)])
        sent = time.monotonic()
        send(isolated, [orjson.dumps(normal)])

        def answered() -> list[dict[str, Any]] | None:
            exporter.assert_alive()
            got = results(isolated)
            return got if len(got) >= len(HOSTILE) + 2 else None

        got = wait_until(answered, 120, f"{len(HOSTILE) + 2} results")
        elapsed = time.monotonic() - sent
        assert len(got) == len(HOSTILE) + 2, got
        for (what, _value), result in zip(HOSTILE, got, strict=False):
            size = len(orjson.dumps(result))
            assert result["status"] == "failed", (what, result)
            assert size < 2_000, (what, size)
            error = result["error"]
            assert error and "\n" not in error and len(error) <= MAX_REASON_LEN, (what, error)
            assert "internal error" not in error, (what, error)
        by_what = {what: result for (what, _v), result in zip(HOSTILE, got, strict=False)}
        assert by_what["600 KB request_id"]["request_id_truncated"] is True
        assert "600000 characters" in by_what["600 KB request_id"]["error"]
        assert f"maximum is {MAX_CHANNELS}" in by_what["80,000 channels"]["error"]
        assert by_what["80,000 channels"]["request_id"] == "h-channels"
        assert by_what["unknown type, 100 KB"]["export_type_truncated"] is True
        assert "not JSON" in by_what["invalid UTF-8"]["error"]
        assert "not JSON" in by_what["huge nested JSON"]["error"]
        assert "out of bounds" in by_what["year 9999 dates"]["error"]
        assert "printable" in by_what["control characters in request_id"]["error"]

        *_, wide_result, normal_result = got
        assert wide_result["request_id"] == "wide" and wide_result["status"] == "succeeded"
        assert normal_result["request_id"] == "normal", normal_result
        assert normal_result["status"] == "succeeded", normal_result
        assert Path(normal_result["path"]).read_bytes().startswith(b"Message ID,")
        assert elapsed < 60, f"{elapsed:.0f} s for the hostile requests"
        exporter.assert_alive()
    finally:
        exporter.stop()


def test_a_result_too_large_to_publish_is_replaced_by_a_small_failed_one(
    isolated: Settings,
) -> None:
    asyncio.run(ensure_topics(isolated))
    huge = {"request_id": "big", "export_type": "teams", "status": "succeeded"}
    huge["path"] = "p" * 2_000_000  # over the producer's 1 MB request limit

    async def go() -> bool:
        producer = AIOKafkaProducer(bootstrap_servers=isolated.bootstrap_servers, acks="all")
        await producer.start()
        try:
            return await publish(producer, isolated.topic_export_results, huge)
        finally:
            await producer.stop()

    assert asyncio.run(go())
    (result,) = results(isolated)
    assert result["request_id"] == "big" and result["status"] == "failed"
    assert "could not be published" in result["error"]
    assert len(orjson.dumps(result)) < 2_000
