"""The feed emitter: on change only, coalesced per interval, one record per key."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from exporter.readmodel import STATE_TABLES, ReadModel
from streamproc.live.feed import FeedEmitter, emit_after_refresh
from streamproc.settings import Settings, SettingsError
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


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"STREAMPROC_FEED_INTERVAL_S": "0.25"}, "feed_interval_s", 0.25),
        ({}, "feed_interval_s", 0.5),
        ({"STREAMPROC_FEED_TIMEZONE": "Europe/Madrid"}, "feed_timezone", "Europe/Madrid"),
        ({"STREAMPROC_METRICS_PORT": "0"}, "metrics_port", 0),
        ({"STREAMPROC_EXPORTER_METRICS_PORT": "9465"}, "exporter_metrics_port", 9465),
        ({}, "topic_metrics", "inbox.metrics"),
    ],
)
def test_live_settings(env: dict[str, str], field: str, expected: object) -> None:
    assert getattr(Settings.from_env(env), field) == expected


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"STREAMPROC_FEED_INTERVAL_S": "0"}, "positive number of seconds"),
        ({"STREAMPROC_FEED_INTERVAL_S": "soon"}, "is not a number"),
        ({"STREAMPROC_FEED_INTERVAL_S": "nan"}, "positive number of seconds"),
        ({"STREAMPROC_FEED_TIMEZONE": "Mars/Base"}, "IANA time zone"),
        ({"STREAMPROC_METRICS_PORT": "-1"}, "0 for off"),
        ({"STREAMPROC_METRICS_PORT": "70000"}, "0 for off"),
    ],
)
def test_bad_live_settings_say_how_to_fix_them(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env(env)


def test_namespaced_settings_have_their_own_feed_topic(tmp_path: Path) -> None:
    assert Settings().namespaced("ns", tmp_path).topic_metrics == "ns.inbox.metrics"


def test_an_unmoved_read_model_is_not_recomputed_and_a_failed_send_resends_all(
    tmp_path: Path,
) -> None:
    sent: list[bytes] = []
    failing = {"now": False}

    async def send(topic: str, key: bytes, value: bytes) -> None:
        if failing["now"]:
            raise ConnectionError("broker restarting")
        sent.append(key)

    feed = FeedEmitter(replace(Settings(), feed_interval_s=3600.0), send)
    stores, _ = ingest(live_day_log().lines)
    model = ReadModel(tmp_path / "rm.sqlite", 7_200_000)
    for name in STATE_TABLES:  # as the changelog follower does: values and offsets
        model.apply_batch(name, dict(getattr(stores, name)), {(f"{name}-changelog", 0): 5})
    assert asyncio.run(feed.after_refresh(model)) == 9
    model.conn.execute("DELETE FROM presence_intervals")  # (not how a model changes)
    feed.next_run = 0.0
    assert asyncio.run(feed.after_refresh(model)) == 0, "same offsets: not recomputed"

    # A send that fails: logged, the service goes on, and every key goes out again.
    failing["now"] = True
    model.apply_batch("directory", {}, {("directory-changelog", 0): 6})
    feed.next_run = 0.0
    asyncio.run(emit_after_refresh(feed, model))
    failing["now"] = False
    sent.clear()
    feed.next_run = 0.0
    asyncio.run(emit_after_refresh(feed, model))
    assert len(sent) == 9


def test_a_key_whose_figures_are_gone_gets_a_tombstone(tmp_path: Path) -> None:
    sent: list[tuple[bytes, bytes | None]] = []

    async def send(topic: str, key: bytes, value: bytes | None) -> None:
        sent.append((key, value))

    feed = FeedEmitter(replace(Settings(), feed_interval_s=3600.0), send)
    stores, _ = ingest(live_day_log().lines)
    model = load_model(stores, tmp_path / "rm.sqlite")
    asyncio.run(feed.after_refresh(model))
    phantom = ("agent", "agent-that-was-a-virtual-agent")
    feed.sent[phantom] = {"scope": "agent", "id": phantom[1]}  # sent earlier, gone now
    sent.clear()
    feed.next_run, feed.read_offsets = 0.0, None
    assert asyncio.run(feed.after_refresh(model)) == 1
    assert sent == [(b"agent:agent-that-was-a-virtual-agent", None)]
    assert phantom not in feed.sent
