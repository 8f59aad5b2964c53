"""Agent presence: intervals from presence changes, kept exact under bounded reordering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamproc.metrics import Admission

DAY_MS = 86_400_000

# A presence change as kept in the agent's state: [t, event_id, presence, away_status].
Change = list[Any]


@dataclass(slots=True)
class Interval:
    """An AVAILABLE or AWAY interval; ``end`` None while it is still open."""

    start: int
    end: int | None
    presence: str
    away_status: str | None

    def to_json(self) -> list[Any]:
        """Compact form for the day records."""
        return [self.start, self.end, self.presence, self.away_status]

    @classmethod
    def from_json(cls, raw: list[Any]) -> Interval:
        """Inverse of :meth:`to_json`."""
        return cls(raw[0], raw[1], raw[2], raw[3])

    def clipped_ms(self, lo: int, hi: int, as_of_ms: int) -> int:
        """Milliseconds of the interval inside ``[lo, hi)``, an open one ending at as_of."""
        end = self.end if self.end is not None else as_of_ms
        return max(0, min(end, hi) - max(self.start, lo))


def intervals_of(changes: list[Change]) -> list[Interval]:
    """Intervals of time-ordered changes: each AVAILABLE/AWAY change runs to the next one."""
    result = []
    for index, (t, _eid, presence, away) in enumerate(changes):
        if presence == "OFFLINE":
            continue
        end = changes[index + 1][0] if index + 1 < len(changes) else None
        result.append(Interval(t, end, presence, away if presence == "AWAY" else None))
    return result


@dataclass(slots=True)
class PresenceState:
    """One agent's recent presence changes: those within the lateness bound of the latest,
    plus the last one before that bound (``anchor``, the start of the interval that runs
    into the window). Older intervals are final and live only in the day records."""

    watermark: int = 0
    changes: list[Change] = field(default_factory=list)
    next_offset: int = 0
    """One past the highest source offset applied: a record below it whose event is beyond
    the lateness bound is a re-delivery (after a crash; its change may have been pruned),
    never a late event."""
    next_rerouted_offset: int = 0
    """The same for the changes applied from the re-route topic (its offsets are another
    sequence; an agent's changes come from one partition of each topic)."""

    def to_json(self) -> dict[str, Any]:
        """For the table."""
        raw = {"w": self.watermark, "c": self.changes, "o": self.next_offset}
        if self.next_rerouted_offset:
            raw["r"] = self.next_rerouted_offset
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> PresenceState:
        """Inverse of :meth:`to_json`; None is a new agent."""
        if raw is None:
            return cls()
        return cls(raw["w"], raw["c"], raw.get("o", 0), raw.get("r", 0))


@dataclass(slots=True)
class Rewrite:
    """Day records to update: drop their intervals starting at or after ``since`` and file
    ``intervals`` (all intervals from ``since`` on) instead."""

    since: int
    intervals: list[Interval]

    @property
    def days(self) -> list[int]:
        """Every day record the rewrite touches."""
        return sorted({day_of(self.since), *(day_of(i.start) for i in self.intervals)})


def current_rewrite(state: PresenceState) -> Rewrite:
    """All intervals the state still knows, from its first change (to re-assert them)."""
    since = state.changes[0][0] if state.changes else 0
    return Rewrite(since, intervals_of(state.changes))


def admit_change(
    state: PresenceState,
    change: Change,
    lateness_ms: int,
    offset: int | None = None,
    rerouted: bool = False,
) -> tuple[Admission, Rewrite | None]:
    """Apply a change in place; returns the admission and the day-record rewrite it needs.

    The rewrite starts at the new change's predecessor (whose interval it ends). Events
    more than ``lateness_ms`` behind the latest change are LATE: the intervals they
    would change may already be final. ``rerouted``: ``offset`` is one of the re-route
    topic's.

    A change is a DUPLICATE when the state holds its event id. Changes inside the
    lateness bound are never pruned, so for those that test is exact; the source offset
    decides only for an event beyond the bound, whose change may have been pruned: a
    record below the offsets applied is a re-delivery, any other is LATE. So a record
    the consumer skipped while later ones of its partition were applied (a hole, read
    again after the worker restarts: streamproc.faust_fixes, fix 3) is applied when it
    comes, not taken for a re-delivery.
    """
    t, event_id = change[0], change[1]
    if any(c[1] == event_id for c in state.changes):
        return Admission.DUPLICATE, None
    next_offset = state.next_rerouted_offset if rerouted else state.next_offset
    if offset is not None:
        if rerouted:
            state.next_rerouted_offset = max(next_offset, offset + 1)
        else:
            state.next_offset = max(next_offset, offset + 1)
    if state.changes and t < state.watermark - lateness_ms:
        # Its change may have been applied and pruned: a record below the offsets applied
        # is a re-delivery; any other is late.
        redelivered = offset is not None and offset < next_offset
        return (Admission.DUPLICATE if redelivered else Admission.LATE), None
    key = (t, event_id)
    position = 0
    while position < len(state.changes) and _order(state.changes[position]) < key:
        position += 1
    state.changes.insert(position, change)
    state.watermark = max(state.watermark, t)
    since = state.changes[max(0, position - 1)][0]
    rewrite = Rewrite(since, [i for i in intervals_of(state.changes) if i.start >= since])
    _prune(state, lateness_ms)
    return Admission.ACCEPTED, rewrite


def _order(change: Change) -> tuple[int, str]:
    return (change[0], change[1])


KEEP_LAST = 500
"""Changes kept whatever their age. A worker killed before its changelog writes were
flushed loses the day records of its last seconds of processing while the presence state
may have survived; when the events come again (duplicates) the day records are rewritten
from the kept changes, so those must reach back over every change a few seconds of
processing can hold, even while a backlog drains (found by the acceptance suite)."""


def _prune(state: PresenceState, lateness_ms: int) -> None:
    """Keep the changes within the bound, the one just before it (the anchor), and at
    least the last ``KEEP_LAST`` changes."""
    horizon = state.watermark - lateness_ms
    first_inside = next(
        (i for i, c in enumerate(state.changes) if c[0] >= horizon), len(state.changes)
    )
    del state.changes[: max(0, min(first_inside - 1, len(state.changes) - KEEP_LAST))]


def day_of(t: int) -> int:
    """The UTC day (epoch ms of its midnight) an interval starting at ``t`` is filed under."""
    return t - t % DAY_MS


def merge_day(existing: list[list[Any]], day: int, rewrite: Rewrite) -> list[list[Any]]:
    """A day record's intervals after ``rewrite``."""
    kept = [i for i in existing if i[0] < rewrite.since]
    added = [i.to_json() for i in rewrite.intervals if day_of(i.start) == day]
    return sorted(kept + added, key=lambda i: i[0])
