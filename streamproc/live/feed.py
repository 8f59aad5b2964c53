"""The metrics feed emitter: live figures to the compacted ``inbox.metrics`` topic, on change."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from exporter.readmodel import ReadModel
from streamproc.live import prom
from streamproc.live.figures import Key, compute, key_text, without_instant
from streamproc.settings import Settings

log = logging.getLogger(__name__)

Send = Callable[[str, bytes, bytes | None], Awaitable[Any]]
"""``send(topic, key, value)`` (e.g. an AIOKafkaProducer's ``send_and_wait``); a ``None``
value is a tombstone: the key has no figures any more."""


class FeedEmitter:
    """Computes the live figures at the read model's watermark after a refresh and sends
    the records whose value changed, at most once per ``feed_interval_s`` (so at most
    one record per key per interval; a change inside the interval goes out with the
    next computation)."""

    def __init__(self, settings: Settings, send: Send) -> None:
        self.settings = settings
        self.send = send
        self.sent: dict[Key, dict[str, Any]] = {}
        """The last record sent per key, without its ``as_of``."""
        self.next_run = 0.0
        self.last_as_of_ms: int | None = None
        self.read_offsets: dict[tuple[str, int], int] | None = None
        """The read model's changelog offsets at the last computation."""

    def due(self) -> bool:
        """Whether the coalescing interval has passed since the last computation."""
        return time.monotonic() >= self.next_run

    async def after_refresh(self, model: ReadModel) -> int:
        """Emit the changed records (when due) at the model's watermark; how many were sent."""
        if not self.due():
            return 0
        started = time.monotonic()
        self.next_run = started + self.settings.feed_interval_s
        offsets = model.next_offsets()
        if offsets and offsets == self.read_offsets:
            return 0  # the model has not changed, so neither have the figures (event time)
        watermark_ms = model.watermark_ms()
        if watermark_ms is None:
            return 0
        prom.READMODEL_WATERMARK.set(watermark_ms / 1000)
        figures = compute(model.conn, watermark_ms, self.settings.feed_timezone)
        changed = {
            key: record
            for key, record in figures.records.items()
            if self.sent.get(key) != without_instant(record)
        }
        # A key whose figures are gone (an agent that turned out to be a virtual agent,
        # one made inactive, state a late event retracted) gets a tombstone, so the
        # compacted topic's last record per key is always the current one.
        gone = [key for key in self.sent if key not in figures.records]
        topic = self.settings.topic_metrics
        await asyncio.gather(
            *(self.send(topic, key_text(k).encode(), orjson.dumps(r)) for k, r in changed.items()),
            *(self.send(topic, key_text(k).encode(), None) for k in gone),
        )
        self.sent.update((key, without_instant(record)) for key, record in changed.items())
        for key in gone:
            del self.sent[key]
        self.last_as_of_ms = watermark_ms
        self.read_offsets = offsets
        prom.FEED_EMIT_SECONDS.observe(time.monotonic() - started)
        prom.FEED_RECORDS.inc(len(changed) + len(gone))
        return len(changed) + len(gone)


def feed_for(settings: Settings, producer: Any) -> FeedEmitter:
    """A feed sending through an AIOKafkaProducer."""

    async def send(topic: str, key: bytes, value: bytes | None) -> Any:
        return await producer.send_and_wait(topic, key=key, value=value)

    return FeedEmitter(settings, send)


async def emit_after_refresh(feed: FeedEmitter, model: ReadModel) -> None:
    """The exporter's hook: a feed failure never stops the export service."""
    try:
        await feed.after_refresh(model)
    except Exception as exc:  # the broker may be restarting: the next refresh retries
        log.warning("metrics feed emit failed, retrying after the next refresh: %s", exc)
        feed.sent.clear()  # resend everything: some records may not have gone out
        feed.read_offsets = None
