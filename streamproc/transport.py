"""streamproc's Faust transport: Faust's aiokafka transport with our consumer and producer.

Faust picks the transport by the scheme of the app's broker URL from its transport
registry (the ``faust.transports`` entry point; ``streamproc`` is declared in
pyproject.toml). Faust has no class setting for the consumer or the producer, so this
is the door to use our own classes instead of reassigning Faust's methods:

- :class:`Consumer`: the batch fetch loop (streamproc.fastpath.BatchFetch), commits
  that never skip a hole (streamproc.faust_fixes.CommitNeverSkipsAHole), a bounded
  fetch wait and a seek to committed offset 0 (streamproc.faust_fixes.ConsumerThread:
  FetchWaitBounded, SeekToCommittedIncludesZero);
- :class:`Producer`: a buffer whose flush waits for every send
  (streamproc.faust_fixes.FlushWaitsForEverySend).
"""

from __future__ import annotations

from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka

from streamproc.fastpath import BatchFetch
from streamproc.faust_fixes import (
    CommitNeverSkipsAHole,
    ConsumerThread,
    FlushWaitsForEverySend,
    check_consumer_state,
)

SCHEME = "streamproc"
"""The broker URL scheme that selects this transport (``streamproc://host:port``)."""


class Consumer(BatchFetch, CommitNeverSkipsAHole, aiokafka.Consumer):
    """Faust's aiokafka consumer with the batch fetch loop, the commit fix and a bounded
    fetch wait."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        check_consumer_state(self)

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Producer(aiokafka.Producer):
    """Faust's aiokafka producer whose buffer flushes completely before each commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        buffer = FlushWaitsForEverySend(loop=self.loop, beacon=self.beacon)
        if self.app.conf.producer_threaded:  # not used by streamproc; kept as Faust does
            buffer.threaded_producer = self.threaded_producer
        buffer.app = self.app
        self.buffer = buffer  # before start: Faust starts self.buffer in on_start


class Transport(aiokafka.Transport):
    """Faust's aiokafka transport creating :class:`Consumer` and :class:`Producer`."""

    Consumer: ClassVar[Any] = Consumer
    Producer: ClassVar[Any] = Producer


def broker_url(bootstrap_servers: str) -> str:
    """The app's broker URL: the Kafka servers, with the scheme that selects
    :class:`Transport`."""
    return f"{SCHEME}://{bootstrap_servers}"


def check_registered() -> None:
    """Fail loudly when Faust's registry does not map ``streamproc://`` to
    :class:`Transport` (the package was not installed, so its entry point is missing)."""
    try:
        found = faust.transport.by_name(SCHEME)
    except ModuleNotFoundError:
        found = None
    if found is not Transport:
        raise RuntimeError(
            f"Faust's transport registry maps {SCHEME!r} to {found!r}, not "
            "streamproc.transport.Transport: install the project (pip install -e . or "
            "make install) so that its faust.transports entry point is registered; a stale"
            " streamproc.egg-info in the working directory (from an install before the entry"
            " point existed) hides it: delete it and install again."
        )
