"""What to simulate and what was written: the settings, their checks, the summary, time units."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

DEFAULT_START: Final = datetime(2026, 11, 2, tzinfo=UTC)

EVENT_TYPES: Final = (
    "message.created",
    "message.updated",
    "message.deleted",
    "message.tag_added",
    "message.tag_removed",
    "conversation.locked",
    "conversation.unlocked",
    "conversation.created",
    "conversation.status_changed",
    "conversation.topic_added",
    "conversation.topic_removed",
    "conversation.language_set",
    "csat.sent",
    "csat.responded",
    "agent.presence_changed",
    "agent.upserted",
    "team.upserted",
    "virtual_agent.upserted",
    "channel.upserted",
    "contact.upserted",
    "contact.attribute_set",
    "topic.upserted",
    "topic.deleted",
    "tag.upserted",
    "tag.deleted",
)
"""Every event type of the contract, in the order of docs/events.md."""

MALFORMED_KINDS: Final = (
    "not_json",
    "truncated",
    "not_object",
    "missing_field",
    "wrong_type",
    "unknown_type",
    "invalid_enum",
    "bad_timestamp",
    "bad_event_id",
    "csat_score",
)
"""The kinds of bad lines the simulator mixes in (each is invalid under the contract)."""

SEC: Final = 1000
MIN: Final = 60 * SEC
HOUR: Final = 60 * MIN
DAY: Final = 24 * HOUR
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
AUTO_RESOLVE_AFTER: Final = 8 * HOUR
"""How long a PENDING conversation waits for the contact before the SYSTEM auto-resolves it."""


class SimulationConfigError(ValueError):
    """A simulation setting is out of range; ``field`` names the setting."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Same config ⇒ byte-identical output.

    - ``seed``: any integer >= 0.
    - ``days``: length of the simulated window, in 24 h days from ``start`` (1..3660).
      Nothing is emitted at or after ``start + days``: conversations, locks and presence
      still open then simply stay open.
    - ``conversations``: new conversations started **per day** (1..100000), spread over
      the day with a daytime peak (UTC hours). On the first day, the first ones (up to 21,
      between 25% and 55% of the day) play a fixed list of scenarios, so that every event
      type and every rule of docs/exports.md shows up in a one-day run.
    - ``duplicates``: probability in [0, 1) that a valid event is delivered a second time
      (an exact byte copy, same ``event_id``), a little later in the stream.
    - ``shuffle_seconds``: bound of the arrival disorder (0..86400). Every line arrives at
      ``occurred_at + delay`` with ``0 <= delay <= shuffle_seconds``, so no line arrives
      after a line whose ``occurred_at`` is more than ``shuffle_seconds`` later.
    - ``malformed``: probability in [0, 1), per valid event, that a bad line (see
      ``MALFORMED_KINDS``) is mixed into the stream next to it.
    - ``start``: timezone-aware start of the window (default 2026-11-02T00:00:00Z).
    - ``agents``: size of the initial agent roster (2..999); one more agent joins during
      the first day, and now and then another on later days.
    - ``teams``: number of teams (1..min(agents, 99)).
    - ``lock_max_seconds``: the service's lock expiry (60..86400, default 2 h); lock-expiry
      scenarios leave a lock idle for longer than this.
    """

    seed: int
    days: int = 1
    conversations: int = 200
    duplicates: float = 0.05
    shuffle_seconds: int = 300
    malformed: float = 0.005
    start: datetime = DEFAULT_START
    agents: int = 12
    teams: int = 3
    lock_max_seconds: int = 7200

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                value = getattr(self, name)
                raise SimulationConfigError(name, f"{name} must be {rule}, got {value!r}")

        need(_is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0")
        need(_is_int(self.days) and 1 <= self.days <= 3660, "days", "an integer in [1, 3660]")
        need(
            _is_int(self.conversations) and 1 <= self.conversations <= 100_000,
            "conversations",
            "an integer in [1, 100000]",
        )
        need(
            _is_real(self.duplicates) and 0 <= self.duplicates < 1,
            "duplicates",
            "a probability in [0, 1)",
        )
        need(
            _is_int(self.shuffle_seconds) and 0 <= self.shuffle_seconds <= 86_400,
            "shuffle_seconds",
            "an integer in [0, 86400]",
        )
        need(
            _is_real(self.malformed) and 0 <= self.malformed < 1,
            "malformed",
            "a probability in [0, 1)",
        )
        need(
            isinstance(self.start, datetime)
            and self.start.utcoffset() is not None
            and 1971 <= self.start.year <= 9000,
            "start",
            "a timezone-aware datetime between years 1971 and 9000",
        )
        need(_is_int(self.agents) and 2 <= self.agents <= 999, "agents", "an integer in [2, 999]")
        need(
            _is_int(self.teams) and 1 <= self.teams <= min(self.agents, 99),
            "teams",
            f"an integer in [1, {min(self.agents, 99)}] (at most one team per agent, max 99)",
        )
        need(
            _is_int(self.lock_max_seconds) and 60 <= self.lock_max_seconds <= 86_400,
            "lock_max_seconds",
            "an integer in [60, 86400]",
        )


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote: valid unique events by type, noise and the event-time span."""

    counts: Mapping[str, int]
    duplicates: int
    malformed: int
    malformed_by_kind: Mapping[str, int]
    lines: int
    first_occurred_at: datetime | None
    last_occurred_at: datetime | None

    @property
    def valid(self) -> int:
        """Valid unique events (every line that is neither a duplicate nor malformed)."""
        return sum(self.counts.values())

    def format_table(self) -> str:
        """A plain-text table of the summary, one item per line."""
        rows = [f"{'event type':<30} {'count':>10}"]
        rows += [f"{name:<30} {count:>10,}" for name, count in self.counts.items()]
        rows.append(f"{'valid events (unique)':<30} {self.valid:>10,}")
        rows.append(f"{'duplicates':<30} {self.duplicates:>10,}")
        kinds = ", ".join(f"{k} {n}" for k, n in self.malformed_by_kind.items() if n)
        rows.append(f"{'malformed':<30} {self.malformed:>10,}" + (f"  ({kinds})" if kinds else ""))
        rows.append(f"{'total lines':<30} {self.lines:>10,}")
        for label, moment in (("first", self.first_occurred_at), ("last", self.last_occurred_at)):
            rows.append(f"{label + ' occurred_at':<30} {iso(moment) if moment else '-':>10}")
        return "\n".join(rows)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_start(value: str) -> datetime:
    """``YYYY-MM-DD`` (midnight UTC) or an RFC 3339 datetime with ``Z`` or an offset."""
    try:
        if _DATE_ONLY.fullmatch(value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValueError(
            f"must be a date YYYY-MM-DD or an RFC 3339 datetime with Z or an offset, got {value!r}"
        )
    return moment
