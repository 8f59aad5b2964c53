"""Golden CSVs of all twelve exports on hand-built logs, expected rows computed by hand."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from exporter.request import parse_request
from exporter.schema import EXPORTS
from tests.offline import export_csv, ingest, load_model
from tests.unit.eventlog import EventLog, moment

AS_OF = "2026-11-03 00:00:00"
_files = itertools.count()


def directory() -> EventLog:
    """Channels, teams, agents (a3 has no primary team), a virtual agent, contacts, topics
    and tags, all upserted on 2026-10-01."""
    d = "2026-10-01 00:00:00"
    log = EventLog("e-")
    log.channel("ch-1", d, "WHATSAPP", "acme-wa", "Acme WhatsApp US")
    log.channel("ch-2", d, "SMS", "acme-sms", "Acme SMS")
    log.team("T1", d, "Care").team("T2", d, "Billing")
    log.agent("a1", d, "Ana", "T1").agent("a2", d, "Ben", "T2").agent("a3", d, "Cy", None)
    log.virtual_agent("va-1", d, "Ava")
    log.contact("c1", d, "WHATSAPP", "+15550001").contact("c2", d, "SMS", "5550002", "Bob")
    log.topic_upserted("tp-1", d, "Billing Issue").topic_upserted("tp-2", d, "Refund")
    log.tag_upserted("tg-1", d, "Urgent").tag_upserted("tg-2", d, "VIP")
    return log


def export(
    tmp_path: Path,
    log: EventLog,
    export_type: str,
    *,
    day: str | None = "2026-11-02",
    to: str | None = None,
    tz: str = "UTC",
    channels: list[str] | None = None,
    locale: str = "en",
    as_of: str = AS_OF,
) -> list[str]:
    """The export's data lines (the header row is checked against the schema)."""
    stores, _ = ingest(log.lines)
    model = load_model(stores, tmp_path / f"rm-{next(_files)}.sqlite")
    obj: dict[str, Any] = {"request_id": "golden", "export_type": export_type, "timezone": tz}
    if EXPORTS[export_type].needs_range:
        obj |= {"from": day, "to": to or day}
    if channels is not None:
        obj["channels"] = channels
    obj["locale"] = locale
    try:
        data = export_csv(model, parse_request(obj), moment(as_of))
    finally:
        model.close()
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    header, *rows = text[:-2].split("\r\n")
    assert header == ",".join(EXPORTS[export_type].headers(locale))
    return [] if rows == [""] else rows


# ---------------------------------------------------------------------------------------
# 1. conversations_resolved
# ---------------------------------------------------------------------------------------


def reopened(log: EventLog) -> EventLog:
    """cv1 (ch-1, c1): answered by a1 and resolved, reopened, answered by a2 after 300.5 s
    and resolved again; topics added/removed/re-added; CSAT 4 with a follow-up."""
    log.created("cv1", "09:00:00").inbound("cv1", "m1", "09:00:10").queue("cv1", "09:00:11", "m1")
    log.lock("cv1", "09:01:00", "a1").reply("cv1", "m2", "09:01:40")
    log.topic("cv1", "tp-1", "09:02:00").topic("cv1", "tp-2", "09:02:30")
    log.resolve("cv1", "09:03:20", reason="ANSWERED")
    log.inbound("cv1", "m3", "09:20:00").queue("cv1", "09:20:01", "m3", "REOPENED")
    log.lock("cv1", "09:21:40", "a2", "T2")
    log.topic("cv1", "tp-1", "09:22:00", ("AGENT", "a2"), removed=True)
    log.topic("cv1", "tp-1", "09:23:00", ("AGENT", "a2"))
    log.reply("cv1", "m4", "09:25:01.500", "a2", "T2")
    log.resolve("cv1", "09:30:00", ("AGENT", "a2"), "T2", "FIXED", "=cmd()")
    log.csat_sent("cv1", "09:31:00", "sv1")
    return log.csat_responded("cv1", "09:40:00", "sv1", 4, "How?", "Good, thanks")


def resolved_log() -> EventLog:
    log = reopened(directory())
    # cv2: first resolved the day before, resolved again in the range -> not in the export
    log.created("cv2", "2026-11-01 10:00:00").inbound("cv2", "m20", "2026-11-01 10:00:05")
    log.queue("cv2", "2026-11-01 10:00:06", "m20").resolve("cv2", "2026-11-01 10:05:00")
    log.queue("cv2", "08:00:00", None, "REOPENED").resolve("cv2", "08:10:00")
    # cv3 (ch-2, c2): a virtual agent resolves; a3's lock expires; language changed
    log.created("cv3", "10:00:00", "ch-2", "c2", "es").inbound("cv3", "m30", "10:00:05", "c2")
    log.queue("cv3", "10:00:06", "m30").va("cv3", "m31", "10:00:30")
    log.lock("cv3", "10:01:00", "a3").pending("cv3", "12:30:00")
    log.resolve("cv3", "13:00:00", ("VIRTUAL_AGENT", "va-1"), trigger="VIRTUAL_AGENT")
    log.csat_sent("cv3", "13:01:00", "sv3").language("cv3", "13:05:00", "pt")
    # cv5: no inbound message, resolved in bulk
    log.created("cv5", "11:00:00", language=None)
    log.queue("cv5", "11:00:01", None, "MANUAL", ("AGENT", "a1"))
    return log.resolve("cv5", "11:10:00", ("BULK", None), trigger="AUTOMATION")


