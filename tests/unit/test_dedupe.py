"""The per-key ledger: duplicates change nothing, late events are refused, state stays bounded."""

from __future__ import annotations

import pytest

from streamproc.dedupe import Admission, KeyLedger, admit, ledger_key_of

L = 3_600_000  # lateness, ms
H = 3_600_000


def run(
    events: list[tuple[str, int]], lateness: int | None = L
) -> tuple[KeyLedger, list[Admission]]:
    ledger = KeyLedger()
    return ledger, [admit(ledger, eid, "t", ms, lateness) for eid, ms in events]


A, D, LT = Admission.ACCEPTED, Admission.DUPLICATE, Admission.LATE


@pytest.mark.parametrize(
    ("events", "expected", "accepted"),
    [
        ([("a", 0)], [A], 1),
        ([("a", 0), ("a", 0)], [A, D], 1),
        ([("a", 10), ("b", 5), ("a", 10)], [A, A, D], 2),  # reordered within lateness
        ([("a", 2 * H), ("b", H)], [A, A], 2),  # exactly at the bound is on time
        ([("a", 2 * H), ("b", H - 1)], [A, LT], 1),  # one ms past the bound is late
        ([("a", 0), ("b", 2 * H), ("a", 0)], [A, A, LT], 2),  # duplicate past the window
        ([("a", 0), ("b", H), ("a", 0)], [A, A, D], 2),  # duplicate inside the window
        ([("a", 5), ("b", 5), ("c", 5)], [A, A, A], 3),
    ],
)
def test_admission(events: list[tuple[str, int]], expected: list[Admission], accepted: int) -> None:
    ledger, admissions = run(events)
    assert admissions == expected
    assert ledger.events_accepted == accepted


def test_without_a_bound_any_order_is_accepted_and_every_id_kept() -> None:
    events = [("a", 10 * H), ("b", 0), ("a", 10 * H), ("c", 5 * H), ("b", 0)]
    ledger, admissions = run(events, lateness=None)
    assert admissions == [A, A, D, A, D]
    assert set(ledger.seen_ms_by_event_id) == {"a", "b", "c"}


def test_ledger_keys_separate_streams() -> None:
    assert ledger_key_of("presence", "agent-1") != ledger_key_of("directory", "agent-1")
    assert ledger_key_of("conversation", "c-1") == b"conversation/c-1"


def test_seen_ids_are_pruned_to_the_lateness_window() -> None:
    ledger, _ = run([(f"e{i}", i * 60_000) for i in range(24 * 60)])  # one a minute for a day
    assert ledger.events_accepted == 24 * 60
    assert len(ledger.seen_ms_by_event_id) == 61  # the last hour, both ends inclusive
    assert ledger.watermark_ms == (24 * 60 - 1) * 60_000


def test_counts_by_type_and_round_trip() -> None:
    ledger = KeyLedger()
    admit(ledger, "a", "message.created", 1, L)
    admit(ledger, "b", "message.created", 2, L)
    admit(ledger, "c", "csat.sent", 3, L)
    admit(ledger, "b", "message.created", 2, L)
    assert ledger.count_by_type == {"message.created": 2, "csat.sent": 1}
    again = KeyLedger.from_bytes(ledger.to_bytes())
    assert again == ledger
    assert admit(again, "a", "message.created", 1, L) is D


def test_missing_entry_is_an_empty_ledger() -> None:
    assert KeyLedger.from_bytes(None) == KeyLedger()
