"""Retention: old buckets, presence days and idle conversations go, one partition at a time."""

from __future__ import annotations

import pytest

from streamproc.intake import partition_for_key
from streamproc.retention import DAY_MS, RetentionClock, sweep_partition
from streamproc.simulate import SimulationConfig, simulate
from tests.offline import RULES, ingest


@pytest.mark.parametrize(
    ("events", "due"),
    [
        ([(0, 5)], [None]),  # the first day seen is never swept
        ([(0, 5), (0, 6)], [None, None]),
        ([(0, 5), (0, DAY_MS + 1)], [None, DAY_MS + 1 - 10]),
        ([(0, DAY_MS), (1, 5), (0, DAY_MS + 3)], [None, None, None]),
        ([(0, 2 * DAY_MS), (0, DAY_MS)], [None, None]),  # going back in time never sweeps
    ],
)
def test_clock_sweeps_once_per_new_event_day(events: list, due: list) -> None:
    clock = RetentionClock(retention_ms=10)
    assert [clock.cutoff_if_due(p, t) for p, t in events] == due


def test_sweep_drops_only_old_keys_of_its_partition() -> None:
    lines = list(simulate(SimulationConfig(seed=4, days=2, conversations=40)))
    stores, _ = ingest(lines)
    cutoff = 1_793_664_000_000  # 2026-11-03T00:00Z: everything of day one is old
    sizes = {name: len(getattr(stores, name)) for name in ("activity", "conversations")}
    dropped = sum(sweep_partition(stores, p, RULES.partitions, cutoff) for p in range(8))
    assert dropped > 0
    assert all(int(k.rsplit(b"|", 1)[1]) >= cutoff for k in stores.activity)
    assert all(int(k.rsplit(b"|", 1)[1]) + DAY_MS > cutoff for k in stores.presence_days)
    assert len(stores.conversations) < sizes["conversations"]
    assert len(stores.activity) < sizes["activity"]


def test_sweep_leaves_other_partitions_alone() -> None:
    lines = list(simulate(SimulationConfig(seed=4, days=1, conversations=40)))
    stores, _ = ingest(lines)
    before = dict(stores.conversations)
    sweep_partition(stores, 0, RULES.partitions, cutoff_ms=10**15)
    assert all(partition_for_key(k, 8) == 0 for k in set(before) - set(stores.conversations))
    assert any(partition_for_key(k, 8) != 0 for k in stores.conversations)