RESOLVED_CV1 = (
    "cv1,WHATSAPP,acme-wa,Acme WhatsApp US,c1,'+15550001,,2026-11-02 09:00:00,"
    "a2,Ben,EMP-2,T2,Billing,RESOLVED,AGENT,FIXED,'=cmd(),HUMAN_AGENT,2026-11-02 09:30:00,"
    "a2,Ben,EMP-2,2,2,89,640,0,0,1790,tp-2|tp-1,Refund|Billing Issue,"
    'https://inbox.example/cv1,2026-11-02 09:40:00,en,4,COMPLETED,How?,"Good, thanks"'
)
RESOLVED_CV3 = (
    "cv3,SMS,acme-sms,Acme SMS,c2,5550002,Bob,2026-11-02 10:00:00,,,,,,RESOLVED,"
    "VIRTUAL_AGENT,,,VIRTUAL_AGENT,2026-11-02 13:00:00,,,,1,1,,0,0,7200,10795,,,"
    "https://inbox.example/cv3,2026-11-02 13:05:00,pt,,SENT,,"
)
RESOLVED_CV5 = (
    "cv5,WHATSAPP,acme-wa,Acme WhatsApp US,c1,'+15550001,,2026-11-02 11:00:00,,,,,,RESOLVED,"
    "BULK,,,AUTOMATION,2026-11-02 11:10:00,,,,0,0,,0,0,0,,,,"
    "https://inbox.example/cv5,2026-11-02 11:10:00,,,NOT_SENT,,"
)


def test_conversations_resolved(tmp_path: Path) -> None:
    rows = export(tmp_path, resolved_log(), "conversations_resolved")
    assert rows == [RESOLVED_CV1, RESOLVED_CV3, RESOLVED_CV5]


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        pytest.param(["ch-2"], [RESOLVED_CV3], id="one"),
        pytest.param(["ch-9", "ch-2"], [RESOLVED_CV3], id="unknown-and-one"),
        pytest.param(["ch-2", "ch-1"], [RESOLVED_CV1, RESOLVED_CV3, RESOLVED_CV5], id="both"),
        pytest.param([], [RESOLVED_CV1, RESOLVED_CV3, RESOLVED_CV5], id="empty-is-all"),
        pytest.param(["ch-9"], [], id="unknown"),
    ],
)
def test_conversations_resolved_channel_filter(
    tmp_path: Path, channels: list[str], expected: list[str]
) -> None:
    rows = export(tmp_path, resolved_log(), "conversations_resolved", channels=channels)
    assert rows == expected


def test_conversations_resolved_on_the_first_resolution_day(tmp_path: Path) -> None:
    rows = export(tmp_path, resolved_log(), "conversations_resolved", day="2026-11-01")
    assert [r.split(",")[0] for r in rows] == ["cv2"]


# ---------------------------------------------------------------------------------------
# 2. conversations_open
# ---------------------------------------------------------------------------------------


def open_log() -> EventLog:
    log = directory()
    # cv6: queued, a1's lock expired by as_of (12:00)
    log.created("cv6", "09:00:00").inbound("cv6", "m60", "09:00:10").queue("cv6", "09:00:11", "m60")
    log.lock("cv6", "09:30:00", "a1", "T1").updated("cv6", "m60", "11:30:00", "edited")
    # cv7 (ch-2): answered by a2, pending; a1's lock still open at as_of
    log.created("cv7", "10:00:00", "ch-2", "c2", "es").inbound("cv7", "m70", "10:00:10", "c2")
    log.queue("cv7", "10:00:11", "m70").lock("cv7", "10:05:00", "a2")
    log.reply("cv7", "m71", "10:06:00", "a2").pending("cv7", "10:07:00", ("AGENT", "a2"))
    log.lock("cv7", "10:30:00", "a1")
    # cv8: no status change (in no queue); cv9: resolved
    log.created("cv8", "11:00:00").inbound("cv8", "m80", "11:00:05")
    log.created("cv9", "11:10:00").queue("cv9", "11:10:05", None, "MANUAL", ("AGENT", "a1"))
    return log.resolve("cv9", "11:20:00")


OPEN_CV6 = (
    "cv6,WHATSAPP,acme-wa,Acme WhatsApp US,c1,'+15550001,,2026-11-02 09:00:00,,,,,,NEW,,,,,,"
    "1,0,,0,0,7200,,,,https://inbox.example/cv6,2026-11-02 11:30:00,en"
)
OPEN_CV7 = (
    "cv7,SMS,acme-sms,Acme SMS,c2,5550002,Bob,2026-11-02 10:00:00,a2,Ben,EMP-2,T2,Billing,"
    "PENDING,,,,,,1,1,349,120,0,0,,,,https://inbox.example/cv7,2026-11-02 10:30:00,es"
)


def test_conversations_open(tmp_path: Path) -> None:
    rows = export(tmp_path, open_log(), "conversations_open", as_of="12:00:00")
    assert rows == [OPEN_CV6, OPEN_CV7]


def test_agent_metrics_sessions_open_or_expired_at_as_of(tmp_path: Path) -> None:
    # a1: cv6's lock expired at 11:30 (counts), cv7's lock is still open at 12:00 (nowhere)
    assert export(tmp_path, open_log(), "agent_metrics", as_of="12:00:00") == [
        "a1,Ana,ana@acme.example,EMP-1,0,0,0,,0,0,7200,0,0,1,0,0,,0,0,0,0,0",
        "a2,Ben,ben@acme.example,EMP-2,0,0,1,120,120,0,0,1,0,0,0,0,,0,0,0,0,0",
    ]


def test_conversations_open_channel_filter(tmp_path: Path) -> None:
    rows = export(tmp_path, open_log(), "conversations_open", as_of="12:00:00", channels=["ch-1"])
    assert rows == [OPEN_CV6]


# ---------------------------------------------------------------------------------------
# 3. messages
# ---------------------------------------------------------------------------------------

HYPERLINK = '=HYPERLINK("http://evil.example","click")'


