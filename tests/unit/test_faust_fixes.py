"""The Faust and aiokafka fixes: complete flushes, no commit past a hole, no assignment from
metadata that lacks a subscribed topic."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer

from streamproc import faust_fixes, transport


class SlowChannel:
    """A channel whose publish takes a while, like a broker under load or restarting."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.published: list[str] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(self.delay_s)  # simulated slow hand-off, not synchronisation
        self.published.append(fut.name)


class Pending:
    def __init__(self, name: str, channel: SlowChannel) -> None:
        self.name = name
        self.message = type("M", (), {"channel": channel})()


class App:
    class conf:
        producer_threaded = False


def test_flush_waits_for_every_buffered_and_in_flight_message() -> None:
    channel = SlowChannel(delay_s=0.15)  # longer than Faust's 0.1 s flush patience

    async def run() -> list[str]:
        buffer = faust_fixes.FlushWaitsForEverySend()
        buffer.app = App()
        await buffer.start()
        try:
            for name in ("a", "b", "c"):
                buffer.put(Pending(name, channel))  # type: ignore[arg-type]
            await buffer.flush()
            return list(channel.published)
        finally:
            await buffer.stop()

    assert asyncio.run(run()) == ["a", "b", "c"]


class CommitState:
    """The attributes of faust's Consumer that ``_new_offset`` reads and updates."""

    def __init__(self, acked: list[int], committed: int | None) -> None:
        from collections import defaultdict

        from intervaltree import IntervalTree

        self._acked = defaultdict(list, {"tp": list(acked)})
        self._gap = defaultdict(IntervalTree)
        self._committed_offset = defaultdict(lambda: None, {"tp": committed})
        self._acked_index = defaultdict(set, {"tp": set(acked)})


@pytest.mark.parametrize(
    ("acked", "committed", "new_offset"),
    [
        ([0, 1, 2], None, 3),
        ([0, 1, 2], 0, 3),
        ([3, 4, 5], 0, None),  # offsets 0-2 were skipped: never commit past them
        ([1, 2], 0, None),  # even one skipped message holds the commit back
        ([5, 6, 8], 5, 7),  # a hole after the head: commit up to it
        ([11, 12], 11, 13),
        ([12, 13], 11, None),
        ([], 4, None),
    ],
)
def test_no_commit_past_a_hole_at_the_head(
    acked: list[int], committed: int | None, new_offset: int | None
) -> None:
    state = CommitState(acked, committed)
    assert faust_fixes.new_offset(state, "tp") == new_offset


class RestartingBroker:
    """Cluster metadata and client of a broker that lists its topics only from the
    ``ready_after``-th metadata refresh on (as right after a restart)."""

    def __init__(self, topics: dict[str, int], ready_after: int) -> None:
        self.topics = topics
        self.ready_after = ready_after
        self.refreshes = 0

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        if self.refreshes < self.ready_after or topic not in self.topics:
            return None
        return set(range(self.topics[topic]))

    async def force_metadata_update(self) -> bool:
        self.refreshes += 1
        return True


def member(member_id: str, topics: list[str]) -> tuple[str, str, bytes]:
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

    metadata = ConsumerProtocolMemberMetadata(0, topics, b"").encode()
    return (member_id, f"instance-{member_id}", metadata)


def test_subscribed_topics_are_the_union_over_members() -> None:
    members = [member("a", ["in.messages", "in.locks"]), member("b", ["in.locks", "cl"])]
    assert faust_fixes.subscribed_topics(members) == {"in.messages", "in.locks", "cl"}
    assert faust_fixes.subscribed_topics([member("a", ["x"])[::2]]) == {"x"}  # v0 layout


@pytest.mark.parametrize(
    ("ready_after", "timeout_s", "missing", "refreshes"),
    [
        (0, 1.0, set(), 0),  # metadata complete: no refresh, no wait
        (3, 5.0, set(), 3),  # loaded on the third refresh: assign then
        (10**6, 0.05, {"in.messages", "in.locks"}, None),  # never: give up at the deadline
    ],
)
def test_leader_refreshes_metadata_until_every_subscribed_topic_is_known(
    ready_after: int, timeout_s: float, missing: set[str], refreshes: int | None
) -> None:
    broker = RestartingBroker({"in.messages": 8, "in.locks": 8}, ready_after)
    topics = {"in.messages", "in.locks"}
    absent = asyncio.run(
        faust_fixes.wait_for_topics(broker, broker, topics, timeout_s, poll_s=0.001)
    )
    assert absent == missing
    if refreshes is not None:
        assert broker.refreshes == refreshes


