"""Stall watchdog: a worker whose partitions have pending records but do not advance exits."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import faust
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streamproc.exits import EXIT_STALLED, exit_worker
from streamproc.settings import Settings
from streamproc.topics import committed_and_end

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Per partition: the committed offset last seen and since when it has not moved."""

    since: dict[TopicPartition, tuple[int, float]] = field(default_factory=dict)

    def stalled(
        self, offsets: dict[TopicPartition, tuple[int, int]], now: float, timeout_s: float
    ) -> list[TopicPartition]:
        """Partitions with records pending whose committed offset has not moved for
        ``timeout_s``; ``offsets`` maps each assigned partition to (committed, end)."""
        stalled = []
        for tp, (committed, end) in offsets.items():
            seen = self.since.get(tp)
            if seen is None or seen[0] != committed or committed >= end:
                self.since[tp] = (committed, now)
            elif now - seen[1] > timeout_s:
                stalled.append(tp)
        for tp in set(self.since) - set(offsets):
            del self.since[tp]
        return stalled


def register_watchdog(app: faust.App, settings: Settings, progress: Progress) -> None:
    """Every 10 s: exit (code 75) when an assigned inbound partition has uncommitted
    records but its committed offset has not moved for ``settings.stall_timeout_s``.

    Seen in the chaos tests after rebalances: Faust skips the messages a stream fetched
    under the previous generation; with the commit fix (streamproc.faust_fixes) it no
    longer commits past them, so the partition waits; and once a restarted worker
    finished recovery ("Worker ready") but never fetched. A supervisor (systemd, compose
    ``restart: unless-stopped``) restarts the process, which re-reads from the last
    commit (updates are idempotent).
    """
    inbound = set(settings.inbound_topics)

    @app.timer(interval=10.0)
    async def stall_watchdog() -> None:
        if app.rebalancing:
            progress.since.clear()
            return
        tps = [
            TopicPartition(tp.topic, tp.partition)
            for tp in app.consumer.assignment()
            if tp.topic in inbound
        ]
        try:
            offsets = await committed_and_end(settings, settings.app_id, tps)
        except (KafkaError, OSError) as exc:  # e.g. the broker is restarting: look later
            log.warning("stall watchdog could not read offsets: %s", exc)
            return
        stalled = progress.stalled(offsets, time.monotonic(), settings.stall_timeout_s)
        if stalled:
            exit_worker(
                log,
                EXIT_STALLED,
                "partitions %s have pending records but no commit for %s s: exiting so "
                "that the supervisor restarts this worker",
                sorted(f"{tp.topic}/{tp.partition}" for tp in stalled),
                settings.stall_timeout_s,
            )