def messages_log() -> EventLog:
    log = directory().created("cv10", "2026-11-01 23:00:00")
    log.inbound("cv10", "m100", "2026-11-01 23:59:59.999")  # before the range
    log.message("cv10", "m101", "00:00:00", "INBOUND", ("CONTACT", "c1"), content=HYPERLINK,
                origin="NATIVE")  # fmt: skip
    log.message("cv10", "m102", "09:00:00", "OUTBOUND", ("AGENT", "a1"), team="T2",
                content="Hi, there", outbound_type="REPLY")  # fmt: skip
    log.updated("cv10", "m102", "09:05:00", "Hello").updated("cv10", "m102", "09:06:00")
    log.tag("cv10", "m102", "tg-1", "09:10:00").tag("cv10", "m102", "tg-2", "09:11:00")
    log.tag("cv10", "m102", "tg-1", "09:12:00", removed=True)
    log.tag("cv10", "m102", "tg-1", "09:13:00")
    log.message("cv10", "m103", "10:00:00", "OUTBOUND", ("VIRTUAL_AGENT", "va-1"),
                content="-5 degrees", origin="AUTOMATION",
                outbound_type="AUTOMATED_RESPONSE")  # fmt: skip
    log.deleted("cv10", "m103", "10:30:00").deleted("cv10", "m103", "10:20:00")
    log.reply("cv10", "m105", "10:45:00", "a9", "T9", "Thanks!")  # never upserted
    log.inbound("cv10", "m104", "2026-11-03 00:00:00")  # at the range end: excluded
    log.created("cv11", "11:00:00", "ch-2", "c2")
    log.message("cv11", "m110", "11:00:01", "OUTBOUND", ("SYSTEM", None), content="@here",
                origin="API", outbound_type="PROACTIVE", system_user_type="SCHEDULER",
                post_url="https://sms.example/p/1")  # fmt: skip
    return log.message("cv11", "m111", "11:05:00", "OUTBOUND", ("AGENT", None),
                       outbound_type="REPLY")  # fmt: skip


CV10 = "cv10,WHATSAPP,acme-wa,Acme WhatsApp US,c1,'+15550001,"
CV11 = "cv11,SMS,acme-sms,Acme SMS,c2,5550002,Bob"
MESSAGES_CH1 = [
    f"m101,2026-11-02 00:00:00,{CV10},DIRECT_MESSAGE,NATIVE,,INBOUND,,,,,,,,"
    '"\'=HYPERLINK(""http://evil.example"",""click"")",'
    "https://inbox.example/cv10,,2026-11-02 00:00:00,,",
    f"m102,2026-11-02 09:00:00,{CV10},DIRECT_MESSAGE,INBOX,REPLY,OUTBOUND,a1,Ana,EMP-1,"
    "T2,Billing,tg-2|tg-1,VIP|Urgent,Hello,https://inbox.example/cv10,,2026-11-02 09:13:00,,",
    f"m103,2026-11-02 10:00:00,{CV10},DIRECT_MESSAGE,AUTOMATION,AUTOMATED_RESPONSE,OUTBOUND,"
    ",,,,,,,'-5 degrees,https://inbox.example/cv10,,2026-11-02 10:30:00,2026-11-02 10:20:00,",
    f"m105,2026-11-02 10:45:00,{CV10},DIRECT_MESSAGE,INBOX,REPLY,OUTBOUND,a9,,,T9,,,,Thanks!,"
    "https://inbox.example/cv10,,2026-11-02 10:45:00,,",
]
MESSAGES_CH2 = [
    f"m110,2026-11-02 11:00:01,{CV11},DIRECT_MESSAGE,API,PROACTIVE,OUTBOUND,,,,,,,,'@here,"
    "https://inbox.example/cv11,https://sms.example/p/1,2026-11-02 11:00:01,,SCHEDULER",
    f"m111,2026-11-02 11:05:00,{CV11},DIRECT_MESSAGE,INBOX,REPLY,OUTBOUND,,,,,,,,,"
    "https://inbox.example/cv11,,2026-11-02 11:05:00,,",
]


def test_messages(tmp_path: Path) -> None:
    assert export(tmp_path, messages_log(), "messages") == MESSAGES_CH1 + MESSAGES_CH2


def test_messages_channel_filter(tmp_path: Path) -> None:
    assert export(tmp_path, messages_log(), "messages", channels=["ch-2"]) == MESSAGES_CH2


def test_messages_repeated_creation_arriving_out_of_order(tmp_path: Path) -> None:
    log = directory().created("cv12", "12:00:00")
    log.inbound("cv12", "m120", "12:00:05", content="second")
    log.inbound("cv12", "m120", "12:00:01", content="first")
    assert export(tmp_path, log, "messages") == [
        "m120,2026-11-02 12:00:01,cv12,WHATSAPP,acme-wa,Acme WhatsApp US,c1,'+15550001,,"
        "DIRECT_MESSAGE,INBOX,,INBOUND,,,,,,,,first,https://inbox.example/cv12,,"
        "2026-11-02 12:00:05,,"
    ]


# ---------------------------------------------------------------------------------------
# 4. teams and 9. agent_metrics (same log)
# ---------------------------------------------------------------------------------------


