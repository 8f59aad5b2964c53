"""Batch-applied table recovery: a fetch's changelog records go to the table in one write.

Faust's recovery (``faust.tables.recovery.Recovery``) receives changelog records one at
a time: each becomes a ``Message`` and an ``Event``, goes through the conductor and the
tables' changelog queue, and the recovery loop then awaits the queue with a timeout,
recomputes the remaining offsets of every partition and checks for the end of recovery,
per record. Profiled on a rebuild of 200k keys, that per-record machinery (asyncio
tasks, queue, ``active_remaining``) took nearly all the CPU; the RocksDB writes
themselves (Faust already applies them in batches, ``recovery_buffer_size``) were
negligible.

:func:`apply_recovered` is called by streamproc's fetch loop (streamproc.fastpath) with
the records of one changelog partition that Faust's recovery is reading (an active
partition being rebuilt, or a standby). It applies them with the table's own
``apply_changelog_batch`` (Faust's door: the RocksDB store writes one write batch per
partition and the persisted offset), advances the recovery's offset for the partition
exactly as its loop would, and returns the batch's last record: the fetch loop passes
that one through Faust's normal path, so Faust's recovery sees an already-applied
offset (it skips applying it) and runs its own end-of-recovery and standby checks. Faust
still decides what to read (seeks, highwaters, pausing, rebalances); only the delivery
of the records is batched.

Ordering: records of the partition that took Faust's path before (kept in the
recovery's per-table buffer) are applied first, so a key's later value always wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faust.types import TP

RECOVERY_STATE = (
    "active_tps", "standby_tps", "active_offsets", "standby_offsets", "tp_to_table",
    "buffers",
)  # fmt: skip
"""Attributes of Faust's ``Recovery`` service read and updated here (set in its
``__init__``); checked by :func:`check_recovery_state` when the worker starts."""


_ENABLED = "_streamproc_batch_recovery"


def batch_recovery(app: Any) -> None:
    """Let the fetch loop of ``app``'s consumer apply recovered changelog records in
    batches (streamproc.app does, unless ``STREAMPROC_RECOVERY_APPLY=faust``)."""
    check_recovery_state(app.tables.recovery)
    app.__dict__[_ENABLED] = True


def recovery_for_batches(app: Any) -> Any | None:
    """``app``'s Faust recovery service when :func:`batch_recovery` was called, else None."""
    return app.tables.recovery if app.__dict__.get(_ENABLED) else None


class ChangelogEntry:
    """One changelog record as Faust's stores read an event in ``apply_changelog_batch``
    (``event.key``/``value`` and ``event.message.tp``/``partition``/``offset``/...)."""

    __slots__ = ("key", "offset", "partition", "topic", "tp", "value")

    def __init__(self, tp: TP, record: Any) -> None:
        self.tp = tp
        self.topic = tp.topic
        self.partition = tp.partition
        self.offset = record.offset
        self.key = record.key
        self.value = record.value

    @property
    def message(self) -> ChangelogEntry:
        """The event's message: the entry itself."""
        return self


def apply_recovered(recovery: Any, tp: TP, records: Sequence[Any]) -> Any | None:
    """Apply the records of changelog partition ``tp`` (offset order) to its table when
    Faust's ``recovery`` is reading that partition (active or standby).

    Returns the last record applied, which the caller passes through Faust's normal
    path (Faust's recovery sees its offset as done and checks for the end of recovery);
    None when the records are not for a partition being recovered, or none is newer
    than what was applied already, or the table wants per-event callbacks
    (``on_changelog_event``): then the caller passes every record the usual way.
    """
    if tp in recovery.active_tps:
        offsets = recovery.active_offsets
    elif tp in recovery.standby_tps:
        offsets = recovery.standby_offsets
    else:
        return None
    table = recovery.tp_to_table.get(tp)
    if table is None or getattr(table, "_on_changelog_event", None) is not None:
        return None
    seen = offsets.get(tp, None)
    fresh = [record for record in records if seen is None or record.offset > seen]
    if not fresh:
        return None
    pending = recovery.buffers.get(table)
    if pending:  # records that took Faust's path earlier: theirs first
        table.apply_changelog_batch(pending)
        pending.clear()
    table.apply_changelog_batch([ChangelogEntry(tp, record) for record in fresh])
    offsets[tp] = fresh[-1].offset
    return fresh[-1]


def check_recovery_state(recovery: Any) -> None:
    """Fail loudly when Faust's recovery service lacks state :func:`apply_recovered`
    relies on (a faust-streaming upgrade)."""
    missing = [name for name in RECOVERY_STATE if not hasattr(recovery, name)]
    if missing:
        raise RuntimeError(
            f"Faust's table recovery has no {', '.join(missing)}: port "
            "streamproc/tables/recovery.py to the installed faust-streaming."
        )
