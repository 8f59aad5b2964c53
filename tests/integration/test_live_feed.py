"""The metrics feed on the real broker: worker + exporter, the feed's last record per key
equals the live figures of the same read-model instant and the batch oracle's numbers."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson
import pytest

from exporter.request import parse_request
from streamproc.changelog import read_to_end
from streamproc.live.figures import (
    compute,
    day_bounds_ms,
    json_number,
    local_day,
    without_instant,
)
from streamproc.settings import Settings
from streamproc.testing.oracle import first_response_time_ms, fold, load_events, oracle_rows
from tests.harness import ExporterProcess, WorkerProcess, free_port, run_cli, wait_until
from tests.offline import ingest, load_model
from tests.unit.test_live_prom import promtool_check

pytestmark = pytest.mark.integration
TZ = "America/New_York"


class LiveApiProcess(ExporterProcess):
    """A real ``streamproc live-api`` process."""

    def __init__(self, settings: Settings, name: str, port: int) -> None:
        super().__init__(settings, name)
        self.command = ("live-api", "--port", str(port))
        self.log_path = settings.data_dir / f"live-api-{name}.log"


def http_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return orjson.loads(response.read())


def scrape(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return bytes(response.read())


def samples(text: bytes) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    ]


def feed_records(settings: Settings) -> list[tuple[str, dict[str, Any] | None]]:
    """The feed's records in order; a tombstone (a key whose figures are gone) is None."""
    records = asyncio.run(read_to_end(settings, settings.topic_metrics))
    return [(r.key.decode(), None if r.value is None else orjson.loads(r.value)) for r in records]


def last_per_key(records: list[tuple[str, dict[str, Any] | None]]) -> dict[str, dict[str, Any]]:
    """The live keys' last records (a key whose last record is a tombstone is gone)."""
    return {k: v for k, v in dict(records).items() if v is not None}


def expected_feed(lines: list[bytes], tz: str, path: Path) -> tuple[int, dict[str, Any]]:
    """(as_of, {"scope:id": record}) of the feed once the read model holds ``lines``: the
    pure figures over the worker's state code fed offline (order- and duplicate-proof)."""
    stores, _ = ingest(lines)
    offline = load_model(stores, path)
    as_of = offline.watermark_ms()
    assert as_of is not None
    records = compute(offline.conn, as_of, tz).records
    offline.close()
    return as_of, {f"{s}:{i}": r for (s, i), r in records.items()}


