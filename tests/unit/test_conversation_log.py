"""Typed conversation log entries and their compact storage form (the stored bytes never change)."""

from __future__ import annotations

import typing
from pathlib import Path

import orjson
import pytest

from streamproc.events import EVENT_TYPES, parse_event
from streamproc.metrics.conversation import _HANDLERS
from streamproc.metrics.conversation_log import (
    ENTRY_KINDS,
    KIND_OF,
    STORAGE_KEYS,
    LockedEntry,
    decode,
    decode_log,
    encode,
    log_entry,
    read_log,
)
from streamproc.state import ADDED
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import ingest

FIXTURE = Path(__file__).parent / "data" / "conversation_log_entries.tsv"
"""One line per sample: an event line, a tab, and the stored entry the code wrote for it
before the entries had names (captured from branch ``integrate``; every kind, every field
both null and set)."""


def samples() -> list[tuple[bytes, bytes]]:
    rows = [line.split(b"\t") for line in FIXTURE.read_bytes().splitlines()]
    return [(event, stored) for event, stored in rows]


@pytest.mark.parametrize(("event_line", "stored"), samples())
def test_an_event_is_stored_as_it_was_before_entries_had_names(
    event_line: bytes, stored: bytes
) -> None:
    entry = log_entry(parse_event(event_line))
    assert entry is not None
    assert orjson.dumps(encode(entry)) == stored
    assert decode(orjson.loads(stored)) == entry
    assert type(decode(orjson.loads(stored))) is type(entry)


def test_the_fixture_covers_every_entry_kind_and_field() -> None:
    kinds: set[str] = set()
    set_fields: set[tuple[str, str]] = set()
    null_fields: set[tuple[str, str]] = set()
    for _event, stored in samples():
        entry = decode(orjson.loads(stored))
        kind = KIND_OF[type(entry)]
        kinds.add(kind)
        for name, value in zip(type(entry)._fields, entry, strict=True):
            (set_fields if value is not None else null_fields).add((kind, name))
    assert kinds == set(ENTRY_KINDS)
    every = {(k, name) for k, cls in ENTRY_KINDS.items() for name in cls._fields}
    assert set_fields == every
    nullable = {
        (kind, name)
        for kind, cls in ENTRY_KINDS.items()
        for name, hint in typing.get_type_hints(cls).items()
        if type(None) in typing.get_args(hint)
    }
    assert nullable <= null_fields


def test_entry_kinds_are_the_conversation_events_the_metrics_read() -> None:
    conversation_events = {t for t, spec in EVENT_TYPES.items() if spec.stream == "conversation"}
    assert set(ENTRY_KINDS) == conversation_events - {"message.updated", "message.deleted"}


def test_one_table_maps_every_field_name_to_one_compact_key() -> None:
    assert len(set(STORAGE_KEYS.values())) == len(STORAGE_KEYS) == 28  # a bijection
    used = {name for cls in ENTRY_KINDS.values() for name in cls._fields} | {"kind"}
    assert used == set(STORAGE_KEYS)


def test_every_entry_class_has_the_fold_handler_typed_for_it() -> None:
    assert set(_HANDLERS) == set(ENTRY_KINDS.values())
    for cls, handler in _HANDLERS.items():
        assert typing.get_type_hints(handler)["e"] is cls, handler.__name__


@pytest.fixture(scope="module")
def simulated_conversations() -> list[bytes]:
    """Conversation records of two simulated days (shuffled, duplicated), batches of one
    and of 500, as the worker stores them."""
    records = []
    for seed, batch_size in ((3, 1), (17, 500)):
        lines = simulate(SimulationConfig(seed=seed, days=2, conversations=60))
        stores, _ = ingest(lines, batch_size=batch_size)
        records += list(stores.segments.values())
    return records


def test_stored_records_are_a_fixed_point_of_decode_then_encode(
    simulated_conversations: list[bytes],
) -> None:
    kinds = set()
    for raw in simulated_conversations:
        record = orjson.loads(raw)
        entries = read_log(raw)
        kinds |= {KIND_OF[type(e)] for e in entries}
        # (the state adds each entry's batch stamp at the storage boundary)
        assert all(isinstance(stored[ADDED], int) for stored in record["log"])
        stamps = [stored[ADDED] for stored in record["log"]]
        assert [{k: v for k, v in s.items() if k != ADDED} for s in record["log"]] == [
            encode(e) for e in entries
        ]
        reencoded = [{**encode(e), ADDED: a} for e, a in zip(entries, stamps, strict=True)]
        assert orjson.dumps({**record, "log": reencoded}) == raw
    assert kinds == set(ENTRY_KINDS)


def test_a_stored_form_that_is_no_entry_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown kind 'message\.updated'"):
        decode({"t": 1, "id": "e1", "k": "message.updated"})
    with pytest.raises(ValueError, match=r"\(no a\)"):
        decode_log(
            [
                encode(LockedEntry(1, "e1", "a1", None)),
                {"t": 2, "id": "e2", "k": "conversation.unlocked"},
            ]
        )
    with pytest.raises(ValueError, match="unknown kind None"):
        decode_log([{"t": 1, "id": "e1"}])


def test_entries_are_immutable() -> None:
    entry = LockedEntry(1, "e1", "a1", None)
    with pytest.raises(AttributeError):
        entry.agent_id = "a2"  # type: ignore[misc]
