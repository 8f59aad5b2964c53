"""The ingest batch handler the fetch loop calls (memory store, no broker): thin and exact."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import faust
import orjson
import pytest

from streamproc.app import create_app
from streamproc.intake import partition_for_key
from streamproc.settings import Settings
from streamproc.state import conversation_log
from streamproc.tables import Tables

# No broker: an address nothing listens on (changelog sends just stay buffered).
SETTINGS = Settings(store="memory://", app_id="agent-test", bootstrap_servers="127.0.0.1:1")


def lock(event_id: str, at: str, agent: str = "a1", conversation: str = "c1") -> bytes:
    return orjson.dumps(
        {"event_id": event_id, "type": "conversation.locked", "occurred_at": at,
         "conversation_id": conversation, "agent_id": agent, "team_id": None}
    )  # fmt: skip


@pytest.fixture
def app() -> Iterator[tuple[faust.App, Tables]]:
    app, tables = create_app(SETTINGS)
    app.finalize()
    yield app, tables


async def feed(app: faust.App, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    """Hand the records of ``topic`` to the batch handler as the fetch loop does: one batch
    per partition, in offset order. No broker here: the changelog sends it returns are not
    awaited (the local stores are written when the handler returns)."""
    by_partition: dict[int, list[Any]] = {}
    for offset, (key, value) in enumerate(records):
        partition = partition_for_key(key, 8) if key else 0
        by_partition.setdefault(partition, []).append(
            SimpleNamespace(
                topic=topic, partition=partition, offset=offset, key=key, value=value, headers=[]
            )
        )
    handler = app.__dict__["_streamproc_batch_handlers"][topic]
    for batch in by_partition.values():
        sending = handler(batch)
        assert sending is not None
        sending.close()


def log_ids(tables: Tables, conversation: bytes) -> list[str]:
    t = tables.by_name
    log = conversation_log(t["conversations"], t["segments"], conversation.decode())
    return [e.event_id for e in log]


def rejections(tables: Tables) -> dict[str, Any]:
    table = tables.by_name["rejections_by_partition"]
    return {k.decode(): orjson.loads(v)["n"] for k, v in table.items()}


def reroutes(tables: Tables) -> dict[str, Any]:
    table = tables.by_name["reroutes_by_partition"]
    return {k.decode(): orjson.loads(v)["n"] for k, v in table.items()}


def test_events_are_applied_in_event_order_and_duplicates_change_nothing(app: Any) -> None:
    faust_app, tables = app
    records = [
        (b"c1", lock("e2", "2026-11-20T14:05:00Z")),
        (b"c1", lock("e1", "2026-11-20T14:03:00Z")),
        (b"c1", lock("e2", "2026-11-20T14:05:00Z")),
    ]
    asyncio.run(feed(faust_app, "inbox.locks", records))
    assert log_ids(tables, b"c1") == ["e1", "e2"]
    own_partition = f"inbox.locks/{partition_for_key(b'c1', 8)}/"
    assert not [k for k in rejections(tables) if k.startswith(own_partition)]


@pytest.mark.parametrize(
    ("topic", "key", "value", "category"),
    [
        ("inbox.locks", b"c1", b"{not json", "invalid"),
        ("inbox.locks", b"c1", lock("e1", "yesterday"), "invalid"),
        ("inbox.reroute", b"c2", lock("e1", "2026-11-20T14:03:00Z"), "misrouted"),
        ("inbox.reroute", b"c1", b"[]", "invalid"),
    ],
)
def test_bad_records_are_counted_and_never_applied(
    app: Any, topic: str, key: bytes, value: bytes, category: str
) -> None:
    faust_app, tables = app
    asyncio.run(feed(faust_app, topic, [(key, value)]))
    partition = partition_for_key(key, 8)
    assert rejections(tables)[f"{topic}/{partition}/{category}"] == 1
    assert b"c1" not in tables.by_name["conversations"]
    assert not reroutes(tables)


@pytest.mark.parametrize(
    ("topic", "key", "reason"),
    [
        ("inbox.locks", b"c2", "wrong_key"),
        ("inbox.locks", None, "no_key"),
        ("inbox.messages", b"c1", "wrong_topic"),
    ],
)
def test_misrouted_valid_events_are_forwarded_then_applied_from_the_reroute_topic(
    app: Any, topic: str, key: bytes | None, reason: str
) -> None:
    faust_app, tables = app
    value = lock("e1", "2026-11-20T14:03:00Z")
    asyncio.run(feed(faust_app, topic, [(key, value)]))
    partition = partition_for_key(key, 8) if key else 0
    assert reroutes(tables) == {f"{topic}/{partition}/{reason}": 1}
    assert b"c1" not in tables.by_name["conversations"]  # not applied where it arrived
    assert not [k for k in rejections(tables) if k.endswith("/misrouted")]
    # What the forward sends: the record as it came, keyed c1, on c1's partition.
    asyncio.run(feed(faust_app, "inbox.reroute", [(b"c1", value)]))
    assert log_ids(tables, b"c1") == ["e1"]


def test_late_presence_change_is_rejected_as_late(app: Any) -> None:
    faust_app, tables = app

    def presence(event_id: str, at: str) -> tuple[bytes, bytes]:
        return b"agent-1", orjson.dumps(
            {"event_id": event_id, "type": "agent.presence_changed", "occurred_at": at,
             "agent_id": "agent-1", "presence": "AVAILABLE", "away_status": None}
        )  # fmt: skip

    records = [presence("p1", "2026-11-20T14:00:00Z"), presence("p2", "2026-11-20T12:00:00Z")]
    asyncio.run(feed(faust_app, "inbox.presence", records))
    partition = partition_for_key(b"agent-1", 8)
    assert rejections(tables)[f"inbox.presence/{partition}/late"] == 1
    state = orjson.loads(tables.by_name["presence"][b"agent-1"])
    assert [c[1] for c in state["c"]] == ["p1"]
