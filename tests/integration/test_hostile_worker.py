"""Hostile records on the real broker: each is dead-lettered with a short reason, the worker
never exits, and the normal events after them are applied."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streamproc.changelog import read_table, read_to_end
from streamproc.intake import DEAD_LETTER_KEPT_BYTES, MAX_REASON_CHARS, partition_for_key
from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.state import conversation_log
from streamproc.topics import ensure_topics
from tests.expectations import caught_up
from tests.harness import WorkerProcess, wait_until

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
MAX_RECORD_BYTES = 40_000  # small: a conversation of a few hundred events would pass it whole


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def team(event_id: str, team_id: str, occurred_at: str, name: str = "x") -> dict[str, Any]:
    return {"event_id": event_id, "type": "team.upserted", "occurred_at": occurred_at,
            "team_id": team_id, "name": name}  # fmt: skip


def presence(event_id: str, agent: str, at: str, state: Any = "AWAY") -> dict[str, Any]:
    return {"event_id": event_id, "type": "agent.presence_changed", "occurred_at": at,
            "agent_id": agent, "presence": state, "away_status": None}  # fmt: skip


def message(event_id: str, conversation: str, at: datetime, n: int) -> dict[str, Any]:
    return {"event_id": event_id, "type": "message.created", "occurred_at": stamp(at),
            "message_id": f"{conversation}-m{n}", "conversation_id": conversation,
            "direction": "INBOUND", "sender": {"kind": "CONTACT", "id": "contact-1"},
            "team_id": None, "message_type": "TEXT", "origin": "CHANNEL",
            "outbound_type": None, "system_user_type": None, "content": "hola ✓ 𝄞",
            "post_url": None}  # fmt: skip


@dataclass
class Record:
    """One record to publish, and the dead-letter category it must get (None: applied)."""

    topic: str
    key: bytes | None
    value: bytes | None
    category: str | None


def hostile_records(s: Settings) -> list[Record]:
    directory, presence_topic, messages = s.topic_directory, s.topic_presence, s.topic_messages
    far = "9999-12-31T23:59:59-01:00"

    def event(topic: str, obj: dict[str, Any], category: str | None, key: str | None) -> Record:
        return Record(topic, None if key is None else key.encode(), orjson.dumps(obj), category)

    records = [
        # The overflow that used to crash-loop the worker (exit 71 on every restart).
        event(directory, team("h-overflow", "t1", far), "invalid", "t1"),
        event(directory, team("h-offset", "t1", "2026-11-02T10:00:00+05:99"), "invalid", "t1"),
        # Valid times outside the accepted window: a year-9999 upsert would pin the record.
        event(directory, team("h-future", "t1", "9999-12-31T23:00:00Z"), "out_of_range", "t1"),
        event(directory, team("h-past", "t1", "1970-01-02T00:00:00Z"), "out_of_range", "t1"),
        event(
            presence_topic,
            presence("h-away-9999", "agent-h", "9999-01-01T00:00:00Z"),
            "out_of_range",
            "agent-h",
        ),
        # A reason that used to embed a 689 KB repr.
        event(
            presence_topic,
            presence("h-list", "agent-h", stamp(NOW), list(range(100_000))),
            "invalid",
            "agent-h",
        ),
        # Ids: too long; unicode that must be accepted as it is.
        event(directory, team("h-long-id", "t" * 300, stamp(NOW)), "invalid", "t" * 300),
        event(directory, team("h-unicode", "équipe|𝄞\u200b", stamp(NOW)), None, "équipe|𝄞\u200b"),
        # Not events at all.
        Record(directory, b"k", b"\xff\xfe not utf-8", "invalid"),
        Record(directory, b"k", b"[" * 5000 + b"]" * 5000, "invalid"),
        Record(directory, b"k", None, "invalid"),
        # ~1 MB: a key that leaves no room for the dead letter's headers, and a value whose
        # record would be over the table bound.
        Record(directory, b"K" * 990_000, b"{}", "invalid"),
        event(directory, team("h-huge", "t2", stamp(NOW), "n" * 990_000), "too_large", "t2"),
    ]
    # A long-lived conversation (its whole log is well over the record bound): kept in
    # segments, every event applies and no record passes the bound.
    start = NOW - timedelta(days=3)
    for n in range(400):
        obj = message(f"h-long-{n}", "conv-long", start + timedelta(minutes=n), n)
        records.append(event(messages, obj, None, "conv-long"))
    # Normal events after everything: each must be applied.
    records += [
        event(directory, team("ok-team", "t-ok", stamp(NOW)), None, "t-ok"),
        event(presence_topic, presence("ok-presence", "agent-h", stamp(NOW)), None, "agent-h"),
        event(messages, message("ok-message", "conv-ok", NOW, 0), None, "conv-ok"),
    ]
    return records


async def publish(s: Settings, records: list[Record]) -> list[tuple[str, int, int]]:
    producer = AIOKafkaProducer(**client_kwargs(s), max_request_size=2_000_000, acks="all")
    await producer.start()
    try:
        where = []
        for r in records:
            partition = partition_for_key(r.key, s.events_partitions) if r.key else 0
            meta = await producer.send_and_wait(r.topic, r.value, key=r.key, partition=partition)
            where.append((r.topic, meta.partition, meta.offset))
        return where
    finally:
        await producer.stop()


def test_hostile_records_are_dead_lettered_and_the_worker_goes_on(isolated: Settings) -> None:
    settings = replace(isolated, max_record_bytes=MAX_RECORD_BYTES, event_max_age_days=30)
    asyncio.run(ensure_topics(settings))
    records = hostile_records(settings)
    where = asyncio.run(publish(settings, records))
    worker = WorkerProcess(settings, "hostile").start()
    try:

        def done() -> bool:
            worker.assert_alive()
            return caught_up(settings)

        wait_until(done, 180, "the worker to drain the hostile records", poll_s=1.0)
        dead = asyncio.run(read_to_end(settings, settings.topic_deadletter))
        by_source = {}
        for d in dead:
            headers = {k: v for k, v in d.headers}
            source = (
                headers["source_topic"].decode(),
                int(headers["source_partition"]),
                int(headers["source_offset"]),
            )
            by_source[source] = (headers, d)
        for record, source in zip(records, where, strict=True):
            got = by_source.get(source)
            if record.category is None:
                assert got is None, f"{record.value!r:.80} was dead-lettered: {got}"
            else:
                assert got is not None, f"{record.value!r:.80} was not dead-lettered"
                headers, d = got
                assert headers["category"].decode() == record.category, headers["reason"]
                reason = headers["reason"].decode()
                assert len(reason) <= MAX_REASON_CHARS and "\n" not in reason
        # The ~1 MB records were dead-lettered cut to 64 KiB, with their length and digest.
        huge_key = by_source[where[11]][0]
        assert int(huge_key["original_key_length"]) == 990_000
        assert len(by_source[where[11]][1].key) == DEAD_LETTER_KEPT_BYTES

        directory = asyncio.run(read_table(settings, "directory"))
        teams = {k for k in directory if k.startswith(b"team|")}
        assert teams == {b"team|t-ok", "team|équipe|𝄞\u200b".encode()}, teams
        conversations = asyncio.run(read_table(settings, "conversations"))
        assert b"conv-ok" in conversations
        segments = asyncio.run(read_table(settings, "segments"))
        stored = {e.event_id for e in conversation_log(conversations, segments, "conv-long")}
        assert len(stored) == 400
        whole_log = sum(len(v) for k, v in segments.items() if b'"conv-long"' in k)
        assert whole_log > MAX_RECORD_BYTES  # (so the bound would have been passed)
        assert max(len(k) + len(v) for k, v in segments.items()) <= MAX_RECORD_BYTES
        worker.assert_alive()
    finally:
        worker.stop()
