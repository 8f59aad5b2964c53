"""Pure metric code: folds of events into facts, no Faust and no I/O; the Admission they report."""

from __future__ import annotations

import enum


class Admission(enum.Enum):
    """What applying an event did, given what its key had already seen (every state update
    reports one: streamproc.state, metrics.presence)."""

    ACCEPTED = "accepted"
    """It changed the state."""
    DUPLICATE = "duplicate"
    """Already applied (or superseded, for last-write-wins records): nothing changed."""
    LATE = "late"
    """Too far behind its key's latest event to be applied exactly: dead-lettered."""
    TOO_LARGE = "too_large"
    """Its record would grow past the record bound: dead-lettered, nothing applied."""
