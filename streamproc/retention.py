"""Bounded state: drop one partition's bucketed state and idle conversations past retention."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson

from streamproc.intake import partition_for_key
from streamproc.state import Store, Stores

DAY_MS = 86_400_000


def sweep_partition(stores: Stores, partition: int, partitions: int, cutoff_ms: int) -> int:
    """Delete the keys of ``partition`` whose event time is before ``cutoff_ms``; returns how
    many. Activity buckets and presence day records older than the cutoff go, and so do
    conversations whose latest logged event is older (with their messages).

    Only keys of the given partition are touched, so every deletion is written (as a
    tombstone) to the changelog partition the key lives in.
    """
    doomed: list[tuple[Store, bytes]] = []
    for key in list(stores.activity.keys()):
        p, _dimension, rest = key.split(b"|", 2)
        if int(p) == partition and int(rest.rsplit(b"|", 1)[1]) < cutoff_ms:
            doomed.append((stores.activity, key))
    for key in list(stores.presence_days.keys()):
        agent, day = key.rsplit(b"|", 1)
        if int(day) + DAY_MS <= cutoff_ms and partition_for_key(agent, partitions) == partition:
            doomed.append((stores.presence_days, key))
    for key, raw in list(stores.conversations.items()):
        if partition_for_key(key, partitions) != partition:
            continue
        log = orjson.loads(raw)["log"]
        if log and log[-1]["t"] < cutoff_ms:
            doomed.append((stores.conversations, key))
            for message_id in {e["m"] for e in log if "m" in e}:
                doomed.append((stores.messages, message_id.encode()))
    for store, key in doomed:
        if key in store:
            del store[key]
    return len(doomed)


@dataclass
class RetentionClock:
    """Decides when to sweep: once per partition each time its event time enters a new UTC
    day (the first day a process sees is not swept, so restarts stay fast). Events dated
    more than a day ahead of the wall clock never trigger a sweep."""

    retention_ms: int
    day_by_partition: dict[int, int] = field(default_factory=dict)

    def cutoff_if_due(self, partition: int, occurred_ms: int) -> int | None:
        """The cutoff to sweep ``partition`` with now, or None when no sweep is due."""
        if occurred_ms > time.time() * 1000 + DAY_MS:
            return None  # a clock far in the future must not sweep the partition away
        day = occurred_ms // DAY_MS
        last = self.day_by_partition.setdefault(partition, day)
        if day <= last:
            return None
        self.day_by_partition[partition] = day
        return occurred_ms - self.retention_ms