def test_a_topic_that_really_does_not_exist_is_reported_missing() -> None:
    broker = RestartingBroker({"in.messages": 8}, ready_after=1)
    absent = asyncio.run(
        faust_fixes.wait_for_topics(broker, broker, {"in.messages", "gone"}, 0.05, 0.001)
    )
    assert absent == {"gone"}
    assert broker.refreshes >= 1


def test_the_leader_assignment_is_patched() -> None:
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    faust_fixes.apply()
    assert GroupCoordinator._perform_assignment is faust_fixes.leader_assigns_from_complete_metadata


class Subscription:
    subscribed_pattern = None


class Leader:
    """The attributes of aiokafka's GroupCoordinator the patched assignment uses."""

    def __init__(self, broker: RestartingBroker, session_ms: int, rebalance_ms: int) -> None:
        self._client = broker
        self._cluster = broker
        self._subscription = Subscription()
        self._session_timeout_ms = session_ms
        self._rebalance_timeout_ms = rebalance_ms


def test_the_patched_assignment_waits_for_metadata_then_assigns_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = RestartingBroker({"in.messages": 8, "in.locks": 8}, ready_after=2)
    tracked: list[set[str]] = []
    broker.set_topics = lambda topics: tracked.append(set(topics))  # type: ignore[attr-defined]
    seen_by_original: list[tuple[int, Any]] = []

    async def original(self: Any, response: Any) -> str:
        seen_by_original.append((self._client.refreshes, response))
        return "assignment"

    monkeypatch.setattr(faust_fixes, "_original_perform_assignment", original)
    response = type("Response", (), {"members": [member("a", ["in.messages", "in.locks"])]})()
    leader = Leader(broker, session_ms=45_000, rebalance_ms=60_000)
    result = asyncio.run(faust_fixes.leader_assigns_from_complete_metadata(leader, response))
    assert result == "assignment"
    assert tracked == [{"in.messages", "in.locks"}]
    assert seen_by_original == [(2, response)]  # called once, after the topics appeared


@pytest.mark.parametrize(
    ("session_ms", "rebalance_ms", "wait_s"),
    [(45_000, 60_000, 20.0), (10_000, 10_000, 5.0), (10_000, 300_000, 5.0), (60_000, 8_000, 4.0)],
)
def test_the_leader_waits_at_most_half_its_session_and_rebalance_timeouts(
    session_ms: int, rebalance_ms: int, wait_s: float
) -> None:
    leader = Leader(RestartingBroker({}, 0), session_ms, rebalance_ms)
    assert faust_fixes.assignment_wait_s(leader) == wait_s


