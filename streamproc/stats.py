"""Operational counts read from the tables' changelogs: state sizes, dead letters, lag."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import orjson

from streamproc import keys as tablekeys
from streamproc.changelog import read_table
from streamproc.metrics.conversation_log import KIND_OF, read_log
from streamproc.settings import Settings
from streamproc.topics import consumer_lag


@dataclass
class StatsReport:
    """A snapshot of what the workers hold and what they rejected."""

    keys_by_table: Counter[str] = field(default_factory=Counter)
    logged_events_by_type: Counter[str] = field(default_factory=Counter)
    directory_by_kind: Counter[str] = field(default_factory=Counter)
    presence_intervals: int = 0
    rejected_by_category: Counter[str] = field(default_factory=Counter)
    rerouted_by_topic_reason: Counter[tuple[str, str]] = field(default_factory=Counter)
    lag: int = 0

    def render(self) -> str:
        """Human-readable table."""
        lines = ["table keys:"]
        lines += [f"  {t:32} {n:>10,}" for t, n in sorted(self.keys_by_table.items())]
        lines.append("conversation log entries by type:")
        lines += [f"  {t:32} {n:>10,}" for t, n in sorted(self.logged_events_by_type.items())]
        lines.append("directory records by kind:")
        lines += [f"  {k:32} {n:>10,}" for k, n in sorted(self.directory_by_kind.items())]
        lines.append(f"presence intervals: {self.presence_intervals:,}")
        lines.append("dead-lettered by category:")
        lines += [f"  {c:32} {n:>10,}" for c, n in sorted(self.rejected_by_category.items())]
        lines.append(f"  {'total':32} {sum(self.rejected_by_category.values()):>10,}")
        lines.append("re-routed (valid events not keyed/partitioned as the contract says):")
        lines += [
            f"  {topic + ' ' + reason:32} {n:>10,}"
            for (topic, reason), n in sorted(self.rerouted_by_topic_reason.items())
        ]
        lines.append(f"  {'total':32} {sum(self.rerouted_by_topic_reason.values()):>10,}")
        lines.append(f"consumer lag on inbound and re-route topics: {self.lag:,}")
        return "\n".join(lines)


async def collect_stats(settings: Settings) -> StatsReport:
    """Fold the changelogs into a report."""
    report = StatsReport()
    conversations = await read_table(settings, "conversations")
    report.keys_by_table["conversations"] = len(conversations)
    for raw in (await read_table(settings, "segments")).values():
        report.logged_events_by_type.update(KIND_OF[type(e)] for e in read_log(raw))
    for name in ("messages", "presence", "activity", "segments"):
        report.keys_by_table[name] = len(await read_table(settings, name))
    days = await read_table(settings, "presence_days")
    report.keys_by_table["presence_days"] = len(days)
    report.presence_intervals = sum(len(orjson.loads(v)["intervals"]) for v in days.values())
    directory = await read_table(settings, "directory")
    report.keys_by_table["directory"] = len(directory)
    report.directory_by_kind.update(tablekeys.parse_directory_key(k)[0] for k in directory)
    for key, raw in (await read_table(settings, "rejections_by_partition")).items():
        category = key.decode().rsplit("/", 1)[-1]
        report.rejected_by_category[category] += int(orjson.loads(raw)["n"])
    for key, raw in (await read_table(settings, "reroutes_by_partition")).items():
        topic, _partition, reason = key.decode().rsplit("/", 2)
        report.rerouted_by_topic_reason[(topic, reason)] += int(orjson.loads(raw)["n"])
    report.lag = await consumer_lag(settings, settings.app_id, list(settings.consumed_topics))
    return report


async def wait_caught_up(settings: Settings, timeout_s: float) -> bool:
    """Wait until the worker group has committed everything on the inbound topics and the
    re-route topic (one look at both: the committed offsets are read before the end
    offsets, and a forward is flushed before its source offset is committed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lag = await consumer_lag(settings, settings.app_id, list(settings.consumed_topics))
        if lag == 0:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
