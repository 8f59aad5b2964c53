"""Hostile input at the pure layer: times, ids, reasons, dead-letter sizes, record bounds."""

from __future__ import annotations

import hashlib
from dataclasses import fields
from typing import Any, cast

import orjson
import pytest

from streamproc import intake
from streamproc.events import MAX_ID_LEN, Event, InvalidEvent, parse_event, shown
from streamproc.intake import (
    DEAD_LETTER_KEPT_BYTES,
    DEAD_LETTER_MAX_BYTES,
    MAX_REASON_CHARS,
    Rejection,
    admit_record,
    dead_letter,
    partition_for_key,
)
from streamproc.metrics import Admission
from streamproc.settings import Settings
from streamproc.state import (
    STORE_NAMES,
    BatchStores,
    RecordTooLarge,
    Rules,
    Stores,
    apply_event,
    conversation_log,
)
from streamproc.writeback import WriteBack

NOW_MS = 1_793_620_800_000  # 2026-11-02T12:00:00Z
S = Settings(event_max_age_days=30, event_max_future_s=86_400)


def team(occurred_at: str, team_id: str = "t1", name: str = "x") -> bytes:
    return orjson.dumps(
        {
            "event_id": "e1",
            "type": "team.upserted",
            "occurred_at": occurred_at,
            "team_id": team_id,
            "name": name,
        }
    )


@pytest.mark.parametrize(
    ("occurred_at", "why"),
    [
        ("9999-12-31T23:59:59-01:00", "outside the years"),  # overflow: used to crash
        ("0001-01-01T00:00:00+01:00", "outside the years"),  # underflow
        ("2026-11-02T10:00:00+05:99", "offsets -23:59..+23:59"),
        ("2026-11-02T10:00:00+24:00", "offsets -23:59..+23:59"),
        ("2026-11-02T10:00:00", "RFC 3339"),
    ],
)
def test_times_that_cannot_be_read_are_invalid(occurred_at: str, why: str) -> None:
    with pytest.raises(InvalidEvent, match="occurred_at") as raised:
        parse_event(team(occurred_at))
    assert why in raised.value.reason


@pytest.mark.parametrize(
    ("occurred_at", "category"),
    [
        ("2026-11-02T12:00:00Z", None),
        ("2026-10-04T12:00:00Z", None),  # 29 days back
        ("2026-10-02T11:59:59Z", "out_of_range"),  # more than 30 days back
        ("2026-11-03T12:00:00Z", None),  # exactly one day ahead
        ("2026-11-03T12:00:00.001Z", "out_of_range"),
        ("9999-12-31T23:00:00Z", "out_of_range"),
        ("1970-01-01T00:00:00Z", "out_of_range"),
    ],
)
def test_the_accepted_event_time_window(occurred_at: str, category: str | None) -> None:
    key = b"t1"
    outcome = admit_record(
        S, S.topic_directory, partition_for_key(key, 8), key, team(occurred_at), 8, NOW_MS
    )
    if category is None:
        assert not isinstance(outcome, Rejection), outcome
    else:
        assert isinstance(outcome, Rejection) and outcome.category == category
        assert "STREAMPROC_EVENT_MAX" in outcome.reason


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("team_id", "t" * MAX_ID_LEN, True),
        ("team_id", "t" * (MAX_ID_LEN + 1), False),
        ("team_id", "équipe|𝄞\u200b\u202e", True),
        ("name", "n" * 10_000, True),  # names are not ids: bounded by the record size
    ],
)
def test_ids_are_bounded(field: str, value: str, ok: bool) -> None:
    obj: dict[str, Any] = orjson.loads(team("2026-11-02T12:00:00Z"))
    obj[field] = value
    if ok:
        assert getattr(parse_event(orjson.dumps(obj)), field) == value
    else:
        with pytest.raises(InvalidEvent, match=f"longer than {MAX_ID_LEN}"):
            parse_event(orjson.dumps(obj))


@pytest.mark.parametrize(
    "value",
    [list(range(100_000)), {str(i): i for i in range(50_000)}, "x" * 1_000_000, 10**4000],
)
def test_reasons_quote_at_most_a_short_piece_of_a_bad_value(value: Any) -> None:
    assert len(shown(value)) <= 60
    obj = {"event_id": "e1", "type": "agent.presence_changed",
           "occurred_at": "2026-11-02T12:00:00Z", "agent_id": "a1", "presence": value}  # fmt: skip
    try:
        raw = orjson.dumps(obj)
    except orjson.JSONEncodeError:
        return  # not representable in JSON: nothing to send
    with pytest.raises(InvalidEvent) as raised:
        parse_event(raw)
    assert len(raised.value.reason) < 200


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("short", "short"),
        ("two\nlines\r\nand\ttabs", "two lines and tabs"),
        ("r" * 5000, "r" * (MAX_REASON_CHARS - 1) + "…"),
    ],
)
def test_bounded_reason(reason: str, expected: str) -> None:
    assert Rejection("invalid", reason).bounded_reason == expected


