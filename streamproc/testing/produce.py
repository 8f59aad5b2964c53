"""Publishes a JSON-lines event file to the inbound topics with the contract's keys."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from streamproc.events import routing_of
from streamproc.security import client_kwargs
from streamproc.settings import Settings

ProgressFn = Callable[[int, float], None]
RouteFn = Callable[[Settings, bytes], tuple[str, bytes | None]]
"""Topic and key of a line (default: :func:`route_line`, the contract's)."""


@dataclass
class ProduceSummary:
    """What was published: lines by topic and the elapsed wall time."""

    lines_by_topic: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    @property
    def lines(self) -> int:
        """All published lines."""
        return sum(self.lines_by_topic.values())


def route_line(settings: Settings, line: bytes) -> tuple[str, bytes | None]:
    """Topic and key for one line: its type's topic and contract key, else the messages topic.

    Lines that are not valid events are still published as they are, so that they reach
    the dead-letter path of the worker.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return settings.topic_messages, None
    if not isinstance(obj, dict):
        return settings.topic_messages, None
    role, key = routing_of(obj)
    return settings.topic_for_role(role), None if key is None else key.encode()


def read_lines(path: Path) -> Iterable[bytes]:
    """Non-empty lines of a JSON-lines file, without their line ends."""
    with path.open("rb") as handle:
        for line in handle:
            stripped = line.rstrip(b"\r\n")
            if stripped:
                yield stripped


async def produce_lines(
    settings: Settings,
    lines: Iterable[bytes],
    *,
    rate: float | None = None,
    progress: ProgressFn | None = None,
    window: int = 2000,
    route: RouteFn | None = None,
) -> ProduceSummary:
    """Publish every line (acks=all, idempotent producer); ``rate`` caps lines per second;
    ``route`` chooses topic and key (default: the contract's; a key of None lets the
    client's partitioner choose the partition)."""
    route = route or route_line
    producer = AIOKafkaProducer(
        **client_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    summary = ProduceSummary()
    await producer.start()
    started = time.monotonic()
    last_report = started
    pending: list[asyncio.Future[object]] = []
    try:
        for index, line in enumerate(lines):
            if rate:
                due = started + index / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing to the requested rate
            topic, key = route(settings, line)
            pending.append(await producer.send(topic, value=line, key=key))
            summary.lines_by_topic[topic] += 1
            if len(pending) >= window:
                await asyncio.gather(*pending)
                pending.clear()
            now = time.monotonic()
            if progress and now - last_report >= 1.0:
                progress(summary.lines, now - started)
                last_report = now
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    summary.elapsed_s = time.monotonic() - started
    if progress:
        progress(summary.lines, summary.elapsed_s)
    return summary
