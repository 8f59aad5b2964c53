"""Presence interval rules of docs/metrics.md as tables over the streaming state updates."""

from __future__ import annotations

import itertools
import random
from typing import Any

import orjson
import pytest

from streamproc.events import InvalidEvent, parse_event
from streamproc.metrics import Admission
from streamproc.metrics.presence import Interval, PresenceState, admit_change, intervals_of
from streamproc.state import Stores
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import LATENESS_MS, ingest
from tests.unit.eventlog import EventLog, ms, secs

Row = tuple[str, float | None, float | None, str, str | None]
"""(agent, start s, end s, presence, away status), seconds after T0."""


def day_records(stores: Stores) -> dict[str, list[list[Any]]]:
    """``agent|day`` → the day record's intervals (empty records dropped)."""
    records = {k.decode(): orjson.loads(v)["intervals"] for k, v in stores.presence_days.items()}
    return {k: v for k, v in sorted(records.items()) if v}


def intervals(stores: Stores) -> list[Row]:
    """Every filed interval, by agent then start."""
    rows = []
    for key, filed in day_records(stores).items():
        agent = key.rsplit("|", 1)[0]
        rows += [(agent, secs(i[0]), secs(i[1]), i[2], i[3]) for i in filed]
    return sorted(rows, key=lambda r: (r[0], r[1] or 0))


def P() -> EventLog:
    return EventLog("p-")


INTERVALS: list[Any] = [
    pytest.param(P().presence("a1", 0, "AVAILABLE").presence("a1", 100, "OFFLINE"),
                 [("a1", 0, 100, "AVAILABLE", None)], id="available-until-offline"),
    pytest.param(P().presence("a1", 0, "OFFLINE").presence("a1", 10, "AVAILABLE")
                 .presence("a1", 20, "OFFLINE").presence("a1", 30, "OFFLINE"),
                 [("a1", 10, 20, "AVAILABLE", None)], id="offline-only-ends"),
    pytest.param(P().presence("a1", 0, "AVAILABLE"), [("a1", 0, None, "AVAILABLE", None)],
                 id="still-open"),
    pytest.param(P().presence("a1", 0, "AWAY", "Lunch").presence("a1", 100, "AVAILABLE", "Lunch"),
                 [("a1", 0, 100, "AWAY", "Lunch"), ("a1", 100, None, "AVAILABLE", None)],
                 id="away-status-only-for-away"),
    pytest.param(P().presence("a1", 0, "AVAILABLE").presence("a1", 50, "AVAILABLE"),
                 [("a1", 0, 50, "AVAILABLE", None), ("a1", 50, None, "AVAILABLE", None)],
                 id="same-presence-starts-a-new-interval"),
    pytest.param(P().presence("a1", 0, "AWAY", "Lunch").presence("a1", 60, "AWAY", "Lunch"),
                 [("a1", 0, 60, "AWAY", "Lunch"), ("a1", 60, None, "AWAY", "Lunch")],
                 id="same-away-status-starts-a-new-interval"),
    pytest.param(P().presence("a1", 0, "AWAY", "Lunch").presence("a1", 60, "AWAY", "Meeting"),
                 [("a1", 0, 60, "AWAY", "Lunch"), ("a1", 60, None, "AWAY", "Meeting")],
                 id="away-to-away"),
    pytest.param(P().presence("a1", 0, "AVAILABLE", event_id="b")
                 .presence("a1", 0, "OFFLINE", event_id="a"),
                 [("a1", 0, None, "AVAILABLE", None)], id="same-instant-by-event-id"),
    pytest.param(P().presence("a1", 0, "OFFLINE", event_id="b")
                 .presence("a1", 0, "AVAILABLE", event_id="a"),
                 [("a1", 0, 0, "AVAILABLE", None)], id="same-instant-zero-length"),
    pytest.param(P().presence("a1", 0, "AVAILABLE").presence("a2", 10, "AWAY", "Call")
                 .presence("a1", 20, "OFFLINE"),
                 [("a1", 0, 20, "AVAILABLE", None), ("a2", 10, None, "AWAY", "Call")],
                 id="agents-are-independent"),
    pytest.param(P().presence("a1", "23:00:00", "AVAILABLE")
                 .presence("a1", "2026-11-03 01:00:00", "OFFLINE"),
                 [("a1", 50_400, 57_600, "AVAILABLE", None)], id="across-midnight"),
]  # fmt: skip


