"""Operational counts read from the tables' changelogs: events by type, dead letters, lag."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import orjson

from streamproc.changelog import read_table
from streamproc.dedupe import KeyLedger
from streamproc.settings import Settings
from streamproc.topics import consumer_lag


@dataclass
class StatsReport:
    """A snapshot of what the workers have applied and rejected."""

    keys: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)
    rejected_by_category: Counter[str] = field(default_factory=Counter)
    lag: int = 0

    def render(self) -> str:
        """Human-readable table."""
        lines = [f"keys (conversations and entities): {self.keys:,}", "events applied by type:"]
        lines += [f"  {t:32} {n:>10,}" for t, n in sorted(self.events_by_type.items())]
        lines.append(f"  {'total':32} {sum(self.events_by_type.values()):>10,}")
        lines.append("dead-lettered by category:")
        lines += [f"  {c:32} {n:>10,}" for c, n in sorted(self.rejected_by_category.items())]
        lines.append(f"  {'total':32} {sum(self.rejected_by_category.values()):>10,}")
        lines.append(f"consumer lag on inbound topics: {self.lag:,}")
        return "\n".join(lines)


async def collect_stats(settings: Settings) -> StatsReport:
    """Fold the ledger and rejection changelogs into a report."""
    report = StatsReport()
    for raw in (await read_table(settings, "key_ledger")).values():
        report.keys += 1
        report.events_by_type.update(KeyLedger.from_bytes(raw).count_by_type)
    for key, raw in (await read_table(settings, "rejections_by_partition")).items():
        category = key.decode().rsplit("/", 1)[-1]
        report.rejected_by_category[category] += int(orjson.loads(raw))
    report.lag = await consumer_lag(settings, settings.app_id, list(settings.inbound_topics))
    return report


async def wait_caught_up(settings: Settings, timeout_s: float) -> bool:
    """Wait until the worker group has committed everything on the inbound topics."""
    deadline = time.monotonic() + timeout_s
    while True:
        lag = await consumer_lag(settings, settings.app_id, list(settings.inbound_topics))
        if lag == 0:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