@pytest.mark.parametrize(
    ("key_len", "value_len", "cut"),
    [
        (10, 1_000, False),
        (10, DEAD_LETTER_MAX_BYTES - 500, False),
        (10, 1_000_000, True),
        (990_000, 2, True),
        (600_000, 600_000, True),
    ],
)
def test_dead_letters_always_fit(key_len: int, value_len: int, cut: bool) -> None:
    key, value = b"k" * key_len, b"v" * value_len
    out_key, out_value, headers = dead_letter(
        Rejection("invalid", "why " * 1000), "inbox.directory", 3, 77, key, value
    )
    named = dict(headers)
    size = len(out_key or b"") + len(out_value or b"") + sum(len(n) + len(v) for n, v in headers)
    assert size <= DEAD_LETTER_MAX_BYTES
    assert len(named["reason"]) <= MAX_REASON_CHARS * 3  # utf-8 of at most 300 characters
    assert (named.get("truncated") == b"true") is cut
    if not cut:
        assert (out_key, out_value) == (key, value)
    for name, original, out in (("key", key, out_key), ("value", value, out_value)):
        if f"original_{name}_length" in named:
            assert int(named[f"original_{name}_length"]) == len(original)
            digest = hashlib.sha256(original).hexdigest().encode()
            assert named[f"original_{name}_sha256"] == digest
            assert out == original[:DEAD_LETTER_KEPT_BYTES]


def test_the_hash_memo_keeps_no_long_keys() -> None:
    intake._HASHES.clear()
    long_key = b"k" * 10_000
    assert partition_for_key(long_key, 8) == partition_for_key(long_key, 8)
    assert long_key not in intake._HASHES
    partition_for_key(b"short", 8)
    assert b"short" in intake._HASHES


def memory_stores() -> Stores:
    return Stores(*({} for _ in range(len(STORE_NAMES))))  # type: ignore[arg-type]


def test_a_record_over_the_bound_is_refused_before_anything_is_written() -> None:
    stores = memory_stores()
    batch = BatchStores.over(stores, Rules())
    event = parse_event(team("2026-11-02T12:00:00Z", name="n" * 5_000))
    apply_event(batch, event, Rules())
    with pytest.raises(RecordTooLarge, match="over the 4,000-byte bound"):
        batch.check_sizes(4_000)
    assert stores.directory == {}
    batch.check_sizes(10_000)
    batch.flush()
    assert len(stores.directory) == 1


def language_set(n: int, conversation: str = "c1") -> Event:
    return parse_event(
        orjson.dumps(
            {
                "event_id": f"e{n:05d}",
                "type": "conversation.language_set",
                "occurred_at": f"2026-11-02T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
                "conversation_id": conversation,
                "language": "es",
            }
        )
    )


def test_a_long_conversation_applies_every_event_in_bounded_records() -> None:
    rules = Rules(max_record_bytes=20_000)
    stores = memory_stores()
    largest = 0
    for n in range(3_000):
        batch = BatchStores.over(stores, rules)
        assert apply_event(batch, language_set(n), rules) is Admission.ACCEPTED
        batch.check_sizes(rules.max_record_bytes)
        for f in fields(Stores):
            for key, value in cast(WriteBack, getattr(batch, f.name)).pending.items():
                largest = max(largest, len(key) + len(value or b""))
        batch.flush()
    assert largest <= 4_000, largest  # a segment of at most 16 small entries and its carry
    logged = conversation_log(stores.conversations, stores.segments, "c1")
    assert [e.event_id for e in logged] == [f"e{n:05d}" for n in range(3_000)]


def test_an_entry_too_large_for_any_record_is_refused_and_the_next_applies() -> None:
    rules = Rules(max_record_bytes=2_000)
    stores = memory_stores()
    created = parse_event(
        orjson.dumps(
            {
                "event_id": "big",
                "type": "conversation.created",
                "occurred_at": "2026-11-02T12:00:00Z",
                "conversation_id": "c1",
                "channel_id": "ch",
                "contact_profile_id": "p",
                "url": "https://x/" + "u" * 600,
            }
        )
    )
    batch = BatchStores.over(stores, rules)
    assert apply_event(batch, created, rules) is Admission.TOO_LARGE
    batch.flush()
    assert stores.conversations == {} and stores.segments == {}
    batch = BatchStores.over(stores, rules)
    assert apply_event(batch, language_set(1), rules) is Admission.ACCEPTED
    batch.flush()
    logged = conversation_log(stores.conversations, stores.segments, "c1")
    assert [e.event_id for e in logged] == ["e00001"]