def teams_log() -> EventLog:
    log = directory()
    # cv20: a1 locks, a2 takes over (lock team T1), replies (team: a2's primary T2), resolves
    log.created("cv20", "09:00:00").inbound("cv20", "m200", "09:00:10")
    log.queue("cv20", "09:00:20", "m200").lock("cv20", "09:01:00", "a1")
    log.lock("cv20", "09:02:00", "a2", "T1").reply("cv20", "m201", "09:03:00", "a2")
    log.tag("cv20", "m200", "tg-1", "09:04:00", ("AGENT", "a2"))
    log.resolve("cv20", "09:05:00", ("AGENT", "a2"))
    log.csat_sent("cv20", "09:06:00", "sv20").csat_responded("cv20", "09:07:00", "sv20", 5)
    # cv21 (ch-2): a1's own PENDING ends its lock (team T2) without reply; VA message for T1
    log.created("cv21", "10:00:00", "ch-2", "c2").inbound("cv21", "m210", "10:00:10", "c2")
    log.queue("cv21", "10:00:11", "m210").lock("cv21", "10:01:00", "a1", "T2")
    log.pending("cv21", "10:02:00", ("AGENT", "a1")).va("cv21", "m211", "10:03:00", team="T1")
    log.reply("cv21", "m212", "10:04:00", "a1", "T1").topic("cv21", "tp-1", "10:05:00")
    log.resolve("cv21", "10:06:00", ("AGENT", "a1"))
    # cv22: resolved by a1 for T1 without a reply, 3 s after the inbound message
    log.created("cv22", "11:00:00").inbound("cv22", "m220", "11:00:10")
    log.queue("cv22", "11:00:11", "m220").resolve("cv22", "11:00:13", ("AGENT", "a1"), "T1")
    # cv23: a3 (no primary team) answers; a VA message without team
    log.created("cv23", "12:00:00").inbound("cv23", "m230", "12:00:05")
    log.queue("cv23", "12:00:06", "m230").reply("cv23", "m231", "12:01:00", "a3")
    log.va("cv23", "m232", "12:02:00")
    # presence: a1 straddles both range ends, a2 still available at as_of
    log.presence("a1", "2026-11-01 22:00:00", "AVAILABLE").presence(
        "a1", "10:00:00", "AWAY", "Lunch"
    )
    log.presence("a1", "11:00:00", "AVAILABLE").presence("a1", "2026-11-03 01:00:00", "OFFLINE")
    return log.presence("a2", "09:00:00", "AVAILABLE")


def test_teams(tmp_path: Path) -> None:
    assert export(tmp_path, teams_log(), "teams") == [
        "2026-11-02 10:03:00,T1,Care,1,1,229,177,180,0,60,180,1,0,0,0,0,0,0,1,1",
        "2026-11-02 09:03:00,T2,Billing,1,0,160,290,0,60,0,,1,0,0,0,0,1,1,0,1",
    ]


def test_teams_channel_filter(tmp_path: Path) -> None:
    assert export(tmp_path, teams_log(), "teams", channels=["ch-2"]) == [
        "2026-11-02 10:03:00,T1,Care,1,0,229,350,0,0,0,,1,0,0,0,0,0,0,1,1",
    ]


def test_agent_metrics(tmp_path: Path) -> None:
    assert export(tmp_path, teams_log(), "agent_metrics") == [
        "a1,Ana,ana@acme.example,EMP-1,82800,3600,1,,0,60,60,1,1,1,0,1,0.14,0,0,0,0,0",
        "a2,Ben,ben@acme.example,EMP-2,54000,0,1,180,180,0,0,1,1,0,1,0,0.33,0,0,0,0,1",
        "a3,Cy,cy@acme.example,EMP-3,0,0,1,,0,0,0,1,0,0,0,0,,0,0,0,0,0",
    ]


def test_agent_metrics_channel_filter_keeps_presence(tmp_path: Path) -> None:
    assert export(tmp_path, teams_log(), "agent_metrics", channels=["ch-2"]) == [
        "a1,Ana,ana@acme.example,EMP-1,82800,3600,1,,0,60,0,1,1,0,0,1,0.07,0,0,0,0,0",
        "a2,Ben,ben@acme.example,EMP-2,54000,0,0,,0,0,0,0,0,0,0,0,0.00,0,0,0,0,0",
    ]


OFF_FROM, OFF_TO = "2026-11-02T09:02:30Z", "2026-11-02T10:03:30Z"


def test_teams_over_a_datetime_range_off_the_quarter_hours(tmp_path: Path) -> None:
    assert export(tmp_path, teams_log(), "teams", day=OFF_FROM, to=OFF_TO) == [
        "2026-11-02 10:03:00,T1,Care,0,0,,,180,0,0,180,0,0,0,0,0,0,0,0,0",
        "2026-11-02 09:03:00,T2,Billing,1,0,160,290,0,60,0,,1,0,0,0,0,1,1,0,1",
    ]


def test_agent_metrics_over_a_datetime_range_off_the_quarter_hours(tmp_path: Path) -> None:
    assert export(tmp_path, teams_log(), "agent_metrics", day=OFF_FROM, to=OFF_TO) == [
        "a1,Ana,ana@acme.example,EMP-1,3450,210,0,,0,60,0,0,0,0,0,0,1.74,0,0,0,0,0",
        "a2,Ben,ben@acme.example,EMP-2,3660,0,1,180,180,0,0,1,1,0,1,0,4.92,0,0,0,0,1",
    ]


def handle_log() -> EventLog:
    """a1 handles cv1 twice (100 s + 50 s) and cv2 once (31 s)."""
    log = directory()
    log.created("cv1", "09:00:00").inbound("cv1", "m1", "09:00:01").queue("cv1", "09:00:02", "m1")
    log.lock("cv1", "09:01:00", "a1").reply("cv1", "m2", "09:01:10").unlock("cv1", "09:02:40", "a1")
    log.lock("cv1", "09:03:00", "a1").reply("cv1", "m3", "09:03:10").unlock("cv1", "09:03:50", "a1")
    log.created("cv2", "10:00:00").inbound("cv2", "m4", "10:00:01").queue("cv2", "10:00:02", "m4")
    log.lock("cv2", "10:01:00", "a1").reply("cv2", "m5", "10:01:10")
    return log.unlock("cv2", "10:01:31", "a1")


