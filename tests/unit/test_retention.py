"""Retention: old buckets, presence days and idle conversations go, one partition at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.intake import partition_for_key
from streamproc.metrics.buckets import parse_activity_key
from streamproc.retention import DAY_MS, RetentionClock, Sweep, sweep_partition
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import RULES, ingest, new_stores


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
    sweeps = [sweep_partition(stores, p, RULES.partitions, cutoff) for p in range(8)]
    dropped = sum(s.dropped for s in sweeps)
    assert dropped > 0
    assert all(parse_activity_key(k)[3] >= cutoff for k in stores.activity)
    assert all(int(k.rsplit(b"|", 1)[1]) + DAY_MS > cutoff for k in stores.presence_days)
    assert len(stores.conversations) < sizes["conversations"]
    assert len(stores.activity) < sizes["activity"]
    kept = [s.oldest_kept_ms for s in sweeps if s.oldest_kept_ms is not None]
    assert kept and min(kept) >= cutoff - DAY_MS  # presence days count from their start


def test_clock_skips_sweeps_while_nothing_can_be_old_enough() -> None:
    clock = RetentionClock(retention_ms=10 * DAY_MS, rescan_days=3)
    t0 = 100 * DAY_MS
    assert clock.cutoff_if_due(0, t0) is None  # first day seen
    cutoff = clock.cutoff_if_due(0, t0 + DAY_MS)
    assert cutoff == t0 + DAY_MS - 10 * DAY_MS  # first scan in this process
    clock.swept(0, t0 + DAY_MS, Sweep(dropped=0, oldest_kept_ms=t0))
    assert clock.cutoff_if_due(0, t0 + 2 * DAY_MS) is None  # cutoff far behind the oldest
    clock.cutoff_if_due(0, t0 - 5 * DAY_MS)  # a late event: older state again
    assert clock.cutoff_if_due(0, t0 + 3 * DAY_MS) is None  # cutoff t0-7d: still behind
    assert clock.cutoff_if_due(0, t0 + 4 * DAY_MS) == t0 - 6 * DAY_MS  # rescan is due


def test_clock_sweeps_when_a_late_event_is_older_than_the_cutoff() -> None:
    clock = RetentionClock(retention_ms=10 * DAY_MS)
    t0 = 100 * DAY_MS
    clock.cutoff_if_due(0, t0)
    clock.cutoff_if_due(0, t0 + DAY_MS)
    clock.swept(0, t0 + DAY_MS, Sweep(dropped=0, oldest_kept_ms=t0))
    clock.cutoff_if_due(0, t0 - 9 * DAY_MS)  # state dated t0-9d now exists
    assert clock.cutoff_if_due(0, t0 + 2 * DAY_MS) == t0 - 8 * DAY_MS


def test_sweep_leaves_other_partitions_alone() -> None:
    lines = list(simulate(SimulationConfig(seed=4, days=1, conversations=40)))
    stores, _ = ingest(lines)
    before = dict(stores.conversations)
    sweep_partition(stores, 0, RULES.partitions, cutoff_ms=10**15)
    assert all(partition_for_key(k, 8) == 0 for k in set(before) - set(stores.conversations))
    assert any(partition_for_key(k, 8) != 0 for k in stores.conversations)


def test_old_format_bucket_keys_are_swept_and_dropped_by_the_read_model(tmp_path: Path) -> None:
    from exporter.readmodel import ReadModel

    stores = new_stores()
    stores.activity[b"3|agent|a1|900000"] = b'{"c1": {"replies": 1}}'  # before 2026-12
    stores.activity[b"4|agent|a1|900000"] = b'{"c2": {"replies": 1}}'  # another partition
    sweep = sweep_partition(stores, 3, 8, cutoff_ms=0)
    assert b"3|agent|a1|900000" not in stores.activity
    assert b"4|agent|a1|900000" in stores.activity
    assert sweep.dropped >= 1
    model = ReadModel(tmp_path / "rm.sqlite", 7_200_000)
    model.conn.execute("INSERT INTO activity VALUES (3, 'agent', 'a1', 900000, 'c1', '{}', NULL)")
    model._apply_activity("3|agent|a1|900000", None)
    model._apply_activity("garbage", None)
    assert model.conn.execute("SELECT count(*) FROM activity").fetchone() == (0,)


def test_sweep_reads_only_time_and_message_ids_so_a_damaged_entry_cannot_stop_it() -> None:
    """An entry the decoder rejects (unknown kind, e.g. after a rollback) must not make the
    sweep, and so the worker, fail on every restart: old conversations still go, with
    their messages; recent ones stay."""
    import orjson

    stores = new_stores()
    damaged = {"t": 1_000, "id": "e-x", "k": "conversation.teleported", "m": "msg-old"}
    old = {"log": [{"t": 500, "id": "e-1", "k": "message.created", "m": "msg-1", "d": "INBOUND",
                    "sk": "CONTACT", "si": None, "tm": None}, damaged], "bk": []}  # fmt: skip
    recent = {"log": [{**damaged, "t": 9_000}], "bk": []}
    for conversation, record in (("c-old", old), ("c-new", recent)):
        stores.conversations[conversation.encode()] = orjson.dumps(record)
    for message in (b"msg-1", b"msg-old"):
        stores.messages[message] = b"{}"
    for p in range(RULES.partitions):
        sweep_partition(stores, p, RULES.partitions, cutoff_ms=5_000)
    assert set(stores.conversations) == {b"c-new"}
    assert set(stores.messages) == set()