@pytest.mark.parametrize(("log", "expected"), INTERVALS)
def test_intervals(log: EventLog, expected: list[Row]) -> None:
    stores, admissions = ingest(log.lines)
    assert set(admissions) == {Admission.ACCEPTED}
    assert intervals(stores) == expected


def test_an_interval_is_filed_under_the_utc_day_it_starts() -> None:
    log = P().presence("a1", "23:00:00", "AVAILABLE")
    log.presence("a1", "2026-11-03 01:00:00", "AWAY", "Night")
    stores, _ = ingest(log.lines)
    day2, day3 = ms("2026-11-02 00:00:00"), ms("2026-11-03 00:00:00")
    assert day_records(stores) == {
        f"a1|{day2}": [[ms("23:00:00"), ms("2026-11-03 01:00:00"), "AVAILABLE", None]],
        f"a1|{day3}": [[ms("2026-11-03 01:00:00"), None, "AWAY", "Night"]],
    }


# ---------------------------------------------------------------------------------------
# Reordering within lateness, LATE beyond it, duplicates
# ---------------------------------------------------------------------------------------

AROUND_MIDNIGHT = (
    P()
    .presence("a1", "23:40:00", "AVAILABLE")
    .presence("a1", "23:50:00", "AWAY", "Break")
    .presence("a1", "2026-11-03 00:05:00", "AVAILABLE")
    .presence("a1", "2026-11-03 00:10:00", "OFFLINE")
    .presence("a1", "2026-11-03 00:20:00", "AWAY", "Late")
)


def test_every_arrival_order_within_lateness_gives_the_same_day_records() -> None:
    reference, _ = ingest(AROUND_MIDNIGHT.lines)
    expected = day_records(reference)
    assert intervals(reference) == [
        ("a1", 52_800, 53_400, "AVAILABLE", None),
        ("a1", 53_400, 54_300, "AWAY", "Break"),
        ("a1", 54_300, 54_600, "AVAILABLE", None),
        ("a1", 55_200, None, "AWAY", "Late"),
    ]
    for order in itertools.permutations(AROUND_MIDNIGHT.lines):
        stores, admissions = ingest(order)
        assert set(admissions) == {Admission.ACCEPTED}
        assert day_records(stores) == expected, order


REORDERED: list[Any] = [
    pytest.param([0, 4000, 400], [0, 400, 4000], id="exactly-at-the-lateness-bound"),
    pytest.param([0, 3000, 2000, 1000, 3500], [0, 1000, 2000, 3000, 3500], id="reversed-middle"),
    pytest.param([5000, 1500, 0 + 1500 + 10], [1500, 1510, 5000], id="late-first-then-earlier"),
]


@pytest.mark.parametrize(("arrival", "sorted_times"), REORDERED)
def test_reordering_within_lateness(arrival: list[int], sorted_times: list[int]) -> None:
    def log(times: list[int]) -> EventLog:
        out = P()
        for t in times:
            out.presence("a1", t, "AVAILABLE" if t % 1000 else "AWAY", event_id=f"p{t:06d}",
                         away=None if t % 1000 else "Break")  # fmt: skip
        return out

    shuffled, admissions = ingest(log(arrival).lines)
    ordered, _ = ingest(log(sorted_times).lines)
    assert set(admissions) == {Admission.ACCEPTED}
    assert day_records(shuffled) == day_records(ordered)


LATE: list[Any] = [
    pytest.param(399.999, id="a-ms-beyond-lateness"),
    pytest.param(100, id="far-beyond-lateness"),
    pytest.param(-10, id="before-the-first-change"),
]


