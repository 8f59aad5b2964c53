"""The stall watchdog's decision: pending records and a committed offset that does not move."""

from __future__ import annotations

from aiokafka import TopicPartition

from streamproc.agents.watchdog import Progress

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def test_a_partition_that_stops_committing_with_records_pending_is_stalled() -> None:
    p = Progress()
    assert p.stalled({A: (5, 10), B: (3, 3)}, now=0, timeout_s=45) == []
    assert p.stalled({A: (5, 10), B: (3, 3)}, now=40, timeout_s=45) == []
    assert p.stalled({A: (5, 10), B: (3, 9)}, now=50, timeout_s=45) == [A]


def test_progress_or_no_pending_records_reset_the_clock() -> None:
    p = Progress()
    p.stalled({A: (5, 10)}, now=0, timeout_s=45)
    assert p.stalled({A: (6, 10)}, now=50, timeout_s=45) == []  # it moved
    assert p.stalled({A: (6, 10)}, now=90, timeout_s=45) == []
    assert p.stalled({A: (6, 10)}, now=96, timeout_s=45) == [A]
    assert p.stalled({A: (10, 10)}, now=200, timeout_s=45) == []  # caught up


def test_revoked_partitions_are_forgotten() -> None:
    p = Progress()
    p.stalled({A: (5, 10)}, now=0, timeout_s=45)
    p.stalled({}, now=10, timeout_s=45)
    assert p.stalled({A: (5, 10)}, now=50, timeout_s=45) == []
