"""The Faust producer-buffer fix: flush returns only when every message reached the client."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.producer import ProducerBuffer

from streamproc import faust_fixes


class SlowChannel:
    """A channel whose publish takes a while, like a broker under load or restarting."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.published: list[str] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(self.delay_s)  # simulated slow hand-off, not synchronisation
        self.published.append(fut.name)


class Pending:
    def __init__(self, name: str, channel: SlowChannel) -> None:
        self.name = name
        self.message = type("M", (), {"channel": channel})()


class App:
    class conf:
        producer_threaded = False


def test_flush_waits_for_every_buffered_and_in_flight_message() -> None:
    faust_fixes.apply()
    channel = SlowChannel(delay_s=0.15)  # longer than Faust's 0.1 s flush patience

    async def run() -> list[str]:
        buffer = ProducerBuffer()
        buffer.app = App()
        await buffer.start()
        try:
            for name in ("a", "b", "c"):
                buffer.put(Pending(name, channel))  # type: ignore[arg-type]
            await buffer.flush()
            return list(channel.published)
        finally:
            await buffer.stop()

    assert asyncio.run(run()) == ["a", "b", "c"]