def wait_for_exact_feed(
    settings: Settings, expected: dict[str, Any], alive: Callable[[], None], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """Wait until the feed's last record of every key equals ``expected`` (and no other
    key has a record); on timeout, name the keys that differ.

    A key is sent only when its figures change, so its last record's ``as_of`` is the
    instant of that change (docs/live.md): the figures must equal the expected ones, and
    the ``as_of`` must be at or before the expected instant, on the same day."""
    differing: list[str] = []

    def same(feed: dict[str, Any] | None, want: dict[str, Any] | None) -> bool:
        if feed is None or want is None:
            return feed is want
        return without_instant(feed) == without_instant(want) and (
            datetime.fromisoformat(feed["as_of"]) <= datetime.fromisoformat(want["as_of"])
        )

    def exact() -> dict[str, dict[str, Any]] | None:
        alive()
        last = last_per_key(feed_records(settings))
        differing[:] = sorted(
            k for k in set(last) | set(expected) if not same(last.get(k), expected.get(k))
        )
        return last if not differing else None

    try:
        return wait_until(exact, timeout_s, "the feed's last records to equal the figures")
    except AssertionError as exc:
        last = last_per_key(feed_records(settings))
        shown = {k: (last.get(k), expected.get(k)) for k in differing[:3]}
        raise AssertionError(
            f"{exc}; differing keys: {differing[:10]}; (feed, expected): {shown}"
        ) from None


def assert_all_equals_the_oracle(
    record: dict[str, Any], lines: list[bytes], as_of_ms: int, tz: str, lock_max_s: int
) -> None:
    """The ``all:all`` record against numbers computed from the batch oracle's fold."""
    inbox = fold(load_events(lines), as_of_ms, lock_max_s * 1000)
    lo, hi = day_bounds_ms(local_day(as_of_ms, ZoneInfo(tz)), ZoneInfo(tz))
    convs = list(inbox.conversations.values())
    resolutions = [r for c in convs for r in c.resolutions if lo <= r.ms < hi]
    firsts = [
        first_response_time_ms(c) for c in convs if c.responses and lo <= c.responses[0].to_ms < hi
    ]
    csat = [a for c in convs for a in c.csat_responses if lo <= a.ms < hi]
    today = record["today"]
    assert today["received"] == sum(1 for c in convs if c.created_ms and lo <= c.created_ms < hi)
    assert today["resolved"] == len(resolutions) > 0
    assert today["resolved_with_reply"] == sum(1 for r in resolutions if r.with_reply)
    assert today["avg_first_response_ms"] == json_number(Fraction(sum(firsts), len(firsts)))  # type: ignore[arg-type]
    assert today["csat_count"] == len(csat)
    live = record["live"]
    statuses = [c.status_changes[-1].status for c in convs if c.status_changes]
    assert (live["new"], live["pending"]) == (statuses.count("NEW"), statuses.count("PENDING"))


def test_feed_equals_live_figures_and_the_oracle(isolated: Settings, tmp_path: Path) -> None:
    settings = replace(
        isolated,
        feed_timezone=TZ,
        feed_interval_s=0.5,
        metrics_port=free_port(),
        exporter_metrics_port=free_port(),
    )
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        settings, "simulate", "--seed", "14", "--days", "1", "--conversations", "60",
        "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    lines = events.read_bytes().splitlines()
    final_as_of, expected = expected_feed(lines, TZ, tmp_path / "offline.sqlite")
    worker = WorkerProcess(settings, "a").start()
    exporter = ExporterProcess(settings, "x").start()
    port = free_port()
    api = LiveApiProcess(settings, "api", port).start()
    try:
        produced = run_cli(settings, "produce", str(events))
        assert produced.returncode == 0, produced.stderr

        def alive() -> None:
            worker.assert_alive()
            exporter.assert_alive()

        # Every key's last record: the pure figures of the same read-model instant.
        last = wait_for_exact_feed(settings, expected, alive, 180)

        # The live API follows the feed topic: its snapshots are the feed's last records.
        def api_snapshots() -> list[dict[str, Any]] | None:
            api.assert_alive()
            try:
                body = http_json(port, "/api/v1/live?scope=team")
            except OSError:
                return None
            wanted = [r for k, r in sorted(last.items()) if k.startswith("team:")]
            return body["records"] if body["records"] == wanted else None

        wait_until(api_snapshots, 60, "the live API to serve the feed's team records")

        # Prometheus: both expositions pass promtool; every produced record has one outcome.
        produced_records = sum(1 for line in lines if line.strip())

        def outcomes() -> float | None:
            text = scrape(settings.metrics_port)
            total = sum(
                value
                for name, labels, value in samples(text)
                if name == "streamproc_events_total"
                and labels.get("outcome") in ("applied", "duplicate", "dead_lettered")
            )
            return total if total == produced_records else None

        wait_until(outcomes, 60, "the worker's event counters to cover every record")
        for port_ in (settings.metrics_port, settings.exporter_metrics_port):
            checked = promtool_check(scrape(port_))
            assert checked.returncode == 0, checked.stdout + checked.stderr
        exporter_text = scrape(settings.exporter_metrics_port)
        feed_sent = dict((name, value) for name, _, value in samples(exporter_text))
        assert feed_sent["streamproc_feed_records_total"] >= len(expected)
        assert feed_sent["streamproc_feed_emit_seconds_count"] >= 1
        assert feed_sent["streamproc_readmodel_watermark_seconds"] == final_as_of / 1000

        def lags() -> list[tuple[str, float]] | None:
            found = [
                (labels["topic"], value)
                for name, labels, value in samples(scrape(settings.exporter_metrics_port))
                if name == "streamproc_consumer_lag_records"
            ]
            partitions = len(settings.consumed_topics) * settings.events_partitions
            return found if len(found) == partitions and not any(v for _, v in found) else None

        # Measured every 5 s: every inbound partition, all caught up (the feed settled).
        measured = wait_until(lags, 60, "the exporter's consumer-lag gauges")
        assert {t for t, _ in measured} == set(settings.consumed_topics)
        worker_text = scrape(settings.metrics_port)
        assert any(
            name == "streamproc_changelog_bytes_total" and value > 0
            for name, _, value in samples(worker_text)
        )
        day = local_day(final_as_of, ZoneInfo(TZ))
        api_metrics = {
            (team, metric): http_json(
                port,
                f"/api/v1/metrics?scope=team&id={quote(team)}&metric={metric}&from={day}&to={day}"
                f"&timezone={TZ}&interval=HOUR",
            )
            for scope, team in (key.split(":", 1) for key in expected)
            if scope == "team"
            for metric in ("average_first_response_ms", "replies", "contacts_helped")
        }
    finally:
        api.stop()
        exporter.stop()
        worker.stop()
    records = feed_records(settings)
    assert len(records) < 10 * len(expected), "records are sent on change, coalesced"

    # Independently: the batch oracle over the same events at the same instant.
    as_of = datetime.fromisoformat(last["all:all"]["as_of"])
    assert_all_equals_the_oracle(last["all:all"], lines, final_as_of, TZ, settings.lock_max_s)
    day = local_day(final_as_of, ZoneInfo(TZ))
    request = parse_request(
        {"request_id": "o", "export_type": "teams", "from": day.isoformat(),
         "to": day.isoformat(), "timezone": TZ}
    )  # fmt: skip
    team_rows = oracle_rows(lines, request, as_of.astimezone(UTC))
    assert team_rows, "the simulated day has team activity"
    for row in team_rows:
        feed_today = last[f"team:{row['team_id']}"]["today"]
        resolves = row["resolves_with_reply"] + row["resolves_without_reply"]
        assert feed_today["resolved"] == resolves
        assert feed_today["resolved_with_reply"] == row["resolves_with_reply"]
        average = row["average_first_response_time"]
        assert feed_today["avg_first_response_ms"] == json_number(average)
        assert feed_today["csat_count"] == sum(row[f"csat_with_score_{k}"] for k in range(1, 6))
        # The API's DAY value from the 15-minute aggregates: the same figures.
        for metric, column in (
            ("average_first_response_ms", "average_first_response_time"),
            ("replies", "replies"),
            ("contacts_helped", "contacts_helped"),
        ):
            body = api_metrics.get((row["team_id"], metric))
            assert body is not None and body["total"] == json_number(row[column]), metric
