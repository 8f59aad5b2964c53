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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from faust.sensors import Sensor
from faust.transport.producer import ProducerBuffer

log = logging.getLogger(__name__)

EXIT_SEND_FAILED = 70

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
        log.critical(
            "a produced message failed for good (%r): exiting so that no offset "
            "past it is committed; a restart reprocesses from the last commit",
            exc,
        )
        logging.shutdown()
        os._exit(EXIT_SEND_FAILED)


def apply() -> None:
    """Install the fixes (idempotent)."""
    ProducerBuffer._send_pending = _send_pending_counted  # type: ignore[method-assign]
    ProducerBuffer.flush = _flush_completely  # type: ignore[method-assign]
