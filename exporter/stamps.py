"""The one wall clock and the one timestamp format of export results and schedules."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds (results compare these as text: keep one format)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> datetime:
    """Wall-clock time, aware."""
    return datetime.now(UTC)
