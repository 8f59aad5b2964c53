"""Exporter.handle on hostile requests (no broker needed: they fail before any snapshot)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.request import MAX_REASON_LEN
from exporter.service import Exporter, Snapshot
from streamproc.settings import Settings


@pytest.fixture
def exporter(tmp_path: Path) -> Any:
    service = Exporter(Settings(data_dir=tmp_path))
    yield service
    service.model.close()


def handle(exporter: Exporter, raw: bytes | None) -> dict[str, Any]:
    return asyncio.run(exporter.handle(raw))


def assert_small_failure(result: dict[str, Any]) -> None:
    assert result["status"] == "failed"
    assert "\n" not in result["error"] and len(result["error"]) <= MAX_REASON_LEN
    assert len(orjson.dumps(result)) < 2_000


def test_a_huge_request_id_is_not_echoed(exporter: Exporter) -> None:
    result = handle(exporter, orjson.dumps({"request_id": "r" * 600_000, "export_type": "teams"}))
    assert_small_failure(result)
    assert result["request_id"] == "r" * 64 and result["request_id_truncated"] is True
    assert "600000 characters" in result["error"]


def test_a_valid_request_id_is_echoed_in_full_when_another_field_is_bad(
    exporter: Exporter,
) -> None:
    rid = "q" * 200
    result = handle(exporter, orjson.dumps({"request_id": rid, "export_type": "teams",
                                            "from": "2026-11-02", "to": "2026-11-02",
                                            "timezone": "Mars/Olympus"}))  # fmt: skip
    assert_small_failure(result)
    assert result["request_id"] == rid and "request_id_truncated" not in result
    assert result["export_type"] == "teams"


@pytest.mark.parametrize(
    "raw", [None, b"", b"\xff", b"[]", b"1e999", b"[" * 5000, b'{"request_id": null}']
)
def test_undecodable_or_odd_requests_fail_small(exporter: Exporter, raw: bytes | None) -> None:
    result = handle(exporter, raw)
    assert_small_failure(result)
    assert result["request_id"] is None


def test_any_exception_during_an_export_becomes_a_one_line_failed_result(
    exporter: Exporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def overflowing(_timeout_s: float) -> Snapshot:
        raise OverflowError("date value out of range\n" + "x" * 100_000)

    monkeypatch.setattr(exporter, "snapshot", overflowing)
    request = {
        "request_id": "r-1",
        "export_type": "teams",
        "from": "2026-11-02",
        "to": "2026-11-02",
    }
    result = handle(exporter, orjson.dumps(request))
    assert_small_failure(result)
    assert result["request_id"] == "r-1"
    assert result["error"].startswith("internal error: OverflowError: date value out of range x")
    assert exporter.model.earlier_result("r-1") is None  # a failure is not remembered


def test_a_year_9999_range_renders_or_fails_but_always_answers(
    exporter: Exporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def empty(_timeout_s: float) -> Snapshot:
        return Snapshot(253_402_300_799_000, {}, {})  # as of 9999-12-31T23:59:59Z

    monkeypatch.setattr(exporter, "snapshot", empty)
    for export_type in ("teams", "messages", "agent_presence", "conversations_resolved"):
        request = {"request_id": f"r-{export_type}", "export_type": export_type,
                   "timezone": "Pacific/Kiritimati",
                   "from": "9999-12-30T00:00:00Z", "to": "9999-12-31T23:59:59Z"}  # fmt: skip
        result = handle(exporter, orjson.dumps(request))
        assert result["status"] == "succeeded", result
        assert result["as_of"] == "9999-12-31T23:59:59.000Z"
