"""The batch ingest path: Faust's offset bookkeeping per batch, and the handler's updates."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import faust
import orjson
import pytest

from streamproc import fastpath
from streamproc.app import create_app
from streamproc.intake import partition_for_key
from streamproc.keys import segment_key
from streamproc.settings import Settings
from streamproc.state import WRITTEN, conversation_log
from streamproc.tables import Tables

SETTINGS = Settings(store="memory://", app_id="fastpath-test", bootstrap_servers="127.0.0.1:1")


def record(
    offset: int, topic: str = "t", partition: int = 0, key: Any = None, value: Any = None
) -> Any:
    return SimpleNamespace(
        topic=topic, partition=partition, offset=offset, key=key, value=value, headers=[]
    )


def consumer(read: int | None = None, committed: int | None = None) -> Any:
    tp = ("t", 0)
    return SimpleNamespace(
        _read_offset=defaultdict(lambda: None, {tp: read}),
        _committed_offset=defaultdict(lambda: None, {tp: committed}),
        _acked=defaultdict(list),
        _acked_index=defaultdict(set),
        _n_acked=0,
        _waiting_for_ack=None,
    )


@pytest.mark.parametrize(
    ("read", "offsets", "fresh", "gaps"),
    [
        (None, [0, 1, 2], [0, 1, 2], []),
        (5, [3, 4, 5, 6], [5, 6], []),  # re-fetched records below the read offset are skipped
        (9, [10, 11, 15], [10, 11, 15], [(12, 15)]),  # a hole (e.g. compaction) is a gap
        (0, [7], [7], []),  # offset 0 read: no gap claimed from it (Faust's rule)
    ],
)
def test_unread_records_and_gaps(
    read: int | None, offsets: list[int], fresh: list[int], gaps: list[tuple[int, int]]
) -> None:
    got, got_gaps = fastpath._unread(consumer(read=read), ("t", 0), [record(o) for o in offsets])
    assert [r.offset for r in got] == fresh
    assert got_gaps == gaps


def test_ack_makes_each_offset_committable_once_and_never_below_the_commit() -> None:
    c = consumer(committed=10)
    fastpath._ack(c, ("t", 0), [record(o) for o in (8, 10, 11)])
    fastpath._ack(c, ("t", 0), [record(11), record(12)])
    assert c._acked[("t", 0)] == [10, 11, 12]
    assert c._n_acked == 3


def test_a_batch_in_flight_holds_faust_wait_empty_until_it_is_acked() -> None:
    """Faust's own clean-up of the unacked set (run by ``Consumer.wait_empty`` before a
    rebalance gives partitions away) keeps the marker until the batch acks it."""
    import weakref

    from faust.transport.consumer import Consumer

    marker = fastpath.BatchInFlight(3)
    faust_consumer = SimpleNamespace(_unacked_messages=weakref.WeakSet([marker]))
    Consumer._clean_unacked_messages(faust_consumer)
    assert set(faust_consumer._unacked_messages) == {marker}  # the rebalance still waits
    assert [m.refcount for m in faust_consumer._unacked_messages] == [1]  # its log line
    marker.acked = True  # as the fetch loop does once the batch's sends are done
    Consumer._clean_unacked_messages(faust_consumer)
    assert not faust_consumer._unacked_messages


# -- the handler the ingest agents register ---------------------------------------------


@pytest.fixture
def app() -> Iterator[tuple[faust.App, Tables]]:
    app, tables = create_app(SETTINGS)
    app.finalize()
    yield app, tables


def lock(event_id: str, at: str, conversation: str = "c1") -> bytes:
    return orjson.dumps(
        {"event_id": event_id, "type": "conversation.locked", "occurred_at": at,
         "conversation_id": conversation, "agent_id": "a1", "team_id": None}
    )  # fmt: skip


def handle(app: faust.App, records: list[Any]) -> None:
    """Run the handler as the fetch loop does (in the event loop; dead letters are
    buffered there). No broker here: the returned changelog sends are not awaited."""
    handler = app.__dict__["_streamproc_batch_handlers"]["inbox.locks"]

    async def run() -> None:
        sending = handler(records)
        assert sending is not None
        sending.close()

    asyncio.run(run())


def test_a_batch_applies_in_event_order_and_duplicates_change_nothing(app: Any) -> None:
    faust_app, tables = app
    p = partition_for_key(b"c1", 8)
    events = [lock("e2", "2026-11-20T14:05:00Z"), lock("e1", "2026-11-20T14:03:00Z")]
    handle(faust_app, [record(i, "inbox.locks", p, b"c1", v) for i, v in enumerate(events)])
    t = tables.by_name
    first = t["segments"][segment_key("c1", 0)]
    assert [e.event_id for e in conversation_log(t["conversations"], t["segments"], "c1")] == [
        "e1",
        "e2",
    ]
    handle(faust_app, [record(2, "inbox.locks", p, b"c1", events[0])])  # re-delivered
    again = t["segments"][segment_key("c1", 0)]
    # re-asserted (written again, so a changelog that lost it heals), with its new write
    # stamp as the only change
    assert orjson.loads(again)[WRITTEN] > orjson.loads(first)[WRITTEN]
    assert {**orjson.loads(again), WRITTEN: 0} == {**orjson.loads(first), WRITTEN: 0}


def test_bad_records_of_a_batch_are_counted_once_per_offset(app: Any) -> None:
    faust_app, tables = app
    p = partition_for_key(b"c1", 8)
    bad = [
        record(0, "inbox.locks", p, b"c1", b"{not json"),
        record(1, "inbox.locks", p, b"c1", b"[]"),
    ]
    handle(faust_app, bad)
    handle(faust_app, bad[1:])  # offset 1 again (a crash replay): not counted twice
    counters = tables.by_name["rejections_by_partition"]
    assert orjson.loads(counters[f"inbox.locks/{p}/invalid".encode()])["n"] == 2
    assert b"c1" not in tables.by_name["conversations"]


def test_only_the_registered_topics_take_the_batch_path(app: Any) -> None:
    faust_app, _ = app
    handlers = faust_app.__dict__["_streamproc_batch_handlers"]
    assert set(handlers) == set(SETTINGS.consumed_topics)
