"""Fix to aiokafka 0.14 that consumer groups depend on (workers and the exporter apply it).

The group leader assigns partitions from whatever metadata it holds. Right
after a broker restart the broker can answer metadata requests before it has loaded
its topics, so the leader saw every topic as missing and assigned nothing to anyone
(Faust's assignor skips missing topics). With static membership (workers keep their
partitions across restarts) a restarted worker rejoins without a rebalance, so the
empty assignment stayed until aiokafka's next metadata refresh in the leader, or
forever once the leader itself had been restarted (found by the chaos acceptance
test: all partitions unowned, nothing consumed). Fixed: before assigning, the leader
refreshes metadata until every subscribed topic has partitions (our topics are
created before any worker starts), for up to ``ASSIGNMENT_METADATA_WAIT_S`` and half
the group's session timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.coordinator.protocol import ConsumerProtocol

log = logging.getLogger(__name__)

ASSIGNMENT_METADATA_WAIT_S = 20.0
"""How long the group leader refreshes metadata for a subscribed topic it does not see
before it assigns anyway (well under the group's rebalance timeout)."""


def subscribed_topics(members: Any) -> set[str]:
    """Topics the members of a JoinGroup response subscribe to (the metadata is the last
    field of each member, whatever the protocol version)."""
    topics: set[str] = set()
    for member in members:
        topics.update(ConsumerProtocol.METADATA.decode(member[-1]).subscription)
    return topics


async def wait_for_topics(
    client: Any, cluster: Any, topics: set[str], timeout_s: float, poll_s: float = 0.5
) -> set[str]:
    """Refresh ``client``'s metadata until ``cluster`` knows the partitions of every topic
    in ``topics`` or ``timeout_s`` passed; returns the topics still missing."""

    def missing() -> set[str]:
        return {topic for topic in topics if not cluster.partitions_for_topic(topic)}

    absent = missing()
    if not absent:
        return absent
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout_s
    log.warning("metadata lacks subscribed topics %s: refreshing before assigning", absent)
    while absent and loop.time() < deadline:
        with contextlib.suppress(TimeoutError):  # one refresh may hang: keep to the deadline
            await asyncio.wait_for(client.force_metadata_update(), deadline - loop.time())
        absent = missing()
        if absent:
            await asyncio.sleep(min(poll_s, max(0.0, deadline - loop.time())))
    if absent:
        log.error("topics %s still missing after %.0f s: assigning without them", absent, timeout_s)
    else:
        log.info("metadata complete after %.1f s: assigning", loop.time() - started)
    return absent


_original_perform_assignment = GroupCoordinator._perform_assignment


async def _perform_assignment_on_complete_metadata(self: GroupCoordinator, response: Any) -> Any:
    """``GroupCoordinator._perform_assignment`` once metadata has every subscribed topic."""
    topics = subscribed_topics(response.members)
    if not self._subscription.subscribed_pattern:
        self._client.set_topics(topics)  # as the original does next: refreshes include them
    await wait_for_topics(self._client, self._cluster, topics, assignment_wait_s(self))
    return await _original_perform_assignment(self, response)


def assignment_wait_s(coordinator: Any) -> float:
    """How long this leader may wait for metadata: ``ASSIGNMENT_METADATA_WAIT_S``, and at
    most half its session and rebalance timeouts (aiokafka does not heartbeat while the
    leader assigns; a leader that waits longer is expired and the group starts over)."""
    timeouts_ms = [
        t
        for t in (coordinator._session_timeout_ms, coordinator._rebalance_timeout_ms)
        if isinstance(t, int | float) and t > 0
    ]
    return min([ASSIGNMENT_METADATA_WAIT_S, *(t / 2000 for t in timeouts_ms)])


def apply() -> None:
    """Install the fix (idempotent)."""
    GroupCoordinator._perform_assignment = _perform_assignment_on_complete_metadata
