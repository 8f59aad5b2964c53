"""The watchdog's decisions: a stalled assigned partition, a pending partition nobody owns."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from streamproc.agents.watchdog import Ownership, Progress, Rebalance, held_here

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


def test_a_pending_partition_no_member_owns_is_reported_after_the_timeout() -> None:
    o = Ownership()
    assert o.unowned({A, B}, owned={B}, now=0, timeout_s=45) == []
    assert o.unowned({A, B}, owned={B}, now=40, timeout_s=45) == []
    assert o.unowned({A, B}, owned={B}, now=46, timeout_s=45) == [A]


@pytest.mark.parametrize(
    ("pending_later", "owned_later"),
    [
        (set(), set()),  # its records were committed (nothing pending)
        ({A}, {A}),  # a member got it
    ],
)
def test_an_orphan_that_is_caught_up_or_owned_again_resets_its_clock(
    pending_later: set[TopicPartition], owned_later: set[TopicPartition]
) -> None:
    o = Ownership()
    o.unowned({A}, owned=set(), now=0, timeout_s=45)
    assert o.unowned(pending_later, owned=owned_later, now=30, timeout_s=45) == []
    assert o.unowned({A}, owned=set(), now=60, timeout_s=45) == []  # clock restarted at 60
    assert o.unowned({A}, owned=set(), now=106, timeout_s=45) == [A]


def test_each_rejoin_that_did_not_help_doubles_the_wait_and_ownership_resets_it() -> None:
    o = Ownership()
    assert o.unowned({A}, owned=set(), now=0, timeout_s=10) == []
    assert o.unowned({A}, owned=set(), now=11, timeout_s=10) == [A]
    o.rejoin_requested()  # clocks restart; the next report needs 20 s
    assert o.unowned({A}, owned=set(), now=12, timeout_s=10) == []
    assert o.unowned({A}, owned=set(), now=31, timeout_s=10) == []
    assert o.unowned({A}, owned=set(), now=33, timeout_s=10) == [A]
    for _ in range(6):
        o.rejoin_requested()
    assert o.rejoins == 7
    o.unowned({A}, owned=set(), now=100, timeout_s=10)
    assert o.unowned({A}, owned=set(), now=259, timeout_s=10) == []  # capped at 16x
    assert o.unowned({A}, owned=set(), now=261, timeout_s=10) == [A]
    assert o.unowned({A}, owned={A}, now=262, timeout_s=10) == []
    assert o.rejoins == 0  # every pending partition owned again: back to the plain wait


@pytest.mark.parametrize(
    ("ticks", "stuck_s"),
    [
        ([(False, (0, 0), 0), (False, (0, 0), 500)], 0),  # not rebalancing: never stuck
        ([(True, (0, 0), 0), (True, (0, 0), 95)], 95),  # no recovery progress
        ([(True, (0, 0), 0), (True, (10, 0), 60), (True, (10, 0), 95)], 35),  # it read some
        ([(True, (0, 0), 0), (True, (0, 7), 60), (True, (0, 7), 65)], 5),  # standbys count
        ([(True, (0, 0), 0), (False, (5, 0), 60), (True, (5, 0), 80)], 0),  # a new rebalance
    ],
)
def test_a_rebalance_without_recovery_progress_is_stuck(
    ticks: list[tuple[bool, tuple[int, int], float]], stuck_s: float
) -> None:
    r = Rebalance()
    found = [r.stuck_for(rebalancing, mark, now) for rebalancing, mark, now in ticks]
    assert found[-1] == stuck_s


@pytest.mark.parametrize(
    ("consumed", "state", "coordinator_says", "held"),
    [
        ({A}, "Stable", {A}, {A}),
        ({A}, "Stable", {A, B}, {A, B}),  # assigned here, but the consumer missed it
        ({A}, "PreparingRebalance", {A, B}, {A}),  # only once the group is stable
        ({A, TopicPartition("changelog", 0)}, "Stable", {TopicPartition("other", 3)}, {A}),
    ],
)
def test_the_stall_check_covers_what_the_coordinator_assigned_here(
    consumed: set[TopicPartition],
    state: str,
    coordinator_says: set[TopicPartition],
    held: set[TopicPartition],
) -> None:
    assert held_here(consumed, state, coordinator_says, inbound={"t"}) == held
