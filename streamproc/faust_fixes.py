"""Fixes to faust-streaming 0.15 that at-least-once processing depends on (applied by app.py).

1. ``ProducerBuffer.flush`` returned as soon as the buffer had not drained for 0.1 s, and
   did not wait for the message being handed to aiokafka. Faust calls it right before
   committing source offsets, so under load (or a slow broker) offsets were committed
   while table changelog writes and dead letters were still only in memory: a worker
   killed then lost them for good (found by the acceptance suite). Fixed: flush drains
   the buffer and the in-flight send completely.
2. A changelog or dead-letter send that finally fails was only logged, and the offsets
   were still committed. Fixed: a sensor stops the worker process at once (exit 70) so
   nothing past the failure is committed; the supervisor restarts it and the events are
   processed again (updates are idempotent).
3. Right after a rebalance a stream skips (without tracking) messages fetched under the
   previous generation. ``Consumer._new_offset`` is meant not to commit past such a hole
   at the head of the acked offsets, but its check was ``if committed_offset:``, so with
   no commit yet (or offset 0, which ``perform_seek`` also stores as None) it committed
   right over the skipped messages: events lost (found by the chaos tests). Fixed: the
   committed offset is kept when it is 0 and the head check always runs; the topics are
   created with a committed start offset for the worker group (streamproc.topics), so
   the check has a reference. A partition whose commit is held back by such a hole is
   re-read after the worker restarts (stall watchdog, streamproc.agents.watchdog).
4. (aiokafka) The group leader assigns only from complete metadata:
   streamproc.kafka_fixes, applied here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from faust.sensors import Sensor
from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from faust.utils.functional import consecutive_numbers

from streamproc import kafka_fixes
from streamproc.exits import EXIT_SEND_FAILED, exit_worker

log = logging.getLogger(__name__)


_original_send_pending = ProducerBuffer._send_pending
_IN_FLIGHT = "_streamproc_in_flight"


async def _send_pending_counted(self: ProducerBuffer, fut: Any) -> None:
    setattr(self, _IN_FLIGHT, getattr(self, _IN_FLIGHT, 0) + 1)
    try:
        await _original_send_pending(self, fut)
    finally:
        setattr(self, _IN_FLIGHT, getattr(self, _IN_FLIGHT) - 1)


async def _flush_completely(self: ProducerBuffer) -> None:
    """Wait until every buffered message has been handed to the Kafka client."""
    while self.size or getattr(self, _IN_FLIGHT, 0):
        if self.state != "running" and self.size:
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)


class ExitOnSendError(Sensor):
    """Stop the process when a produced message (changelog, dead letter) is lost."""

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        exit_worker(
            log,
            EXIT_SEND_FAILED,
            "a produced message failed for good (%r): exiting so that no offset "
            "past it is committed; a restart reprocesses from the last commit",
            exc,
        )


async def _perform_seek(self: Consumer) -> None:
    """``Consumer.perform_seek`` keeping a committed offset of 0 (not None)."""
    committed = await self.seek_to_committed()
    self._read_offset.update(
        {
            tp: offset if offset is not None and offset >= 0 else None
            for tp, offset in committed.items()
        }
    )
    self._committed_offset.update(
        {tp: offset for tp, offset in committed.items() if offset is not None}
    )


def _new_offset(self: Consumer, tp: TP) -> int | None:
    """``Consumer._new_offset`` whose head-gap check also runs for committed offset 0."""
    acked = self._acked[tp]
    if not acked:
        return None
    max_offset = max(acked)
    gap_for_tp = self._gap[tp]
    if gap_for_tp:
        candidates = sorted(gap_for_tp.overlap(0, max_offset), key=lambda x: x.begin)
        if candidates:
            stuff_to_add: list[int] = []
            for entry in candidates:
                stuff_to_add.extend(range(entry.begin, entry.end))
            new_max_offset = max(stuff_to_add[-1], max_offset + 1)
            acked.extend(stuff_to_add)
            gap_for_tp.chop(0, new_max_offset)
    acked.sort()
    committed_offset = self._committed_offset[tp]
    if committed_offset is not None and min(acked) > committed_offset:
        return None  # a hole at the head: never commit past unprocessed messages
    batch = next(consecutive_numbers(acked))
    acked[: len(batch)] = []
    self._acked_index[tp].difference_update(batch)
    return int(batch[-1]) + 1


WRITTEN_FOR = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
"""The library versions whose internals these fixes (and fastpath, kafka_fixes) replace."""


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Fail loudly when an installed library is not the version the fixes were written
    for: a patched private method that moved would otherwise fail silently."""
    from importlib.metadata import version

    found = installed or {name: version(name) for name in WRITTEN_FOR}
    wrong = {n: v for n, v in found.items() if WRITTEN_FOR.get(n) not in (None, v)}
    if wrong:
        raise RuntimeError(
            "streamproc patches library internals written for "
            + ", ".join(f"{n}=={v}" for n, v in WRITTEN_FOR.items())
            + "; installed: "
            + ", ".join(f"{n}=={v}" for n, v in wrong.items())
            + ". Install the pinned versions (pip install -e .) or port streamproc/faust_fixes.py,"
            " fastpath.py and kafka_fixes.py to the new ones."
        )


def apply() -> None:
    """Install the fixes (idempotent), after checking the library versions."""
    check_versions()
    ProducerBuffer._send_pending = _send_pending_counted  # type: ignore[method-assign]
    ProducerBuffer.flush = _flush_completely  # type: ignore[method-assign]
    Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    kafka_fixes.apply()
