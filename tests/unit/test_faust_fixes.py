"""The Faust producer-buffer fix: flush returns only when every message reached the client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
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


class CommitState:
    """The attributes of faust's Consumer that ``_new_offset`` reads and updates."""

    def __init__(self, acked: list[int], committed: int | None) -> None:
        from collections import defaultdict

        from intervaltree import IntervalTree

        self._acked = defaultdict(list, {"tp": list(acked)})
        self._gap = defaultdict(IntervalTree)
        self._committed_offset = defaultdict(lambda: None, {"tp": committed})
        self._acked_index = defaultdict(set, {"tp": set(acked)})


@pytest.mark.parametrize(
    ("acked", "committed", "new_offset"),
    [
        ([0, 1, 2], None, 3),
        ([0, 1, 2], 0, 3),
        ([3, 4, 5], 0, None),  # offsets 0-2 were skipped: never commit past them
        ([1, 2], 0, None),  # even one skipped message holds the commit back
        ([5, 6, 8], 5, 7),  # a hole after the head: commit up to it
        ([11, 12], 11, 13),
        ([12, 13], 11, None),
        ([], 4, None),
    ],
)
def test_no_commit_past_a_hole_at_the_head(
    acked: list[int], committed: int | None, new_offset: int | None
) -> None:
    state = CommitState(acked, committed)
    assert faust_fixes._new_offset(state, "tp") == new_offset  # type: ignore[arg-type]
