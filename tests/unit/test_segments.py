"""A conversation's log in segments: the same facts as one whole fold, at a bounded cost."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from exporter.readmodel import ReadModel
from streamproc import keys, state
from streamproc.events import Event
from streamproc.intake import partition_for_key
from streamproc.metrics import Admission
from streamproc.metrics.buckets import contributions
from streamproc.metrics.conversation import Carry, fold
from streamproc.metrics.conversation_log import encode, log_entry
from streamproc.metrics.segments import (
    SEGMENT_ENTRIES,
    SEGMENT_SPLIT_ENTRIES,
    carry_from_json,
    carry_to_json,
)
from streamproc.state import BatchStores, Stores, apply_event, conversation_log
from streamproc.writeback import WriteBack
from tests.offline import LOCK_MAX_MS, RULES, load_model, new_stores, per_conversation
from tests.unit.eventlog import EventLog, ms

CONV = "conv-long"
FACT_TABLES = (
    "conv_messages",
    "queue_entries",
    "responses",
    "resolutions",
    "sessions",
    "status_changes",
    "applications",
    "csat_responses",
)


def long_conversation(rounds: int, seed: int) -> list[Event]:
    """One conversation of about eight events a round: queue, lock, reply, labels, unlock,
    resolution, CSAT; some message creations repeated (earlier and later)."""
    rng = random.Random(seed)
    log = EventLog(f"e{seed}-")
    log.created(CONV, 0)
    t = 10.0
    for r in range(rounds):
        log.inbound(CONV, f"in-{r}", t)
        log.queue(CONV, t + 1, inbound=f"in-{r}")
        agent = rng.choice(["a1", "a2", "a3"])
        log.lock(CONV, t + 5, agent, team=rng.choice([None, "t1"]))
        if rng.random() < 0.8:
            log.reply(CONV, f"out-{r}", t + 20 + rng.random() * 30, agent=agent)
            log.tag(CONV, f"out-{r}", rng.choice(["x", "y"]), t + 60, actor=("AGENT", agent))
        if rng.random() < 0.1:  # a repeated creation, after or before the first
            log.inbound(CONV, f"in-{r}", t + rng.choice([-5, 90]))
        log.topic(CONV, rng.choice(["billing", "bugs"]), t + 70, removed=rng.random() < 0.3)
        if rng.random() < 0.5:
            log.unlock(CONV, t + 80, agent)
        if rng.random() < 0.6:
            log.resolve(CONV, t + 100, actor=("AGENT", agent), comment=f"done {r}")
            if rng.random() < 0.3:
                log.csat_sent(CONV, t + 110, f"s{r % 3}")
                log.csat_responded(CONV, t + 130, f"s{r % 3}", rng.randint(1, 5))
        if rng.random() < 0.05:
            log.language(CONV, t + 140, rng.choice(["en", "es"]))
        t += rng.choice([200, 600, 3_000, 9_000])
    return log.events


def ingest_events(events: list[Event], batch_size: int, stores: Stores | None = None) -> Stores:
    stores = stores or new_stores()
    for start in range(0, len(events), batch_size):
        batch = BatchStores.over(stores, RULES)
        for event in events[start : start + batch_size]:
            apply_event(batch, event, RULES)
        batch.flush()
    return stores


def rows(conn: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    """A table's rows without the segment column, sorted (row order is not part of it)."""
    names = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "segment"]
    cursor = conn.execute(f"SELECT {', '.join(names)} FROM {table}")  # noqa: S608
    return sorted(cursor.fetchall(), key=repr)


def whole_log_model(stores: Stores, path: Path) -> ReadModel:
    """A read model of the conversation folded whole (a record of the format before
    segments), with the same messages."""
    model = ReadModel(path, LOCK_MAX_MS)
    entries = conversation_log(stores.conversations, stores.segments, CONV)
    legacy = orjson.dumps({"log": [encode(e) for e in entries], "bk": []})
    model.apply_batch("conversations", {CONV.encode(): legacy}, {})
    model.apply_batch("messages", dict(stores.messages), {})
    return model


ARRIVALS = ["in_order", "reversed", "shuffled_with_duplicates", "late_tail"]