def test_average_handle_time_per_distinct_conversation_rounds_half_up(tmp_path: Path) -> None:
    # 181 s over 2 conversations = 90.5 s -> 91
    assert export(tmp_path, handle_log(), "agent_metrics") == [
        "a1,Ana,ana@acme.example,EMP-1,0,0,1,91,181,0,0,3,0,0,0,0,,0,0,0,0,0",
    ]
    assert export(tmp_path, handle_log(), "teams") == [
        "2026-11-02 09:01:10,T1,Care,0,0,68,,181,0,0,91,1,0,0,0,0,0,0,0,3",
    ]


def test_messages_team_is_the_messages_own_team_id(tmp_path: Path) -> None:
    # a1 replies without team_id: no fallback to a1's primary team in the messages export
    rows = export(
        tmp_path, handle_log(), "messages", day="2026-11-02T09:01:10Z", to="2026-11-02T09:01:11Z"
    )
    assert rows == [
        "m2,2026-11-02 09:01:10,cv1,WHATSAPP,acme-wa,Acme WhatsApp US,c1,'+15550001,,"
        "DIRECT_MESSAGE,INBOX,REPLY,OUTBOUND,a1,Ana,EMP-1,,,,,ok,https://inbox.example/cv1,,"
        "2026-11-02 09:01:10,,"
    ]


# ---------------------------------------------------------------------------------------
# 5. contacts
# ---------------------------------------------------------------------------------------


def contacts_log() -> EventLog:
    log = directory()
    log.created("cv70", "2026-11-01 20:00:00").inbound("cv70", "m700", "2026-11-01 20:00:05")
    log.reply("cv70", "m701", "08:00:00").inbound("cv70", "m702", "08:30:00")
    log.created("cv71", "09:00:00", "ch-2", "c1").inbound("cv71", "m710", "09:00:05")
    log.va("cv71", "m711", "09:01:00").updated("cv71", "m710", "15:00:00", "edited")
    log.resolve("cv71", "16:00:00")  # not a message.* event: not the contact's Last Updated
    log.created("cv72", "10:00:00", "ch-2", "c2").inbound("cv72", "m720", "10:00:05", "c2")
    log.contact("c2", "18:00:00", "SMS", "5550002", "Robert")
    log.attribute("c2", "20:00:00", "at-1", "VIP", "true", "BOOLEAN")
    log.created("cv73", "2026-11-03 01:00:00", contact="c3")
    return log.inbound("cv73", "m730", "2026-11-03 01:00:05", "c3")


CONTACT_C2 = "c2,SMS,5550002,Robert,2026-11-02 10:00:05,1,1,0,2026-11-02 20:00:00"


def test_contacts(tmp_path: Path) -> None:
    assert export(tmp_path, contacts_log(), "contacts") == [
        "c1,WHATSAPP,'+15550001,,2026-11-02 08:00:00,2,2,2,2026-11-02 15:00:00",
        CONTACT_C2,
    ]


def test_contacts_channel_filter(tmp_path: Path) -> None:
    assert export(tmp_path, contacts_log(), "contacts", channels=["ch-2"]) == [
        "c1,WHATSAPP,'+15550001,,2026-11-02 09:00:05,1,1,1,2026-11-02 15:00:00",
        CONTACT_C2,
    ]


# ---------------------------------------------------------------------------------------
# 6. topics and 7. tags
# ---------------------------------------------------------------------------------------


def topics_log() -> EventLog:
    log = (
        directory().topic_deleted("tp-1", "08:00:00").topic_upserted("tp-1", "08:30:00", "Billing")
    )
    log.topic_deleted("tp-2", "12:00:00")
    log.created("cv50", "2026-11-01 12:00:00").topic("cv50", "tp-1", "2026-11-01 12:05:00")
    log.topic("cv50", "tp-2", "09:00:00").topic("cv50", "tp-2", "09:10:00", removed=True)
    log.topic("cv50", "tp-1", "09:20:00", ("AGENT", "a2"))
    log.created("cv51", "10:00:00").topic("cv51", "tp-2", "10:01:00", ("VIRTUAL_AGENT", "va-1"))
    log.created("cv52", "10:00:00", "ch-2", "c2").topic(
        "cv52", "tp-1", "10:02:00", ("SYSTEM", None)
    )
    log.topic("cv52", "tp-1", "10:03:00", ("SYSTEM", None), removed=True)
    return log.topic("cv52", "tp-1", "10:04:00", ("SYSTEM", None))


TOPIC_CH2 = "tp-1,Billing,true,1,1,SMS,acme-sms,Acme SMS"


def test_topics(tmp_path: Path) -> None:
    assert export(tmp_path, topics_log(), "topics") == [
        "tp-1,Billing,true,1,1,WHATSAPP,acme-wa,Acme WhatsApp US",
        TOPIC_CH2,
        "tp-2,Refund,false,2,1,WHATSAPP,acme-wa,Acme WhatsApp US",
    ]


def test_topics_channel_filter(tmp_path: Path) -> None:
    assert export(tmp_path, topics_log(), "topics", channels=["ch-2"]) == [TOPIC_CH2]


