"""The long-conversation events and the growth benchmark's report, at tiny sizes."""

from __future__ import annotations

from collections import Counter

from bench.growth import growth
from streamproc.events import parse_event
from streamproc.testing import long_conversation as lc


def test_a_long_conversation_is_valid_in_order_and_ends_resolved() -> None:
    events = [parse_event(line) for line in lc.events("c-1", 250)]
    assert len({e.event_id for e in events}) == 250
    assert events[0].type == "conversation.created"
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    assert events[-1].type == "conversation.status_changed"
    assert events[-1].status == "RESOLVED"  # type: ignore[attr-defined]
    kinds = Counter(e.type for e in events)
    assert kinds["message.created"] > 200
    # NEW at 1, 101, 201; RESOLVED at 100, 200 and the last
    assert kinds["conversation.status_changed"] == 6


def test_arrival_order_keeps_every_event_adds_late_and_repeated_ones() -> None:
    lines = list(lc.events("c-1", 2_000))
    arrived = lc.arrival_order(lines, late=0.05, duplicates=0.05, seed=3)
    assert arrived[0] == lines[0]
    assert set(arrived) == set(lines)
    repeated = len(arrived) - len(lines)
    assert 50 < repeated < 150
    assert arrived != lines
    assert arrived == lc.arrival_order(lines, late=0.05, duplicates=0.05, seed=3)


def test_growth_reports_each_size_its_ratios_and_targets() -> None:
    report = growth([10, 50], [10, 30], sample=12, runs=3)
    assert set(report["conversation_length"]) == {"10", "50"}
    assert set(report["bucket_population"]) == {"10", "30"}
    for dimension in ("conversation_length", "bucket_population"):
        for row in report[dimension].values():
            assert row["reached"] and row["runs"] == 3 and row["too_large"] == 0
            figure = row["ms_per_event"]
            assert 0 < figure["min"] <= figure["median"] <= figure["max"]
            assert row["bytes_per_event"]["median"] > 0
    assert all(value is None or value >= 1 for value in report["ratios"].values())
    assert report["largest_record_bytes"] > 0
    assert report["targets_met"]["all_sizes_reached"] is True


def test_growth_reports_a_size_not_reached_in_its_budget() -> None:
    report = growth([20_000], [10], sample=5, runs=1, budget_s=0.001)
    row = report["conversation_length"]["20000"]
    assert row["reached"] is False
    assert "budget" in row["not_reached"]
    assert "ms_per_event" not in row
    assert report["targets_met"]["conversation_length_cpu"] is False
    assert report["targets_met"]["all_sizes_reached"] is False
