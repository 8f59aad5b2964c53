"""Live operations benchmarks: API latency of interval queries over a month of simulated
data, and the cost of one feed computation (no Kafka; ``python -m bench.live``).

Freshness from produce to feed record needs the broker: ``python -m bench.live freshness``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from streamproc.live.api import LiveView, live_app
from streamproc.live.figures import compute
from streamproc.simulate import simulate_command  # noqa: F401 - the same generator as the CLI


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "n": len(ordered),
    }


def build_month(seed: int, days: int, conversations: int, work: Path) -> Path:
    """A read model of ``days`` simulated days (the worker's state code, offline)."""
    import subprocess
    import sys

    from tests.offline import ingest, load_model

    events = work / "events.jsonl"
    subprocess.run(
        [sys.executable, "-m", "streamproc", "simulate", "--seed", str(seed), "--days",
         str(days), "--conversations", str(conversations), "--out", str(events)],
        check=True, capture_output=True,
    )  # fmt: skip
    stores, _ = ingest(events.read_bytes().splitlines())
    model = load_model(stores, work / "rm.sqlite")
    model.close()
    return work / "rm.sqlite"


async def _api_latency(path: Path, queries: dict[str, dict[str, str]], repeat: int) -> Any:
    from aiohttp.test_utils import TestClient, TestServer

    results: dict[str, Any] = {}
    async with TestClient(TestServer(live_app(path, LiveView()))) as client:
        for name, params in queries.items():
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = await client.get("/api/v1/metrics", params=params)
                body = await response.json()
                samples.append(time.perf_counter() - started)
                assert response.status == 200, body
            results[name] = {**_quantiles(samples), "intervals": len(body["intervals"])}
    return results


@click.group(invoke_without_command=True)
@click.option("--days", default=30, show_default=True)
@click.option("--conversations", default=300, show_default=True, help="Per day.")
@click.option("--repeat", default=100, show_default=True)
@click.pass_context
def main(ctx: click.Context, days: int, conversations: int, repeat: int) -> None:
    """API latency and feed computation cost on a month of simulated data (JSON)."""
    if ctx.invoked_subcommand is not None:
        return
    import sqlite3

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        path = build_month(11, days, conversations, Path(tmp))
        built_s = time.perf_counter() - started
        conn = sqlite3.connect(path)
        team = conn.execute(
            "SELECT json_extract(fields, '$.team_id') FROM directory WHERE kind = 'agent'"
            " AND json_extract(fields, '$.team_id') IS NOT NULL LIMIT 1"
        ).fetchone()[0]
        agent = conn.execute("SELECT id FROM directory WHERE kind = 'agent' LIMIT 1").fetchone()[0]
        buckets = conn.execute("SELECT count(*) FROM activity").fetchone()[0]
        base = {"timezone": "America/New_York"}
        queries = {
            "team_avg_first_response_60_HOUR": {
                **base, "scope": "team", "id": team, "metric": "average_first_response_ms",
                "from": "2026-11-10T05:00:00Z", "to": "2026-11-12T17:00:00Z", "interval": "HOUR"},
            "team_replies_month_DAY": {
                **base, "scope": "team", "id": team, "metric": "replies",
                "from": "2026-11-02", "to": "2026-12-01", "interval": "DAY"},
            "agent_avg_handle_month_DAY": {
                **base, "scope": "agent", "id": agent, "metric": "average_handle_ms",
                "from": "2026-11-02", "to": "2026-12-01", "interval": "DAY"},
            "team_contacts_month_WEEK": {
                **base, "scope": "team", "id": team, "metric": "contacts_helped",
                "from": "2026-11-02", "to": "2026-12-01", "interval": "WEEK"},
        }  # fmt: skip
        api = asyncio.run(_api_latency(path, queries, repeat))
        as_of = conn.execute("SELECT max(log_lu) FROM conversations").fetchone()[0]
        feed = []
        for _ in range(max(5, repeat // 10)):
            started = time.perf_counter()
            records = compute(conn, as_of, "America/New_York").records
            feed.append(time.perf_counter() - started)
        print(json.dumps({
            "days": days, "conversations_per_day": conversations,
            "activity_rows": buckets, "build_s": round(built_s, 1),
            "api": api,
            "feed_compute": {**_quantiles(feed), "keys": len(records)},
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
