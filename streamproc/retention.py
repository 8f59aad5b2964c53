"""Bounded state: drop one partition's bucketed state and idle conversations past retention."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson

from streamproc import keys as tablekeys
from streamproc.intake import partition_for_key
from streamproc.metrics.conversation_log import stored_message_ids, stored_time
from streamproc.state import Store, Stores

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Sweep:
    """What a sweep did: keys dropped, and the oldest event time among the keys it kept
    (None: it kept none)."""

    dropped: int
    oldest_kept_ms: int | None


def sweep_partition(stores: Stores, partition: int, partitions: int, cutoff_ms: int) -> Sweep:
    """Delete the keys of ``partition`` whose event time is before ``cutoff_ms``. Activity
    buckets and presence day records older than the cutoff go, and so do conversations
    whose latest logged event is older (their head, segments and messages).

    Only keys of the given partition are touched, so every deletion is written (as a
    tombstone) to the changelog partition the key lives in.
    """
    doomed: list[tuple[Store, bytes]] = []
    kept: list[int] = []
    for key in list(stores.activity.keys()):
        try:
            p, _dimension, _entity, bucket, _conversation = tablekeys.parse_activity_key(key)
        except ValueError:  # a bucket key of the state format before 2026-12: superseded
            if key.split(b"|", 1)[0] == str(partition).encode():
                doomed.append((stores.activity, key))
            continue
        if p != partition:
            continue
        if bucket < cutoff_ms:
            doomed.append((stores.activity, key))
        else:
            kept.append(bucket)
    for key in list(stores.presence_days.keys()):
        agent, day = tablekeys.parse_presence_day_key(key)
        if partition_for_key(agent.encode(), partitions) != partition:
            continue
        if day + DAY_MS <= cutoff_ms:
            doomed.append((stores.presence_days, key))
        else:
            kept.append(day)
    for key, raw in list(stores.conversations.items()):
        if partition_for_key(key, partitions) != partition:
            continue
        head = orjson.loads(raw)
        if "log" in head:  # the format before segments: one record holds the whole log
            logs = [head["log"]]
        else:
            tail = stores.segments.get(tablekeys.segment_key(key.decode(), head["tail"]))
            logs = [] if tail is None else [orjson.loads(tail)["log"]]
        if not logs or not logs[0]:
            continue
        # Only the stored time and message ids are read (not a full decode): a damaged
        # entry must not make the sweep, and so the worker, fail on every restart.
        latest_ms = stored_time(logs[0][-1])  # the (last segment's) log is in event order
        if latest_ms >= cutoff_ms:
            kept.append(latest_ms)
            continue
        doomed.append((stores.conversations, key))
        if "log" not in head:
            logs = []
            for n in range(head["next"]):
                segment_key = tablekeys.segment_key(key.decode(), n)
                segment = stores.segments.get(segment_key)
                if segment is not None:
                    doomed.append((stores.segments, segment_key))
                    logs.append(orjson.loads(segment)["log"])
        for message_id in sorted(set().union(*(stored_message_ids(log) for log in logs))):
            doomed.append((stores.messages, message_id.encode()))
    for store, key in doomed:
        if key in store:
            del store[key]
    return Sweep(len(doomed), min(kept) if kept else None)


@dataclass
class RetentionClock:
    """Decides when to sweep: once per partition each time its event time enters a new UTC
    day (the first day a process sees is not swept, so restarts stay fast). Events dated
    more than a day ahead of the wall clock never trigger a sweep.

    A sweep scans the whole partition, so it is skipped while nothing can be old enough:
    after a scan the clock knows the oldest event time the partition kept (lowered by
    every event applied since), and the cutoff has not reached it. A full scan still runs
    at least every ``rescan_days`` event days (state another worker wrote while it owned
    the partition is not seen here).
    """

    retention_ms: int
    rescan_days: int = 7
    day_by_partition: dict[int, int] = field(default_factory=dict)
    oldest_by_partition: dict[int, int] = field(default_factory=dict)
    scanned_day_by_partition: dict[int, int] = field(default_factory=dict)

    def cutoff_if_due(self, partition: int, occurred_ms: int) -> int | None:
        """The cutoff to sweep ``partition`` with now, or None when no sweep is due."""
        oldest = self.oldest_by_partition.get(partition)
        if oldest is not None and occurred_ms < oldest:
            self.oldest_by_partition[partition] = occurred_ms
        if occurred_ms > time.time() * 1000 + DAY_MS:
            return None  # a clock far in the future must not sweep the partition away
        day = occurred_ms // DAY_MS
        last = self.day_by_partition.setdefault(partition, day)
        if day <= last:
            return None
        self.day_by_partition[partition] = day
        cutoff = occurred_ms - self.retention_ms
        scanned = self.scanned_day_by_partition.get(partition)
        if (
            oldest is not None
            and cutoff <= min(oldest, occurred_ms)
            and scanned is not None
            and day - scanned < self.rescan_days
        ):
            return None  # nothing in the partition is older than the cutoff
        return cutoff

    def swept(self, partition: int, occurred_ms: int, sweep: Sweep) -> None:
        """Record a sweep's result (at event time ``occurred_ms``)."""
        self.scanned_day_by_partition[partition] = occurred_ms // DAY_MS
        oldest = sweep.oldest_kept_ms
        self.oldest_by_partition[partition] = occurred_ms if oldest is None else oldest
