"""A small hand-built inbox day for the live-figures, feed and API tests."""

from __future__ import annotations

from pathlib import Path

from exporter.readmodel import ReadModel
from tests.offline import ingest, load_model
from tests.unit.eventlog import EventLog


def live_day_log() -> EventLog:
    """Two teams, three agents, two channels, a virtual agent and five conversations on
    2026-11-02 (UTC); see tests/unit/test_live_figures.py for what each one exercises."""
    log = EventLog()
    log.team("t1", "2026-11-01 00:00:00", "Alpha").team("t2", "2026-11-01 00:00:00", "Beta")
    log.agent("a1", "2026-11-01 00:00:00", "Ann", "t1")
    log.agent("a2", "2026-11-01 00:00:00", "Bob", "t2")
    log.agent("a3", "2026-11-01 00:00:00", "Cid", "t1")
    log.channel("ch-1", "2026-11-01 00:00:00", "EMAIL", "mail", "Mail")
    log.channel("ch-2", "2026-11-01 00:00:00", "CHAT", "chat", "Chat")
    log.virtual_agent("va-1", "2026-11-01 00:00:00", "Bot")
    log.presence("a1", "08:00:00", "AVAILABLE").presence("a2", "08:30:00", "AWAY")
    # cv1: queued, locked, answered and resolved by a1 (team t1 by primary team), CSAT 4.
    log.created("cv1", "09:00:00", "ch-1").inbound("cv1", "m1", "09:00:00")
    log.queue("cv1", "09:00:00", "m1").lock("cv1", "09:01:00", "a1")
    log.reply("cv1", "r1", "09:02:00", "a1").resolve("cv1", "09:05:00", ("AGENT", "a1"))
    log.csat_sent("cv1", "09:06:00", "s1").csat_responded("cv1", "09:10:00", "s1", 4)
    # cv2: waits in NEW since 09:10.
    log.created("cv2", "09:10:00", "ch-2").inbound("cv2", "m2", "09:10:00")
    log.queue("cv2", "09:10:00", "m2")
    # cv3: NEW, locked by a2 (open at 10:00), answered with team t2.
    log.created("cv3", "09:20:00", "ch-1").inbound("cv3", "m3", "09:20:00")
    log.queue("cv3", "09:20:00", "m3").lock("cv3", "09:21:00", "a2")
    log.reply("cv3", "r3", "09:22:00", "a2", team="t2")
    # cv4: answered by a1, then PENDING by a1.
    log.created("cv4", "09:30:00", "ch-2").inbound("cv4", "m4", "09:30:00")
    log.queue("cv4", "09:30:00", "m4").reply("cv4", "r4", "09:31:00", "a1")
    log.pending("cv4", "09:32:00", ("AGENT", "a1"))
    # cv5: created the day before (UTC), the bot answers and resolves it today.
    log.created("cv5", "2026-11-01 20:00:00", "ch-1").inbound("cv5", "m5", "2026-11-01 20:00:00")
    log.va("cv5", "b5", "09:35:00", "va-1").resolve("cv5", "09:40:00", ("VIRTUAL_AGENT", "va-1"))
    return log


def live_day_model(path: Path) -> ReadModel:
    """The read model of :func:`live_day_log`."""
    stores, _ = ingest(live_day_log().lines)
    return load_model(stores, path)