@pytest.mark.parametrize("late_s", LATE)
def test_late_beyond_lateness_is_rejected_and_changes_nothing(late_s: float) -> None:
    assert LATENESS_MS == 3_600_000
    log = P().presence("a1", 0, "AVAILABLE").presence("a1", 4000, "AWAY", "Lunch")
    stores, _ = ingest(log.lines)
    before = dict(stores.presence_days)
    late = P().presence("a1", late_s, "OFFLINE", event_id="late")
    _, admissions = ingest(late.lines, stores)
    assert admissions == [Admission.LATE]
    assert dict(stores.presence_days) == before
    assert intervals(stores) == [
        ("a1", 0, 4000, "AVAILABLE", None),
        ("a1", 4000, None, "AWAY", "Lunch"),
    ]


DUPLICATES: list[Any] = [
    pytest.param(0, id="first"),
    pytest.param(1, id="middle"),
    pytest.param(2, id="latest"),
]


@pytest.mark.parametrize("index", DUPLICATES)
def test_duplicate_is_duplicate_and_changes_nothing(index: int) -> None:
    log = (
        P()
        .presence("a1", 0, "AVAILABLE")
        .presence("a1", 600, "AWAY", "Lunch")
        .presence("a1", 1200, "OFFLINE")
    )
    stores, _ = ingest(log.lines)
    before = (dict(stores.presence_days), dict(stores.presence))
    _, admissions = ingest([log.lines[index]], stores)
    assert admissions == [Admission.DUPLICATE]
    assert (dict(stores.presence_days), dict(stores.presence)) == before


# ---------------------------------------------------------------------------------------
# Clipping (Available/Away Time)
# ---------------------------------------------------------------------------------------

CLIPS: list[Any] = [
    pytest.param(10, 20, 0, 100, 1000, 10, id="inside"),
    pytest.param(-10, 20, 0, 100, 1000, 20, id="straddles-range-start"),
    pytest.param(90, 120, 0, 100, 1000, 10, id="straddles-range-end"),
    pytest.param(90, None, 0, 100, 95, 5, id="open-runs-to-as-of"),
    pytest.param(90, None, 0, 100, 1000, 10, id="open-clipped-to-range"),
    pytest.param(100, 120, 0, 100, 1000, 0, id="starts-at-range-end"),
    pytest.param(-20, 0, 0, 100, 1000, 0, id="ends-at-range-start"),
]


@pytest.mark.parametrize(("start", "end", "lo", "hi", "as_of", "expected"), CLIPS)
def test_clipped_ms(
    start: int, end: int | None, lo: int, hi: int, as_of: int, expected: int
) -> None:
    assert Interval(start, end, "AVAILABLE", None).clipped_ms(lo, hi, as_of) == expected


# ---------------------------------------------------------------------------------------
# Property: bounded arrival disorder (≤ 30 min) with duplicates gives the same stores
# ---------------------------------------------------------------------------------------


