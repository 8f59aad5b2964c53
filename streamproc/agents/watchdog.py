"""Stall watchdog: a stuck partition restarts its worker, an unowned one rebalances the group."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streamproc.exits import EXIT_STALLED, exit_worker
from streamproc.settings import Settings
from streamproc.topics import committed_and_end, group_members, inbound_partitions

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Per partition: the committed offset last seen and since when it has not moved."""

    since: dict[TopicPartition, tuple[int, float]] = field(default_factory=dict)

    def stalled(
        self, offsets: dict[TopicPartition, tuple[int, int]], now: float, timeout_s: float
    ) -> list[TopicPartition]:
        """Partitions with records pending whose committed offset has not moved for
        ``timeout_s``; ``offsets`` maps each assigned partition to (committed, end)."""
        stalled = []
        for tp, (committed, end) in offsets.items():
            seen = self.since.get(tp)
            if seen is None or seen[0] != committed or committed >= end:
                self.since[tp] = (committed, now)
            elif now - seen[1] > timeout_s:
                stalled.append(tp)
        for tp in set(self.since) - set(offsets):
            del self.since[tp]
        return stalled


@dataclass
class Ownership:
    """Per inbound partition with records pending that no member of the group owns: since
    when; and how many rejoins were asked for in a row (each doubles the next wait)."""

    since: dict[TopicPartition, float] = field(default_factory=dict)
    rejoins: int = 0

    def unowned(
        self, pending: set[TopicPartition], owned: set[TopicPartition], now: float, timeout_s: float
    ) -> list[TopicPartition]:
        """Partitions in ``pending`` and not in ``owned`` for longer than ``timeout_s``
        (times 2, 4, 8 or 16 after 1, 2, 3 or more rejoins that did not help)."""
        orphans = pending - owned
        if not orphans:
            self.rejoins = 0
        for tp in set(self.since) - orphans:
            del self.since[tp]
        for tp in orphans:
            self.since.setdefault(tp, now)
        limit = timeout_s * 2 ** min(self.rejoins, 4)
        return sorted(
            (tp for tp, since in self.since.items() if now - since > limit),
            key=lambda tp: (tp.topic, tp.partition),
        )

    def rejoin_requested(self) -> None:
        """A rejoin was asked for: the clocks start again, the next wait is twice as long."""
        self.rejoins += 1
        self.since.clear()


@dataclass
class Rebalance:
    """Since when a rebalancing (or recovering) worker's recovery last moved: a rebalance
    that neither ends nor reads its changelogs is stuck (the stall check is off while a
    worker rebalances)."""

    mark: tuple[int, int] | None = None
    moved: float | None = None

    def stuck_for(self, rebalancing: bool, mark: tuple[int, int], now: float) -> float:
        """Seconds the rebalance has gone without recovery progress (0 when not
        rebalancing). ``mark``: the sums of the recovery's active and standby offsets."""
        if not rebalancing:
            self.mark = self.moved = None
            return 0.0
        if self.moved is None or mark != self.mark:
            self.mark, self.moved = mark, now
        return now - self.moved


def recovery_mark(app: faust.App) -> tuple[int, int]:
    """The recovery's progress: the sums of its active and standby changelog offsets
    (Faust's ``Recovery.active_offsets``/``standby_offsets``, checked at start-up:
    streamproc.tables.recovery.RECOVERY_STATE)."""
    recovery: Any = app.tables.recovery  # type: ignore[attr-defined]
    return (
        sum(v for v in recovery.active_offsets.values() if v is not None),
        sum(v for v in recovery.standby_offsets.values() if v is not None),
    )


def member_id(app: faust.App) -> str:
    """This worker's member id in its group (aiokafka's coordinator; the private members
    read are checked at start-up, streamproc.faust_fixes.PRIVATE_MEMBERS)."""
    thread: Any = app.consumer._thread  # type: ignore[attr-defined]
    coordinator = thread._ensure_consumer()._coordinator  # (None until the consumer starts)
    return "" if coordinator is None else str(coordinator.member_id)


def held_here(
    consumed: set[TopicPartition],
    state: str,
    coordinator_says: set[TopicPartition],
    inbound: set[str],
) -> set[TopicPartition]:
    """The inbound partitions this worker must be committing: those its consumer holds
    and, once the group is stable, those the coordinator assigned to it (a consumer that
    missed its assignment must not leave them unread unnoticed)."""
    held = {tp for tp in consumed if tp.topic in inbound}
    if state == "Stable":
        held |= {tp for tp in coordinator_says if tp.topic in inbound}
    return held


