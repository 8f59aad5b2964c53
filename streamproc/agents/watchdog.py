"""Stall watchdog: a worker with pending input that makes no progress exits to be restarted."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from streamproc.settings import Settings

log = logging.getLogger(__name__)

EXIT_STALLED = 75


@dataclass
class Progress:
    """Counts events processed; the watchdog compares it between checks."""

    events: int = 0
    last_change: float = field(default_factory=time.monotonic)
    seen: int = 0

    def note(self) -> None:
        self.events += 1


def register_watchdog(app: faust.App, settings: Settings, progress: Progress) -> None:
    """Every 15 s: if this worker's assigned inbound partitions have uncommitted records but
    it processed nothing for ``settings.stall_timeout_s``, exit (code 75).

    Seen in the chaos tests after a broker restart: a restarted Faust worker finished
    recovery ("Worker ready") but never fetched its partitions. A supervisor (systemd,
    compose ``restart: unless-stopped``) restarts the process, which rejoins and resumes
    from the last commit (updates are idempotent).
    """
    inbound = set(settings.inbound_topics)

    @app.timer(interval=15.0)
    async def stall_watchdog() -> None:
        now = time.monotonic()
        if progress.events != progress.seen or app.rebalancing:
            progress.seen, progress.last_change = progress.events, now
            return
        tps = [tp for tp in app.consumer.assignment() if tp.topic in inbound]
        if not tps or await _lag(settings, tps) == 0:
            progress.last_change = now
            return
        if now - progress.last_change > settings.stall_timeout_s:
            log.critical(
                "no event processed for %.0f s while %d assigned partitions have pending "
                "records: exiting so that the supervisor restarts this worker",
                now - progress.last_change,
                len(tps),
            )
            logging.shutdown()
            os._exit(EXIT_STALLED)


async def _lag(settings: Settings, tps: list) -> int:
    from aiokafka import TopicPartition

    partitions = [TopicPartition(tp.topic, tp.partition) for tp in tps]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(settings.app_id, partitions=partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()
    lag = 0
    for tp in partitions:
        meta = committed.get(tp)
        done = meta.offset if meta is not None and meta.offset >= 0 else 0
        lag += max(0, ends[tp] - done)
    return lag
