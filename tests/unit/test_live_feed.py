"""The feed emitter: on change only, coalesced per interval, one record per key."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import orjson

from streamproc.live.feed import FeedEmitter
from streamproc.settings import Settings
from tests.offline import ingest, load_model
from tests.unit.eventlog import EventLog
from tests.unit.live_day import live_day_log


def test_records_go_out_on_change_at_most_once_per_interval(tmp_path: Path) -> None:
    sent: list[tuple[str, bytes, dict[str, object]]] = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        sent.append((topic, key, orjson.loads(value)))

    settings = replace(Settings(), feed_interval_s=3600.0, topic_metrics="m")
    feed = FeedEmitter(settings, send)
    stores, _ = ingest(live_day_log().lines)
    model = load_model(stores, tmp_path / "rm.sqlite")

    first = asyncio.run(feed.after_refresh(model))
    keys = [key for _, key, _ in sent]
    assert first == len(keys) == len(set(keys)) == 9
    assert {topic for topic, _, _ in sent} == {"m"}
    assert b"team:t1" in keys and b"all:all" in keys

    # A new event inside the interval: nothing yet (coalesced).
    later = EventLog("late-").created("cv9", "09:50:00", "ch-2").inbound("cv9", "m9", "09:50:00")
    later.queue("cv9", "09:50:00", "m9")
    stores, _ = ingest(later.lines, stores)
    load_model(stores, tmp_path / "rm.sqlite").close()
    model = load_model(stores, tmp_path / "rm.sqlite")
    assert asyncio.run(feed.after_refresh(model)) == 0

    # Interval over: only the keys whose value changed (the new conversation's channel and
    # "all"; presence/teams/agents unchanged although as_of moved).
    sent.clear()
    feed.next_run = 0.0
    assert asyncio.run(feed.after_refresh(model)) == 2
    assert sorted(key for _, key, _ in sent) == [b"all:all", b"channel:ch-2"]
    record = dict((key, value) for _, key, value in sent)[b"all:all"]
    assert record["live"]["new"] == 3  # type: ignore[index]
    assert record["as_of"] == "2026-11-02T09:50:00.000Z"

    # Nothing changed: nothing sent.
    feed.next_run = 0.0
    assert asyncio.run(feed.after_refresh(model)) == 0