def request_rejoin(app: faust.App) -> None:
    """Ask the worker's consumer to rejoin its group (on the consumer's own thread). A
    rejoin of the group's leader makes the coordinator rebalance the whole group.

    The private members read here are checked at start-up
    (streamproc.faust_fixes.PRIVATE_MEMBERS); one that is gone raises, never a no-op.
    """
    thread: Any = app.consumer._thread  # type: ignore[attr-defined]
    coordinator = thread._ensure_consumer()._coordinator
    with contextlib.suppress(RuntimeError):  # the consumer's loop closed: shutting down
        thread.thread_loop.call_soon_threadsafe(coordinator.request_rejoin)


def register_watchdog(
    app: faust.App, settings: Settings, progress: Progress, ownership: Ownership | None = None
) -> None:
    """Every 10 s, for the inbound topics' partitions:

    - exit (code 75) when a partition assigned here (held by the consumer, or assigned
      to this member by the coordinator of a stable group) has uncommitted records but
      its committed offset has not moved for ``settings.stall_timeout_s``. Seen in the chaos
      tests after rebalances: Faust skips the messages a stream fetched under the
      previous generation; with the commit fix (streamproc.faust_fixes) it no longer
      commits past them, so the partition waits; and once a restarted worker finished
      recovery ("Worker ready") but never fetched. A supervisor (systemd, compose
      ``restart: unless-stopped``) restarts the process, which re-reads from the last
      commit (updates are idempotent).
    - exit (code 75) when the worker has been rebalancing for twice that long without
      reading a changelog record (recovery neither progressing nor ending: the stall
      check above is off while a worker rebalances).
    - ask the group to rebalance when the group is stable but a partition with
      uncommitted records has been assigned to no member for as long (twice as long
      after each rejoin that did not help, up to 16 times). Restarting would
      not help: with static membership a restarted worker gets its old assignment back
      without a rebalance. Seen once a leader assigned from metadata that lacked the
      topics (fixed in streamproc.faust_fixes, fix 4); this is the net under that fix.
    """
    ownership = ownership if ownership is not None else Ownership()
    rebalance = Rebalance()
    inbound = set(settings.consumed_topics)
    every_inbound = inbound_partitions(settings)

    last_view: list[tuple[str, int, int] | None] = [None]

    @app.timer(interval=10.0)
    async def stall_watchdog() -> None:
        stuck_s = rebalance.stuck_for(app.rebalancing, recovery_mark(app), time.monotonic())
        if stuck_s > 2 * settings.stall_timeout_s:  # (longer than a group's rebalance timeout)
            exit_worker(
                log,
                EXIT_STALLED,
                "rebalancing for %.0f s without reading a changelog record: exiting so that "
                "the supervisor restarts this worker",
                stuck_s,
            )
        if app.rebalancing:
            progress.since.clear()
            ownership.since.clear()
            return
        consumed = {TopicPartition(tp.topic, tp.partition) for tp in app.consumer.assignment()}
        try:
            offsets = await committed_and_end(settings, settings.app_id, every_inbound)
            state, members = await group_members(settings, settings.app_id)
        except (KafkaError, OSError) as exc:  # e.g. the broker is restarting: look later
            log.warning("stall watchdog could not read offsets: %s", exc)
            return
        owned: set[TopicPartition] = set().union(*members.values())
        assigned = held_here(consumed, state, members.get(member_id(app), set()), inbound)
        view = (state, len(assigned), len(owned & set(every_inbound)))
        if view != last_view[0]:
            last_view[0] = view
            log.info(
                "group %s is %s: %d inbound partitions assigned here, %d of %d owned",
                settings.app_id, state, view[1], view[2], len(every_inbound),
            )  # fmt: skip
        now = time.monotonic()
        stalled = progress.stalled(
            {tp: offsets[tp] for tp in assigned if tp in offsets}, now, settings.stall_timeout_s
        )
        if stalled:
            exit_worker(
                log,
                EXIT_STALLED,
                "partitions %s have pending records but no commit for %s s: exiting so "
                "that the supervisor restarts this worker",
                sorted(f"{tp.topic}/{tp.partition}" for tp in stalled),
                settings.stall_timeout_s,
            )
        if state != "Stable":
            ownership.since.clear()
            return
        pending = {tp for tp, (committed, end) in offsets.items() if end > committed}
        orphans = ownership.unowned(pending, owned, now, settings.stall_timeout_s)
        if orphans:
            log.error(
                "partitions %s have pending records but no member of group %s owns them "
                "(rejoin %d): asking the group to rebalance (the rejoin of whichever worker "
                "leads the group does it; every worker asks)",
                [f"{tp.topic}/{tp.partition}" for tp in orphans],
                settings.app_id,
                ownership.rejoins + 1,
            )
            ownership.rejoin_requested()
            request_rejoin(app)