def tags_log() -> EventLog:
    log = directory().tag_deleted("tg-2", "12:00:00")
    log.created("cv60", "09:00:00").inbound("cv60", "m600", "09:00:05")
    log.reply("cv60", "m601", "09:01:00").tag("cv60", "m600", "tg-1", "09:02:00")
    log.tag("cv60", "m601", "tg-1", "09:03:00").tag(
        "cv60", "m601", "tg-1", "09:04:00", removed=True
    )
    log.tag("cv60", "m600", "tg-2", "09:05:00")
    log.created("cv61", "10:00:00", contact="c2").inbound("cv61", "m610", "10:00:05", "c2")
    log.tag("cv61", "m610", "tg-1", "10:01:00", ("VIRTUAL_AGENT", "va-1"))
    log.tag("cv61", "m610", "tg-1", "10:02:00", ("VIRTUAL_AGENT", "va-1"))
    log.created("cv62", "11:00:00", "ch-2", "c2").inbound("cv62", "m620", "11:00:05", "c2")
    return log.tag("cv62", "m620", "tg-1", "11:01:00", ("AGENT", "a2"))


TAG_CH2 = "tg-1,Urgent,true,1,1,1,SMS,acme-sms,Acme SMS"


def test_tags(tmp_path: Path) -> None:
    assert export(tmp_path, tags_log(), "tags") == [
        "tg-1,Urgent,true,2,3,2,WHATSAPP,acme-wa,Acme WhatsApp US",
        TAG_CH2,
        "tg-2,VIP,false,1,1,1,WHATSAPP,acme-wa,Acme WhatsApp US",
    ]


def test_tags_channel_filter(tmp_path: Path) -> None:
    assert export(tmp_path, tags_log(), "tags", channels=["ch-2"]) == [TAG_CH2]


# ---------------------------------------------------------------------------------------
# 8. agent_presence (and agent_metrics on presence alone)
# ---------------------------------------------------------------------------------------

PRESENCE_AS_OF = "2026-11-03 03:00:00"


def presence_log() -> EventLog:
    log = directory()
    log.presence("a1", "2026-11-01 22:00:00", "AVAILABLE").presence(
        "a1", "10:00:00", "AWAY", "Lunch"
    )
    log.presence("a1", "11:00:00", "AVAILABLE").presence("a1", "12:00:00", "OFFLINE")
    log.presence("a2", "2026-11-01 20:00:00", "AVAILABLE")
    log.presence("a2", "2026-11-01 23:00:00", "OFFLINE")  # ends before the range
    log.presence("a2", "19:00:00", "AWAY", "Meeting")  # open at as_of
    log.presence("a3", "23:00:00", "AVAILABLE")
    return log.presence("a3", "2026-11-03 02:00:00", "OFFLINE")


PRESENCE_ROWS = [
    "a1,Ana,ana@acme.example,AVAILABLE,,2026-11-01 22:00:00,2026-11-02 10:00:00,43200",
    "a1,Ana,ana@acme.example,AWAY,Lunch,2026-11-02 10:00:00,2026-11-02 11:00:00,3600",
    "a1,Ana,ana@acme.example,AVAILABLE,,2026-11-02 11:00:00,2026-11-02 12:00:00,3600",
    "a2,Ben,ben@acme.example,AWAY,Meeting,2026-11-02 19:00:00,,28800",
    "a3,Cy,cy@acme.example,AVAILABLE,,2026-11-02 23:00:00,2026-11-03 02:00:00,10800",
]


def test_agent_presence(tmp_path: Path) -> None:
    rows = export(tmp_path, presence_log(), "agent_presence", as_of=PRESENCE_AS_OF)
    assert rows == PRESENCE_ROWS


def test_agent_presence_is_not_channel_filtered(tmp_path: Path) -> None:
    rows = export(
        tmp_path, presence_log(), "agent_presence", as_of=PRESENCE_AS_OF, channels=["ch-2"]
    )
    assert rows == PRESENCE_ROWS


def test_agent_metrics_clips_presence_to_the_range(tmp_path: Path) -> None:
    assert export(tmp_path, presence_log(), "agent_metrics", as_of=PRESENCE_AS_OF) == [
        "a1,Ana,ana@acme.example,EMP-1,39600,3600,0,,0,0,0,0,0,0,0,0,0.00,0,0,0,0,0",
        "a2,Ben,ben@acme.example,EMP-2,0,18000,0,,0,0,0,0,0,0,0,0,,0,0,0,0,0",
        "a3,Cy,cy@acme.example,EMP-3,3600,0,0,,0,0,0,0,0,0,0,0,0.00,0,0,0,0,0",
    ]


# ---------------------------------------------------------------------------------------
# 10. responses
# ---------------------------------------------------------------------------------------


def responses_log() -> EventLog:
    log = reopened(directory())
    # cv30 (ch-2): VA handover due to ERROR; a system message is no response; native reply
    log.created("cv30", "10:00:00", "ch-2", "c2").inbound("cv30", "m300", "10:00:05", "c2")
    log.queue("cv30", "10:00:06", "m300").va("cv30", "m301", "10:00:30")
    log.queue("cv30", "10:01:00", "m300", "VA_HANDED_OVER_CONVERSATION",
              ("VIRTUAL_AGENT", "va-1"), "ERROR")  # fmt: skip
    log.message("cv30", "m302", "10:02:00", "OUTBOUND", ("SYSTEM", None))
    log.reply("cv30", "m303", "10:03:30", None)
    # cv31: answered at the range end (excluded); cv32: queued before the range
    log.created("cv31", "23:58:00").inbound("cv31", "m310", "23:58:30")
    log.queue("cv31", "23:59:00", "m310").reply("cv31", "m311", "2026-11-03 00:00:00")
    log.created("cv32", "2026-11-01 23:50:00").inbound("cv32", "m320", "2026-11-01 23:50:10")
    log.queue("cv32", "2026-11-01 23:50:20", "m320")
    return log.reply("cv32", "m321", "00:10:20")


RESPONSE_CV30 = (
    "cv30,SMS,acme-sms,Acme SMS,c2,VA_HANDED_OVER_CONVERSATION,ERROR,2026-11-02 10:01:00,"
    "2026-11-02 10:03:30,150,,,,m300,m303,https://inbox.example/cv30"
)