def _bounded_shuffle(seed: int) -> tuple[list[bytes], list[bytes]]:
    """The simulated day's valid events once, sorted; and delivered with a random delay of
    at most 30 minutes each (arrival order by delivery time) plus duplicates."""
    unique: dict[str, tuple[int, str, bytes]] = {}
    for line in simulate(SimulationConfig(seed=seed, days=1, conversations=20)):
        try:
            event = parse_event(line)
        except InvalidEvent:
            continue
        unique.setdefault(event.event_id, (event.occurred_at_ms, event.event_id, line))
    ordered = sorted(unique.values())
    rng = random.Random(seed)
    deliveries = [(t + rng.randrange(0, 1_800_000), line) for t, _id, line in ordered]
    deliveries += [(t + rng.randrange(0, 1_800_000), line) for t, line in
                   rng.sample(deliveries, k=len(deliveries) // 5)]  # fmt: skip
    deliveries.sort(key=lambda d: d[0])
    return [line for _t, _id, line in ordered], [line for _t, line in deliveries]


@pytest.mark.parametrize("seed", range(30))
def test_bounded_disorder_with_duplicates_gives_the_same_presence(seed: int) -> None:
    ordered, delivered = _bounded_shuffle(seed)
    reference, _ = ingest(ordered)
    shuffled, admissions = ingest(delivered)
    assert Admission.LATE not in admissions
    assert day_records(shuffled) == day_records(reference)
    assert {k: orjson.loads(v)["c"] for k, v in shuffled.presence.items()} == {
        k: orjson.loads(v)["c"] for k, v in reference.presence.items()
    }


def test_reroute_topic_offsets_are_their_own_sequence() -> None:
    """Direct changes come from the presence topic, re-routed ones from the re-route topic:
    a low re-route offset after a high direct one is a new change, not a re-delivery."""
    state = PresenceState()
    hour = 3_600_000
    direct = [hour, "p1", "AVAILABLE", None]
    rerouted = [hour + 1000, "p2", "AWAY", "Lunch"]
    assert admit_change(state, direct, LATENESS_MS, offset=900)[0] is Admission.ACCEPTED
    assert admit_change(state, rerouted, LATENESS_MS, 3, rerouted=True)[0] is Admission.ACCEPTED
    assert [c[1] for c in state.changes] == ["p1", "p2"]
    # Once beyond the lateness bound and pruned, re-deliveries after a crash are
    # recognised by offset, per sequence; an unseen record beyond the bound is late.
    later = [hour + 2 * LATENESS_MS, "p3", "OFFLINE", None]
    assert admit_change(state, later, LATENESS_MS, offset=901)[0] is Admission.ACCEPTED
    state.changes[:] = [c for c in state.changes if c[1] == "p3"]  # as pruning may
    assert admit_change(state, rerouted, LATENESS_MS, 3, rerouted=True)[0] is Admission.DUPLICATE
    assert admit_change(state, direct, LATENESS_MS, offset=900)[0] is Admission.DUPLICATE
    unseen = [hour + 500, "p4", "AWAY", "Break"]
    assert admit_change(state, unseen, LATENESS_MS, offset=902)[0] is Admission.LATE
    assert PresenceState.from_json(orjson.loads(orjson.dumps(state.to_json()))) == state


HOLES: list[Any] = [
    pytest.param([0, 2, 3, 1], id="one-skipped"),
    pytest.param([0, 3, 1, 2], id="two-skipped"),
    pytest.param([1, 2, 3, 0], id="first-skipped"),
    pytest.param([0, 1, 3, 2, 1, 3], id="skipped-then-redelivered"),
]


@pytest.mark.parametrize("arrival", HOLES)
def test_a_record_skipped_and_read_again_later_is_applied(arrival: list[int]) -> None:
    """The consumer can skip a record while it applies the next ones of its partition (a
    hole after a rebalance; the commit is held back and the worker re-reads it after a
    restart). Inside the lateness bound the record is applied when it comes, offset
    below the ones applied or not, and the intervals are those of the partition's order."""
    minute = 60_000
    changes = [
        [10 * minute, "h0", "AVAILABLE", None],
        [20 * minute, "h1", "AWAY", "Coaching"],
        [30 * minute, "h2", "AVAILABLE", None],
        [31 * minute, "h3", "AWAY", "Break"],
    ]
    in_order = PresenceState()
    for offset, change in enumerate(changes):
        admit_change(in_order, list(change), LATENESS_MS, offset)
    state = PresenceState()
    seen: set[int] = set()
    for offset in arrival:
        admission, _ = admit_change(state, list(changes[offset]), LATENESS_MS, offset)
        assert admission is (Admission.DUPLICATE if offset in seen else Admission.ACCEPTED)
        seen.add(offset)
    assert state.changes == in_order.changes
    assert intervals_of(state.changes) == intervals_of(in_order.changes)
    assert state.next_offset == in_order.next_offset == len(changes)
