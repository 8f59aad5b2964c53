"""The exporter's changelog follower: a consumer that stops reading is detected and replaced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from exporter import service
from exporter.sync import ChangelogFollower, FollowerStalled
from streamproc.settings import Settings

SETTINGS = replace(Settings(), app_id="unit")
TOPIC = f"{SETTINGS.app_id}-directory-changelog"
TP = TopicPartition(TOPIC, 0)


class Consumer:
    """Serves ``records`` one per fetch, then nothing (like a consumer gone quiet)."""

    def __init__(self, records: int) -> None:
        self.records = records
        self.offset = 0

    async def position(self, tp: TopicPartition) -> int:
        return self.offset

    async def getmany(self, *tps: TopicPartition, timeout_ms: int, max_records: int) -> Any:
        if self.offset < self.records:
            record = SimpleNamespace(key=b"k%d" % self.offset, value=b"v", offset=self.offset)
            self.offset += 1
            return {TP: [record]}
        await asyncio.sleep(0.005)  # stands in for the fetch timeout; no synchronisation
        return {}


class HangingConsumer(Consumer):
    """A consumer whose position lookup never returns (an offset reset that keeps failing)."""

    async def position(self, tp: TopicPartition) -> int:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class Model:
    def __init__(self) -> None:
        self.applied: list[int] = []

    def apply_batch(self, table: str, values: dict, reached: dict) -> None:
        self.applied.append(reached[(TOPIC, 0)])


def follower(consumer: Consumer, model: Model) -> ChangelogFollower:
    f = ChangelogFollower(SETTINGS, model)  # type: ignore[arg-type]
    f.consumer = consumer  # type: ignore[assignment]
    f.partitions = [TP]
    return f


def exporter_with(
    monkeypatch: pytest.MonkeyPatch,
    first: ChangelogFollower,
    replacement: Callable[[], ChangelogFollower],
) -> service.Exporter:
    """An exporter (no Kafka) following with ``first``; each reset follows with a new
    ``replacement()``."""
    exporter = service.Exporter.__new__(service.Exporter)
    exporter.settings = SETTINGS
    exporter.follower = first

    async def reset_follower() -> None:
        exporter.follower = replacement()

    async def ensure_all_changelogs() -> None:
        return None

    monkeypatch.setattr(exporter, "reset_follower", reset_follower)
    monkeypatch.setattr(exporter, "_ensure_all_changelogs", ensure_all_changelogs)
    return exporter


def test_a_follower_that_keeps_reading_is_never_called_stalled() -> None:
    model = Model()
    f = follower(Consumer(records=50), model)
    read = asyncio.run(f.catch_up({(TOPIC, 0): 50}, stall_s=0.02))
    assert read == 50 and model.applied[-1] == 50


@pytest.mark.parametrize("records", [0, 10])
def test_a_follower_that_reads_nothing_while_behind_is_stalled(records: int) -> None:
    model = Model()
    f = follower(Consumer(records=records), model)
    with pytest.raises(FollowerStalled, match="read nothing for"):
        asyncio.run(f.catch_up({(TOPIC, 0): 50}, stall_s=0.05))
    assert len(model.applied) == records  # what it read before going quiet was kept


def test_the_overall_deadline_still_wins_over_stall_detection() -> None:
    f = follower(Consumer(records=0), Model())
    with pytest.raises(TimeoutError) as raised:
        asyncio.run(f.catch_up({(TOPIC, 0): 50}, deadline=0.0, stall_s=60))
    assert not isinstance(raised.value, FollowerStalled)


def test_the_exporter_replaces_a_stalled_follower_and_finishes_the_catch_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = Model()
    replaced: list[ChangelogFollower] = []

    def replacement() -> ChangelogFollower:
        f = follower(Consumer(records=20), model)
        f.consumer.offset = 5  # type: ignore[union-attr]  # resumes at 5
        replaced.append(f)
        return f

    first = follower(Consumer(records=5), model)  # goes quiet at 5
    exporter = exporter_with(monkeypatch, first, replacement)
    monkeypatch.setattr(service, "FOLLOWER_STALL_S", 0.05)
    read = asyncio.run(exporter._catch_up({(TOPIC, 0): 20}))
    assert len(replaced) == 1
    assert read == 15 and model.applied[-1] == 20


def test_a_follower_hanging_inside_a_consumer_call_is_stalled() -> None:
    f = follower(HangingConsumer(records=0), Model())
    with pytest.raises(FollowerStalled, match="read nothing for"):
        asyncio.run(f.catch_up({(TOPIC, 0): 50}, stall_s=0.05))


def test_a_follower_missing_a_partition_of_the_targets_is_stalled_at_once() -> None:
    f = follower(Consumer(records=50), Model())
    f.partitions = []  # started while the broker listed no changelog topics
    with pytest.raises(FollowerStalled, match="does not follow 1 partitions"):
        asyncio.run(f.catch_up({(TOPIC, 0): 50}, stall_s=60))
    assert asyncio.run(f.catch_up({(TOPIC, 0): 0}, stall_s=60)) == 0  # nothing to follow


def test_the_exporter_replaces_a_follower_until_one_follows_every_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = Model()
    starts: list[int] = []

    def replacement() -> ChangelogFollower:
        f = follower(Consumer(records=20), model)
        if not starts:
            f.partitions = []  # the first replacement is incomplete too
        starts.append(len(f.partitions))
        return f

    async def no_sleep(_: float) -> None:
        return None

    first = follower(Consumer(records=20), model)
    first.partitions = []
    exporter = exporter_with(monkeypatch, first, replacement)
    monkeypatch.setattr(service.asyncio, "sleep", no_sleep)
    assert asyncio.run(exporter._catch_up({(TOPIC, 0): 20})) == 20
    assert starts == [0, 1] and model.applied[-1] == 20


def test_the_exporter_gives_up_at_the_deadline_when_every_follower_stalls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replaced: list[int] = []

    def replacement() -> ChangelogFollower:
        replaced.append(1)
        return follower(Consumer(records=0), Model())

    exporter = exporter_with(monkeypatch, follower(Consumer(records=0), Model()), replacement)
    monkeypatch.setattr(service, "FOLLOWER_STALL_S", 0.02)
    with pytest.raises(TimeoutError):
        asyncio.run(exporter._catch_up({(TOPIC, 0): 20}, deadline=time.monotonic() + 0.3))
    assert replaced  # it tried fresh followers before giving up