def arrive(events: list[Event], how: str, seed: int) -> list[Event]:
    rng = random.Random(seed)
    if how == "in_order":
        return list(events)
    if how == "reversed":
        return events[::-1]
    if how == "late_tail":  # every 40th event held back to the end
        return [e for i, e in enumerate(events) if i % 40] + events[::40]
    shuffled = events + rng.sample(events, k=len(events) // 5)
    rng.shuffle(shuffled)
    return shuffled


@pytest.mark.parametrize("memo", ["remembered", "forgotten"])
@pytest.mark.parametrize("batch_size", [1, 37])
@pytest.mark.parametrize("how", ARRIVALS)
def test_segments_give_the_facts_of_the_whole_fold(
    how: str, batch_size: int, memo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same facts whether this process remembers its folds or not (a restarted
    worker, or a conversation evicted from the memo: bucket records are then compared
    with the store's)."""
    state.forget_folds()
    if memo == "forgotten":
        monkeypatch.setattr(state, "_remember", lambda key, folded: None)
    events = long_conversation(rounds=60, seed=7)
    stores = ingest_events(arrive(events, how, seed=7), batch_size)
    entries = conversation_log(stores.conversations, stores.segments, CONV)
    assert entries == sorted(entries, key=lambda e: (e.occurred_at_ms, e.event_id))
    assert {e.event_id for e in entries} == {e.event_id for e in events if log_entry(e)}
    assert len(stores.segments) > len(entries) // SEGMENT_SPLIT_ENTRIES
    segmented = load_model(stores, tmp_path / "segments.sqlite")
    whole = whole_log_model(stores, tmp_path / "whole.sqlite")
    for table in ("conversations", *FACT_TABLES):
        assert rows(segmented.conn, table) == rows(whole.conn, table), table
    # Each conversation's contribution to each bucket is the whole fold's.
    facts = fold(CONV, entries, LOCK_MAX_MS)
    partition = partition_for_key(CONV.encode(), RULES.partitions)
    expected = {
        keys.parse_activity_key(keys.activity_key(partition, bucket, CONV)): contribution
        for bucket, contribution in contributions(facts).items()
    }
    got = per_conversation(stores.activity)
    for contribution in expected.values():
        for metric, value in contribution.items():
            if isinstance(value, list):
                contribution[metric] = sorted(set(value))
    assert got == expected


def test_a_repeated_creation_that_arrives_earlier_moves_the_count(tmp_path: Path) -> None:
    log = EventLog("r-")
    log.created(CONV, 0)
    for n in range(SEGMENT_ENTRIES + 4):
        log.language(CONV, 1 + n, "en")
    log.inbound(CONV, "m1", 100)  # in the second segment; the early one goes in the first
    for n in range(3 * SEGMENT_ENTRIES):
        log.language(CONV, 200 + n, "en")
    log.message(CONV, "m1", 50, "OUTBOUND", ("AGENT", "a1"), event_id="r-early")
    stores = ingest_events(log.events, batch_size=1)
    model = load_model(stores, tmp_path / "rm.sqlite")
    conn = model.conn
    assert conn.execute("SELECT t, direction FROM conv_messages").fetchall() == [
        (ms(50), "OUTBOUND")
    ]
    counts = conn.execute("SELECT inbound_count, outbound_count FROM conversations").fetchone()
    assert counts == (0, 1)


def test_an_in_order_event_costs_the_same_at_any_length() -> None:
    events = long_conversation(rounds=300, seed=3)
    stores = ingest_events(events[:-50], batch_size=500)
    written: list[int] = []
    for event in events[-50:]:
        batch = BatchStores.over(stores, RULES)
        apply_event(batch, event, RULES)
        batch.settle()
        written.append(
            sum(
                len(k) + len(v or b"")
                for f in fields(Stores)
                for k, v in cast(WriteBack, getattr(batch, f.name)).pending.items()
            )
        )
        batch.flush()
    # Each event rewrites at most its tail segment (or two, when it starts a new one),
    # the head, its message and the buckets it changed: a few KiB whatever the length.
    assert max(written) < 12_000, max(written)
    assert len(conversation_log(stores.conversations, stores.segments, CONV)) > 2_000


def test_a_record_of_the_format_before_segments_is_moved_into_segments() -> None:
    events = long_conversation(rounds=20, seed=5)
    reference = ingest_events(events, batch_size=1)
    # The same state as the earlier format held it: one record, one key per bucket.
    entries = conversation_log(reference.conversations, reference.segments, CONV)
    facts = fold(CONV, entries, LOCK_MAX_MS)
    partition = partition_for_key(CONV.encode(), RULES.partitions)
    stores = new_stores()
    stores.messages.update(reference.messages)
    buckets = contributions(facts)
    legacy = {"log": [encode(e) for e in entries], "bk": sorted(buckets)}
    stores.conversations[CONV.encode()] = orjson.dumps(legacy)
    for bucket, contribution in buckets.items():
        stores.activity[keys.activity_key(partition, bucket, CONV)] = orjson.dumps(contribution)
    batch = BatchStores.over(stores, RULES)
    assert apply_event(batch, events[-1], RULES) is Admission.DUPLICATE
    batch.flush()
    assert "log" not in orjson.loads(stores.conversations[CONV.encode()])
    assert conversation_log(stores.conversations, stores.segments, CONV) == entries
    assert all(keys.parse_activity_key_segment(k)[5] is not None for k in stores.activity)
    assert per_conversation(stores.activity) == per_conversation(reference.activity)


@pytest.mark.parametrize("seed", range(4))
def test_the_carry_round_trips_through_json(seed: int) -> None:
    events = long_conversation(rounds=8, seed=seed)
    entries = [e for e in map(log_entry, events) if e is not None]
    for cut in range(0, len(entries), 5):
        end = fold(CONV, entries[:cut], LOCK_MAX_MS).end
        assert end is not None
        stored = orjson.loads(orjson.dumps(carry_to_json(end)))
        assert carry_from_json(stored) == end
    assert carry_from_json(carry_to_json(Carry())) == Carry()


def test_a_damaged_carry_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a stored fold carry"):
        carry_from_json([1, 2, 3])


def segments_written(stores: Stores, event: Event) -> int:
    """How many segment records applying ``event`` (a batch of one) writes."""
    batch = BatchStores.over(stores, RULES)
    apply_event(batch, event, RULES)
    batch.settle()
    count = len(cast(WriteBack, batch.segments).pending)
    batch.flush()
    return count


def test_a_late_event_refolds_only_the_segments_it_changes() -> None:
    events = long_conversation(rounds=250, seed=11)
    stores = ingest_events(events, batch_size=500)
    assert len(stores.segments) > 100
    middle = events[len(events) // 2]
    at = (middle.occurred_at_ms - ms(0)) / 1000
    log = EventLog("late-")
    for n in range(3):
        log.message(CONV, f"late-{n}", at + 0.001 * (n + 1), "INBOUND", ("CONTACT", "c1"))
    log.tag(CONV, "in-3", "late-tag", at + 0.005)
    written = [segments_written(stores, e) for e in log.events]
    # One segment (two if it had to split), not the ~100 after it: messages are counted
    # by the read model, not carried from segment to segment.
    assert max(written) <= 2, written
    assert written[-1] == 1
