"""Consumer-group behaviour the watchdog relies on, on the real broker."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streamproc.agents.watchdog import request_rejoin
from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.topics import ensure_topics, group_assignment
from tests.harness import wait_until

pytestmark = pytest.mark.integration


def test_a_rejoin_request_rebalances_a_group_of_static_members(isolated: Settings) -> None:
    """A restarted static member gets its old assignment back without a rebalance, so the
    watchdog's remedy for unowned partitions is a rejoin: it must start a new generation
    in which the group owns every partition (here the member is the group's leader)."""
    asyncio.run(ensure_topics(isolated))
    topic = isolated.topic_messages
    group = f"{isolated.app_id}-rejoin"
    loop = asyncio.new_event_loop()  # the consumer lives on its own thread, as in Faust
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            topic,
            **client_kwargs(isolated),
            group_id=group,
            group_instance_id=f"{group}-a",
            session_timeout_ms=10_000,
        )
        await consumer.start()
        return consumer

    consumer = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    try:
        every = {TopicPartition(topic, p) for p in range(isolated.events_partitions)}

        def generation_owning_everything(after: int) -> int | None:
            generation: int = consumer._coordinator.generation
            if generation > after and consumer.assignment() == every:
                return generation
            return None

        first = wait_until(lambda: generation_owning_everything(0), 60, "the first assignment")
        # What request_rejoin reads of Faust's consumer thread (checked at start-up:
        # streamproc.faust_fixes.PRIVATE_MEMBERS), around a real aiokafka consumer.
        faust_thread = SimpleNamespace(thread_loop=loop, _ensure_consumer=lambda: consumer)
        app: Any = SimpleNamespace(consumer=SimpleNamespace(_thread=faust_thread))
        request_rejoin(app)
        wait_until(lambda: generation_owning_everything(first), 60, "a new generation")
        state, owned = asyncio.run(group_assignment(isolated, group))
        assert (state, owned) == ("Stable", every)
    finally:
        asyncio.run_coroutine_threadsafe(consumer.stop(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