def test_responses(tmp_path: Path) -> None:
    assert export(tmp_path, responses_log(), "responses") == [
        "cv32,WHATSAPP,acme-wa,Acme WhatsApp US,c1,NEW_INBOUND_MESSAGE,,2026-11-01 23:50:20,"
        "2026-11-02 00:10:20,1200,a1,Ana,EMP-1,m320,m321,https://inbox.example/cv32",
        "cv1,WHATSAPP,acme-wa,Acme WhatsApp US,c1,NEW_INBOUND_MESSAGE,,2026-11-02 09:00:11,"
        "2026-11-02 09:01:40,89,a1,Ana,EMP-1,m1,m2,https://inbox.example/cv1",
        # 300.5 s rounds half up; the To timestamp truncates the milliseconds
        "cv1,WHATSAPP,acme-wa,Acme WhatsApp US,c1,REOPENED,,2026-11-02 09:20:01,"
        "2026-11-02 09:25:01,301,a2,Ben,EMP-2,m3,m4,https://inbox.example/cv1",
        RESPONSE_CV30,
    ]


def test_responses_channel_filter(tmp_path: Path) -> None:
    assert export(tmp_path, responses_log(), "responses", channels=["ch-2"]) == [RESPONSE_CV30]


# ---------------------------------------------------------------------------------------
# 11. virtual_agents (with the Spanish header row)
# ---------------------------------------------------------------------------------------


def virtual_agents_log() -> EventLog:
    log = directory()
    log.created("cv40", "09:00:00").inbound("cv40", "m400", "09:00:05")
    log.queue("cv40", "09:00:06", "m400").va("cv40", "m401", "09:00:10")
    va = ("VIRTUAL_AGENT", "va-1")
    log.tag("cv40", "m400", "tg-1", "09:00:20", va).tag("cv40", "m400", "tg-2", "09:00:21", va)
    log.tag("cv40", "m401", "tg-1", "09:00:22", va).topic("cv40", "tp-1", "09:00:30", va)
    log.queue("cv40", "09:01:00", "m400", "VA_HANDED_OVER_CONVERSATION", va, "ERROR")
    log.reply("cv40", "m402", "09:05:00")
    log.created("cv41", "10:00:00").inbound("cv41", "m410", "10:00:05")
    log.queue("cv41", "10:00:06", "m410").va("cv41", "m411", "10:00:10")
    log.queue("cv41", "10:01:00", "m410", "VA_HANDED_OVER_CONVERSATION", va, "BUSINESS_HOURS")
    log.created("cv42", "11:00:00", "ch-2", "c2").inbound("cv42", "m420", "11:00:05", "c2")
    log.queue("cv42", "11:00:06", "m420").va("cv42", "m421", "11:00:10")
    return log.resolve("cv42", "11:01:00", va, trigger="VIRTUAL_AGENT")


VA_CH2 = "va-1,Ava,SMS,acme-sms,Acme SMS,1,0,0,1,0,0,"
VA_ROWS = ["va-1,Ava,WHATSAPP,acme-wa,Acme WhatsApp US,2,2,1,0,1,2,1.50", VA_CH2]


def test_virtual_agents(tmp_path: Path) -> None:
    assert export(tmp_path, virtual_agents_log(), "virtual_agents") == VA_ROWS


def test_virtual_agents_channel_filter(tmp_path: Path) -> None:
    assert export(tmp_path, virtual_agents_log(), "virtual_agents", channels=["ch-2"]) == [VA_CH2]


def test_virtual_agents_spanish_headers(tmp_path: Path) -> None:
    log = virtual_agents_log()
    stores, _ = ingest(log.lines)
    model = load_model(stores, tmp_path / "es.sqlite")
    request = parse_request(
        {"request_id": "es", "export_type": "virtual_agents", "from": "2026-11-02",
         "to": "2026-11-02", "locale": "es"}
    )  # fmt: skip
    try:
        text = export_csv(model, request, moment(AS_OF)).decode("utf-8")
    finally:
        model.close()
    assert text.split("\r\n") == [
        "ID de agente,Nombre del agente,Mediano,Canal,Nombre para mostrar del canal,"
        "Conversaciones totales,Entrega al agente,Entrega debido a un error,Solucionado,"
        "Conversaciones totales con tema,Total de mensajes etiquetados,Etiquetas por mensaje",
        *VA_ROWS,
        "",
    ]


def test_virtual_agents_removal_only_gives_no_row(tmp_path: Path) -> None:
    log = virtual_agents_log().virtual_agent("va-2", "2026-10-01 00:00:00", "Max")
    log.tag("cv42", "m420", "tg-1", "11:02:00", ("VIRTUAL_AGENT", "va-2"), removed=True)
    assert export(tmp_path, log, "virtual_agents") == VA_ROWS


# ---------------------------------------------------------------------------------------
# 12. contact_attributes
# ---------------------------------------------------------------------------------------


def attributes_log() -> EventLog:
    log = directory()
    log.attribute("c1", "2026-10-05 00:00:00", "at-2", "Plan", "Gold")
    log.attribute("c1", "12:00:00", "at-2", "Plan", "Platinum")
    log.attribute("c1", "2026-10-10 00:00:00", "at-2", "Plan", "Silver")  # older: ignored
    log.attribute("c1", "2026-10-05 00:00:00", "at-1", "Since", "2020-01-01", "DATE")
    log.attribute("c1", "2026-10-05 00:00:00", "at-3", "Note", "=SUM(A1)")
    log.attribute("c2", "2026-10-05 00:00:00", "at-1", "VIP", "true", "BOOLEAN")
    log.attribute("c3", "2026-10-05 00:00:00", "at-1", "VIP", "false", "BOOLEAN")
    log.created("cv80", "09:00:00").inbound("cv80", "m800", "09:00:05")
    log.created("cv81", "10:00:00", "ch-2", "c2").reply("cv81", "m810", "10:01:00")
    log.inbound("cv81", "m811", "10:02:00", "c2")
    log.created("cv82", "11:00:00", contact="c3")  # c3 only receives a reply: no rows
    return log.reply("cv82", "m820", "11:00:10")


