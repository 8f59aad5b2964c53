"""Per-key event ledger: exact de-duplication by ``event_id`` within a bounded event-time window."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import orjson


class Admission(enum.Enum):
    """What to do with an event, given what its key has already seen."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    LATE = "late"


@dataclass(slots=True)
class KeyLedger:
    """What one key (conversation, agent, contact, ...) has seen.

    With a lateness bound, ``seen_ms_by_event_id`` keeps the accepted event ids whose event
    time is within that bound of ``watermark_ms`` (the latest event time of the key); an
    event older than the bound is LATE: its duplicate could no longer be recognised, so it
    is never applied blindly. Without a bound (conversations: finite, and fed by three
    topics whose consumption may be skewed by hours while a backlog drains) every id is
    kept and any arrival order is accepted.
    """

    watermark_ms: int = 0
    seen_ms_by_event_id: dict[str, int] = field(default_factory=dict)
    count_by_type: dict[str, int] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Serialise for the table / changelog (compact JSON)."""
        return orjson.dumps(
            {"w": self.watermark_ms, "seen": self.seen_ms_by_event_id, "n": self.count_by_type}
        )

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> KeyLedger:
        """Inverse of :meth:`to_bytes`; ``None`` (no entry yet) gives an empty ledger."""
        if raw is None:
            return cls()
        obj: dict[str, Any] = orjson.loads(raw)
        return cls(obj["w"], obj["seen"], obj["n"])

    @property
    def events_accepted(self) -> int:
        """How many distinct events this key has applied."""
        return sum(self.count_by_type.values())


def admit(
    ledger: KeyLedger, event_id: str, type_name: str, occurred_ms: int, lateness_ms: int | None
) -> Admission:
    """Decide on one event and, when ACCEPTED, record it in ``ledger`` (in place).

    Idempotent: admitting the same event again gives DUPLICATE (or LATE once it has
    fallen out of the window) and leaves the counts unchanged.
    """
    if event_id in ledger.seen_ms_by_event_id:
        return Admission.DUPLICATE
    late = lateness_ms is not None and occurred_ms < ledger.watermark_ms - lateness_ms
    if late and ledger.seen_ms_by_event_id:
        return Admission.LATE
    ledger.seen_ms_by_event_id[event_id] = occurred_ms
    ledger.count_by_type[type_name] = ledger.count_by_type.get(type_name, 0) + 1
    if occurred_ms > ledger.watermark_ms:
        ledger.watermark_ms = occurred_ms
        if lateness_ms is None:
            return Admission.ACCEPTED
        horizon = occurred_ms - lateness_ms
        stale = [eid for eid, ms in ledger.seen_ms_by_event_id.items() if ms < horizon]
        for eid in stale:
            del ledger.seen_ms_by_event_id[eid]
    return Admission.ACCEPTED


def ledger_key_of(stream: str, key: str) -> bytes:
    """Table key of a ledger: the state stream and the contract key (``conversation/c-1``).

    Presence and directory events of one agent share a Kafka key but not a ledger: they
    come from different topics, so their relative arrival order means nothing.
    """
    return f"{stream}/{key}".encode()