@pytest.mark.parametrize(
    ("installed", "ok"),
    [
        ({"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}, True),
        ({"faust-streaming": "0.15.4", "aiokafka": "0.14.0"}, False),
        ({"faust-streaming": "0.15.3", "aiokafka": "0.12.0"}, False),
    ],
)
def test_the_fixes_refuse_library_versions_they_were_not_written_for(
    installed: dict[str, str], ok: bool
) -> None:
    if ok:
        faust_fixes.check_versions(installed)
    else:
        with pytest.raises(RuntimeError, match="extends library internals"):
            faust_fixes.check_versions(installed)


def test_the_installed_versions_are_the_pinned_ones() -> None:
    faust_fixes.check_versions()


def test_faust_s_own_flush_gives_up_on_a_slow_send() -> None:
    # What fix 1 mends (if an upgrade fixes it upstream, this fails: drop the fix then).
    channel = SlowChannel(delay_s=0.15)

    async def run() -> list[str]:
        buffer = ProducerBuffer()
        buffer.app = App()
        await buffer.start()
        try:
            for name in ("a", "b", "c"):
                buffer.put(Pending(name, channel))  # type: ignore[arg-type]
            await buffer.flush()
            return list(channel.published)
        finally:
            with contextlib.suppress(RuntimeError):  # its stop flushes and fails likewise
                await buffer.stop()

    assert asyncio.run(run()) != ["a", "b", "c"]


def test_a_private_member_that_is_gone_fails_at_start_up() -> None:
    faust_fixes.check_private_members()  # the installed libraries have every one
    with pytest.raises(RuntimeError, match=r"rocksdb:Store\._db_for_partition_gone"):
        faust_fixes.check_private_members(
            {"faust.stores.rocksdb:Store": ("_db_for_partition_gone",)}
        )
    with pytest.raises(RuntimeError, match=r"faust\.nowhere:Thing"):
        faust_fixes.check_private_members({"faust.nowhere:Thing": ()})
    with pytest.raises(RuntimeError, match="_read_offset"):
        faust_fixes.check_consumer_state(object())


def test_the_app_uses_streamproc_s_transport_classes() -> None:
    from streamproc.app import create_app
    from streamproc.settings import Settings

    transport.check_registered()
    app, _ = create_app(Settings(store="memory://", app_id="t", bootstrap_servers="127.0.0.1:1"))
    assert type(app.transport) is transport.Transport
    consumer = app.consumer
    assert isinstance(consumer, transport.Consumer)
    assert type(consumer)._new_offset is faust_fixes.CommitNeverSkipsAHole._new_offset
    producer = app.producer
    assert isinstance(producer, transport.Producer)
    assert isinstance(producer.buffer, faust_fixes.FlushWaitsForEverySend)


def rocksdb_app(tmp_path: Any) -> tuple[Any, Any]:
    from streamproc.app import create_app
    from streamproc.settings import Settings

    return create_app(
        Settings(app_id="t", bootstrap_servers="127.0.0.1:1", tables_dir=tmp_path / "tables")
    )


def test_the_app_uses_streamproc_s_store_class(tmp_path: Any) -> None:
    from faust.stores.rocksdb import Store as FaustStore

    from streamproc.tables import store

    store.check_registered()
    assert store.store_url("rocksdb://") == "streamproc-rocksdb://"
    assert store.store_url("memory://") == "memory://"
    _, tables = rocksdb_app(tmp_path)
    for table in tables.by_name.values():
        assert type(table.data) is store.Store
        assert isinstance(table.data, FaustStore)
        assert (
            type(table.data).revoke_partitions
            is faust_fixes.RevokeClosesEachDatabase.revoke_partitions
        )


def test_revoking_closes_each_database_without_a_full_collection(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faust.types import TP
    from rocksdict import Options, Rdict

    _, tables = rocksdb_app(tmp_path)
    table = tables.by_name["directory"]
    topic = table.changelog_topic.get_topic_name()
    data = table.data
    for partition in (0, 1):
        data._db_for_partition(partition).put(b"k", b"v%d" % partition)
    path = data.partition_path(0)

    def no_collection(*args: Any) -> int:
        raise AssertionError("gc.collect() called on revoke")

    monkeypatch.setattr("gc.collect", no_collection)
    data.revoke_partitions(table, {TP(topic, 0), TP("another-topic", 1)})
    assert set(data._dbs) == {1}  # only the table's own revoked partition goes
    reopened = Rdict(str(path), Options(raw_mode=True))  # the lock is free: it was closed
    try:
        assert reopened.get(b"k") == b"v0"  # and its writes are kept
    finally:
        reopened.close()
    assert data._db_for_partition(0).get(b"k") == b"v0"  # Faust reopens it when needed


def test_faust_s_revoke_keeps_nothing_closed_until_a_collection() -> None:
    # What the fix replaces: Faust's method drops the databases and collects per table.
    import inspect

    from faust.stores.rocksdb import Store as FaustStore

    source = inspect.getsource(FaustStore.revoke_partitions)
    assert "gc.collect()" in source
    assert "# db.close()" in source


def test_the_worker_consumer_waits_at_most_the_bounded_fetch_wait() -> None:
    """Fix 6: the aiokafka consumer Faust builds for a worker waits 100 ms per fetch, not
    Faust's 1,500 (its offset look-ups queue behind a fetch on the same connection)."""
    from streamproc.app import create_app
    from streamproc.settings import Settings

    app, _ = create_app(Settings(store="memory://", app_id="t", bootstrap_servers="127.0.0.1:1"))
    thread = app.consumer._thread
    assert isinstance(thread, faust_fixes.FetchWaitBounded)

    async def build() -> Any:
        return thread._create_worker_consumer(app.transport)

    built = asyncio.run(build())
    assert built._fetch_max_wait_ms == faust_fixes.FETCH_MAX_WAIT_MS == 100
    # Faust's own thread: the 1.5 s wait this fix bounds.
    stock = AIOKafkaConsumerThread(app.consumer, loop=app.consumer.loop)

    async def build_stock() -> Any:
        return stock._create_worker_consumer(app.transport)

    assert asyncio.run(build_stock())._fetch_max_wait_ms == 1500