ATTRIBUTE_C2 = "c2,5550002,Bob,at-1,VIP,true,BOOLEAN"


def test_contact_attributes(tmp_path: Path) -> None:
    assert export(tmp_path, attributes_log(), "contact_attributes") == [
        "c1,'+15550001,,at-1,Since,2020-01-01,DATE",
        "c1,'+15550001,,at-2,Plan,Platinum,TEXT",
        "c1,'+15550001,,at-3,Note,'=SUM(A1),TEXT",
        ATTRIBUTE_C2,
    ]


def test_contact_attributes_channel_filter(tmp_path: Path) -> None:
    rows = export(tmp_path, attributes_log(), "contact_attributes", channels=["ch-2"])
    assert rows == [ATTRIBUTE_C2]


# ---------------------------------------------------------------------------------------
# The America/New_York DST change: 2026-11-01 is 25 hours long
# ---------------------------------------------------------------------------------------

NY = "America/New_York"


def dst_log() -> EventLog:
    log = directory().created("cv90", "2026-10-31 12:00:00")
    log.presence("a1", "2026-10-31 23:00:00", "AVAILABLE")  # 19:00 EDT
    log.presence("a1", "2026-11-02 06:00:00", "OFFLINE")  # 01:00 EST
    log.presence("a2", "2026-11-01 05:30:00", "AVAILABLE")  # 01:30 EDT
    log.presence("a2", "2026-11-01 06:30:00", "AWAY", "Break")  # 01:30 EST
    log.presence("a2", "2026-11-01 07:00:00", "OFFLINE")  # 02:00 EST
    log.lock("cv90", "2026-11-01 05:00:00", "a1").unlock("cv90", "2026-11-01 05:15:00", "a1")
    for msg, when in (
        ("m899", "2026-11-01 03:59:59"),  # 23:59:59 EDT on Oct 31: before the local day
        ("m900", "2026-11-01 04:00:00"),  # 00:00:00 EDT
        ("m901", "2026-11-01 05:45:00"),  # 01:45:00 EDT
        ("m902", "2026-11-01 06:45:00"),  # 01:45:00 EST (the repeated hour)
        ("m903", "2026-11-02 04:59:59"),  # 23:59:59 EST
        ("m904", "2026-11-02 05:00:00"),  # 00:00:00 EST on Nov 2: after the local day
    ):
        log.inbound("cv90", msg, when)
    return log


def test_dst_day_available_time_and_utilization(tmp_path: Path) -> None:
    rows = export(tmp_path, dst_log(), "agent_metrics", day="2026-11-01", tz=NY)
    assert rows == [
        "a1,Ana,ana@acme.example,EMP-1,90000,0,0,,0,0,900,0,0,0,0,0,1.00,0,0,0,0,0",
        "a2,Ben,ben@acme.example,EMP-2,3600,1800,0,,0,0,0,0,0,0,0,0,0.00,0,0,0,0,0",
    ]


def test_same_day_in_utc_is_24_hours(tmp_path: Path) -> None:
    rows = export(tmp_path, dst_log(), "agent_metrics", day="2026-11-01")
    assert rows == [
        "a1,Ana,ana@acme.example,EMP-1,86400,0,0,,0,0,900,0,0,0,0,0,1.04,0,0,0,0,0",
        "a2,Ben,ben@acme.example,EMP-2,3600,1800,0,,0,0,0,0,0,0,0,0,0.00,0,0,0,0,0",
    ]


def test_dst_presence_written_in_local_time(tmp_path: Path) -> None:
    assert export(tmp_path, dst_log(), "agent_presence", day="2026-11-01", tz=NY) == [
        "a1,Ana,ana@acme.example,AVAILABLE,,2026-10-31 19:00:00,2026-11-02 01:00:00,111600",
        "a2,Ben,ben@acme.example,AVAILABLE,,2026-11-01 01:30:00,2026-11-01 01:30:00,3600",
        "a2,Ben,ben@acme.example,AWAY,Break,2026-11-01 01:30:00,2026-11-01 02:00:00,1800",
    ]


def test_dst_messages_range_and_local_timestamps(tmp_path: Path) -> None:
    cv90 = "cv90,WHATSAPP,acme-wa,Acme WhatsApp US,c1,'+15550001,,DIRECT_MESSAGE,INBOX,,INBOUND"
    url = "https://inbox.example/cv90"
    assert export(tmp_path, dst_log(), "messages", day="2026-11-01", tz=NY) == [
        f"{msg},{local},{cv90},,,,,,,,hi,{url},,{local},,"
        for msg, local in (
            ("m900", "2026-11-01 00:00:00"),
            ("m901", "2026-11-01 01:45:00"),
            ("m902", "2026-11-01 01:45:00"),
            ("m903", "2026-11-01 23:59:59"),
        )
    ]


def test_spring_forward_day_is_23_hours(tmp_path: Path) -> None:
    log = directory().presence("a1", "2026-03-07 12:00:00", "AVAILABLE")
    log.presence("a1", "2026-03-10 12:00:00", "OFFLINE")
    rows = export(tmp_path, log, "agent_metrics", day="2026-03-08", tz=NY)
    assert rows == ["a1,Ana,ana@acme.example,EMP-1,82800,0,0,,0,0,0,0,0,0,0,0,0.00,0,0,0,0,0"]
