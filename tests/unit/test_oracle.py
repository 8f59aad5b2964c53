"""The batch oracle on hand-built logs with hand-computed values, and over a simulated day."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from exporter.request import parse_request
from exporter.schema import EXPORTS
from streamproc.testing.oracle import BUILDERS, ROW_ORDERS, oracle_command, oracle_rows, run_oracle
from streamproc.testing.simulate import SimulationConfig, simulate

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""Hand-built logs count seconds from here (a Monday, 09:00 UTC)."""
S = 1000
"""One second in milliseconds (the oracle's SECONDS values are milliseconds)."""

NY = "America/New_York"

Moment = float | datetime


def at(moment: Moment) -> datetime:
    """Seconds after T0, or an explicit aware datetime."""
    return moment if isinstance(moment, datetime) else T0 + timedelta(seconds=moment)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Log:
    """A hand-built event log: every call appends one JSON line (event ids in call order)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def event(self, type_name: str, moment: Moment, **fields: Any) -> None:
        stamp = at(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = {"event_id": f"ev-{len(self.lines):05d}", "type": type_name, "occurred_at": stamp}
        self.lines.append(orjson.dumps({**body, **fields}))

    def directory(self) -> Log:
        day_before = -86_400
        for cid, medium, name, display in (
            ("ch-1", "WHATSAPP", "+1 555 0100", "Acme WhatsApp US"),
            ("ch-2", "SMS", "+1 555 0199", "Acme SMS"),
        ):
            self.event(
                "channel.upserted",
                day_before,
                channel_id=cid,
                medium=medium,
                name=name,
                display_name=display,
            )
        self.event("team.upserted", day_before, team_id="T1", name="Care")
        self.event("team.upserted", day_before, team_id="T2", name="Billing")
        for aid, name, ref, team in (("a1", "Ana", "EMP-1", "T1"), ("a2", "Ben", "EMP-2", "T2")):
            self.event(
                "agent.upserted",
                day_before,
                agent_id=aid,
                name=name,
                email=f"{name.lower()}@acme.example",
                reference=ref,
                team_id=team,
            )
        self.event("virtual_agent.upserted", day_before, virtual_agent_id="va-1", name="Ava")
        for contact, ident in (("c1", "+15550001"), ("c2", "+15550002")):
            self.event(
                "contact.upserted",
                day_before,
                contact_profile_id=contact,
                medium="WHATSAPP",
                primary_identifier=ident,
                secondary_identifier=None,
            )
        return self

    def conversation(
        self, conv: str, moment: Moment, channel: str = "ch-1", contact: str = "c1"
    ) -> None:
        self.event(
            "conversation.created",
            moment,
            conversation_id=conv,
            channel_id=channel,
            contact_profile_id=contact,
            url=f"https://inbox.example/{conv}",
            language="en",
        )

    def message(
        self,
        conv: str,
        msg: str,
        moment: Moment,
        direction: str,
        sender: tuple[str, str | None],
        team: str | None = None,
    ) -> None:
        self.event(
            "message.created",
            moment,
            message_id=msg,
            conversation_id=conv,
            direction=direction,
            sender={"kind": sender[0], "id": sender[1]},
            team_id=team,
            message_type="DIRECT_MESSAGE",
            origin="INBOX",
            outbound_type="REPLY" if direction == "OUTBOUND" else None,
            content=f"text of {msg}",
        )

    def inbound(self, conv: str, msg: str, moment: Moment, contact: str = "c1") -> None:
        self.message(conv, msg, moment, "INBOUND", ("CONTACT", contact))

    def reply(
        self, conv: str, msg: str, moment: Moment, agent: str = "a1", team: str | None = None
    ) -> None:
        self.message(conv, msg, moment, "OUTBOUND", ("AGENT", agent), team)

    def status(
        self,
        conv: str,
        moment: Moment,
        status: str,
        actor: tuple[str, str | None],
        team: str | None = None,
        **extra: Any,
    ) -> None:
        self.event(
            "conversation.status_changed",
            moment,
            conversation_id=conv,
            status=status,
            actor={"kind": actor[0], "id": actor[1]},
            team_id=team,
            **extra,
        )

    def queue(
        self,
        conv: str,
        moment: Moment,
        inbound: str | None,
        started_by: str = "NEW_INBOUND_MESSAGE",
        actor: tuple[str, str | None] = ("SYSTEM", None),
        reason: str | None = None,
    ) -> None:
        self.status(
            conv,
            moment,
            "NEW",
            actor,
            started_by=started_by,
            inbound_message_id=inbound,
            handover_reason=reason,
        )

    def resolve(
        self,
        conv: str,
        moment: Moment,
        actor: tuple[str, str | None] = ("AGENT", "a1"),
        team: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.status(
            conv,
            moment,
            "RESOLVED",
            actor,
            team,
            resolve_reason=reason,
            resolve_trigger="HUMAN_AGENT",
        )

    def lock(self, conv: str, moment: Moment, agent: str, team: str | None = None) -> None:
        self.event(
            "conversation.locked", moment, conversation_id=conv, agent_id=agent, team_id=team
        )

    def unlock(self, conv: str, moment: Moment, agent: str) -> None:
        self.event("conversation.unlocked", moment, conversation_id=conv, agent_id=agent)

    def presence(self, agent: str, moment: Moment, presence: str, away: str | None = None) -> None:
        self.event(
            "agent.presence_changed", moment, agent_id=agent, presence=presence, away_status=away
        )

    def started(self, conv: str, moment: float, channel: str = "ch-1", contact: str = "c1") -> str:
        """Created, first inbound message 1 s later, queued 1 s after that; the message id."""
        msg = f"{conv}-in"
        self.conversation(conv, moment, channel, contact)
        self.inbound(conv, msg, moment + 1, contact)
        self.queue(conv, moment + 2, msg)
        return msg


def rows(
    log: Log,
    export_type: str,
    *,
    day: str | None = "2026-11-02",
    tz: str = "UTC",
    channels: list[str] | None = None,
    as_of: Moment = 86_400,
    lines: list[bytes] | None = None,
) -> list[dict[str, Any]]:
    request: dict[str, Any] = {"request_id": "t", "export_type": export_type, "timezone": tz}
    if EXPORTS[export_type].needs_range:
        request |= {"from": day, "to": day}
    if channels is not None:
        request["channels"] = channels
    return oracle_rows(log.lines if lines is None else lines, parse_request(request), at(as_of))


def by(rows_: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows_}


# ---------------------------------------------------------------------------


def test_every_export_type_has_a_builder_and_a_row_order() -> None:
    assert set(BUILDERS) == set(EXPORTS) == set(ROW_ORDERS)


def test_reopened_conversation_two_entries_two_responses_latest_resolution() -> None:
    log = Log().directory()
    log.conversation("cv1", 0)
    log.inbound("cv1", "m1", 10)
    log.queue("cv1", 11, "m1")
    log.lock("cv1", 60, "a1")
    log.reply("cv1", "m2", 100)
    log.resolve("cv1", 200)
    log.inbound("cv1", "m3", 1000)
    log.queue("cv1", 1001, "m3", started_by="REOPENED")
    log.lock("cv1", 1100, "a1")
    log.reply("cv1", "m4", 1301)
    log.resolve("cv1", 1500, reason="ANSWERED")

    [row] = rows(log, "conversations_resolved")
    assert row["conversation_id"] == "cv1"
    assert row["first_response_time_s"] == 89 * S  # 11 -> 100
    assert row["resolution_time_s"] == 1490 * S  # latest resolution 1500 - first inbound 10
    assert row["resolved_at"] == at(1500)
    assert row["resolve_reason"] == "ANSWERED"
    assert row["handle_time_s"] == (200 - 60 + 1500 - 1100) * S
    assert (row["no_reply_time_s"], row["cherry_pick_time_s"]) == (0, 0)
    assert (row["number_of_inbound_messages"], row["number_of_outbound_messages"]) == (2, 2)
    assert row["current_status"] == "RESOLVED"
    assert (row["resolved_by"], row["resolved_agent_id"], row["resolved_agent_name"]) == (
        "AGENT",
        "a1",
        "Ana",
    )
    assert row["last_status_change_team_id"] == "T1"  # no team_id: a1's primary team
    assert row["last_status_change_team_name"] == "Care"
    assert row["medium"] == "WHATSAPP" and row["channel_display_name"] == "Acme WhatsApp US"
    assert row["last_updated"] == at(1500)
    assert row["csat_completed_status"] == "NOT_SENT"

    got = [
        (r["started_by"], r["inbound_message_id"], r["outbound_message_id"], r["from"], r["to"])
        for r in rows(log, "responses")
    ]
    assert got == [
        ("NEW_INBOUND_MESSAGE", "m1", "m2", at(11), at(100)),
        ("REOPENED", "m3", "m4", at(1001), at(1301)),
    ]
    assert [r["agent_response_time_s"] for r in rows(log, "responses")] == [89 * S, 300 * S]

    [agent] = rows(log, "agent_metrics")
    assert agent["user_id"] == "a1"
    assert (agent["resolves_with_reply"], agent["resolves_without_reply"]) == (2, 0)
    assert (agent["replies"], agent["contacts_helped"]) == (2, 1)
    assert agent["handle_time_s"] == 540 * S
    assert agent["avg_handle_time_s"] == 540 * S  # one conversation
    assert agent["available_time_s"] == 0 and agent["utilization_pct"] is None

    [team] = rows(log, "teams")
    assert (team["team_id"], team["created_at"], team["replies"]) == ("T1", at(100), 2)
    assert team["average_first_response_time"] == 89 * S
    assert team["average_resolution_time"] == Fraction(190 * S + 1490 * S, 2)

    # the first resolution decides the export day, later data is as of the export
    assert rows(log, "conversations_resolved", day="2026-11-01") == []


def test_virtual_agent_handover_due_to_error() -> None:
    log = Log().directory()
    first = log.started("cv1", 0)  # created 0, inbound 1, queued 2
    log.message("cv1", "va-msg", 5, "OUTBOUND", ("VIRTUAL_AGENT", "va-1"))
    log.event(
        "message.tag_added",
        6,
        message_id=first,
        conversation_id="cv1",
        tag_id="tag-1",
        actor={"kind": "VIRTUAL_AGENT", "id": "va-1"},
        team_id=None,
    )
    log.queue(
        "cv1",
        10,
        first,
        started_by="VA_HANDED_OVER_CONVERSATION",
        actor=("VIRTUAL_AGENT", "va-1"),
        reason="ERROR",
    )
    log.reply("cv1", "m2", 70)

    [va] = rows(log, "virtual_agents")
    assert va == {
        "agent_id": "va-1",
        "agent_name": "Ava",
        "medium": "WHATSAPP",
        "channel": "+1 555 0100",
        "channel_display_name": "Acme WhatsApp US",
        "total_conversations": 1,
        "handover_to_agent": 1,
        "handover_due_to_error": 1,
        "resolved": 0,
        "total_conversations_with_topic": 0,
        "total_tagged_messages": 1,
        "tags_per_message": 1,
    }
    # The virtual agent's message is no response; the handover starts a new queue entry.
    [response] = rows(log, "responses")
    assert response["started_by"] == "VA_HANDED_OVER_CONVERSATION"
    assert response["handover_reason"] == "ERROR"
    assert (response["from"], response["to"]) == (at(10), at(70))
    assert response["agent_response_time_s"] == 60 * S
    assert response["responding_agent_reference"] == "EMP-1"
    [open_row] = rows(log, "conversations_open")
    assert open_row["first_response_time_s"] == 60 * S
    assert open_row["current_status"] == "NEW"
    assert "csat_score" not in open_row and "resolve_reason" not in open_row
    # virtual agents never get agent-metrics rows
    assert [r["user_id"] for r in rows(log, "agent_metrics")] == ["a1"]


def test_lock_taken_over_by_another_agent() -> None:
    log = Log().directory()
    log.started("cv1", 0)
    log.lock("cv1", 100, "a1")
    log.lock("cv1", 400, "a2", team="T1")  # takeover: a1's session ends, a2's starts
    log.unlock("cv1", 420, "a1")  # a1 holds nothing any more: ignored
    log.lock("cv1", 450, "a2")  # repeat lock: a2's session goes on, start unchanged
    log.reply("cv1", "m2", 500, agent="a2")
    log.resolve("cv1", 600, actor=("AGENT", "a2"))

    [row] = rows(log, "conversations_resolved")
    assert row["cherry_pick_time_s"] == 300 * S
    assert row["handle_time_s"] == 200 * S
    assert row["no_reply_time_s"] == 0
    agents = by(rows(log, "agent_metrics"), "user_id")
    assert (agents["a1"]["cherry_pick_time_s"], agents["a1"]["handle_time_s"]) == (300 * S, 0)
    assert agents["a1"]["avg_handle_time_s"] is None
    assert (agents["a2"]["handle_time_s"], agents["a2"]["cherry_pick_time_s"]) == (200 * S, 0)
    assert agents["a2"]["resolves_with_reply"] == 1
    teams = by(rows(log, "teams"), "team_id")
    # a2's session counts for the lock event's team T1; the reply and the resolution for T2
    assert set(teams) == {"T2"}
    assert teams["T2"]["total_handle_time"] == 0 and teams["T2"]["replies"] == 1


def test_lock_expires_at_the_maximum() -> None:
    log = Log().directory()
    log.started("cv1", 0)
    log.lock("cv1", 10, "a1")
    log.reply("cv1", "late", 10 + 7200)  # the expiry at this instant comes first
    log.unlock("cv1", 10 + 7300, "a1")  # a1 holds nothing any more: ignored
    log.lock("cv1", 10 + 10_800, "a2")
    log.resolve("cv1", 10 + 10_860, actor=("AGENT", "a2"))

    [row] = rows(log, "conversations_resolved")
    assert row["cherry_pick_time_s"] == 7200 * S  # exactly the 2 h maximum
    assert row["no_reply_time_s"] == 60 * S  # a2 resolved without replying
    agents = by(rows(log, "agent_metrics"), "user_id")
    assert agents["a1"]["cherry_pick_time_s"] == 7200 * S
    assert agents["a2"]["no_reply_time_s"] == 60 * S
    assert agents["a1"]["replies"] == 1 and agents["a1"]["handle_time_s"] == 0
    assert agents["a2"]["resolves_with_reply"] == 1  # a1's late reply follows the queue entry
    # a shorter configured maximum
    request = parse_request(
        {
            "request_id": "t",
            "export_type": "conversations_resolved",
            "from": "2026-11-02",
            "to": "2026-11-02",
        }
    )
    [short] = oracle_rows(log.lines, request, at(86_400), lock_max_s=600)
    assert short["cherry_pick_time_s"] == 600 * S


def test_a_lock_still_open_at_as_of_counts_nowhere_until_it_expires() -> None:
    log = Log().directory()
    log.started("cv1", 0)
    log.lock("cv1", 3600, "a1")
    [before] = rows(log, "conversations_open", day=None, as_of=3600 + 7199)
    assert before["cherry_pick_time_s"] == 0
    assert rows(log, "agent_metrics", as_of=3600 + 7199) == []
    [after] = rows(log, "conversations_open", day=None, as_of=3600 + 7200)
    assert after["cherry_pick_time_s"] == 7200 * S
    [agent] = rows(log, "agent_metrics", as_of=3600 + 7200)
    assert agent["cherry_pick_time_s"] == 7200 * S


def test_no_reply_versus_cherry_pick() -> None:
    log = Log().directory()
    log.started("pend", 0)
    log.lock("pend", 100, "a1")
    log.status("pend", 220, "PENDING", ("AGENT", "a1"))  # own change: no-reply
    log.started("peek", 1000)
    log.lock("peek", 1100, "a1")
    log.unlock("peek", 1150, "a1")  # unlock without reply: cherry-pick
    log.started("other", 2000)
    log.lock("other", 2100, "a1")
    log.resolve("other", 2130, actor=("AGENT", "a2"))  # someone else's change: cherry-pick
    log.started("old-reply", 3000)
    log.reply("old-reply", "or-1", 3010, agent="a2")
    log.inbound("old-reply", "or-2", 3100)
    log.queue("old-reply", 3101, "or-2", started_by="REOPENED")
    log.resolve("old-reply", 3200, actor=("AGENT", "a2"))  # reply before the latest entry

    agents = by(rows(log, "agent_metrics"), "user_id")
    a1, a2 = agents["a1"], agents["a2"]
    assert a1["no_reply_time_s"] == 120 * S
    assert a1["cherry_pick_time_s"] == (50 + 30) * S
    assert a1["handle_time_s"] == 0
    assert (a1["resolves_with_reply"], a1["resolves_without_reply"]) == (0, 0)
    assert (a2["resolves_with_reply"], a2["resolves_without_reply"]) == (0, 2)
    resolved = by(rows(log, "conversations_resolved"), "conversation_id")
    assert resolved["other"]["cherry_pick_time_s"] == 30 * S
    assert resolved["other"]["resolution_time_s"] == 129 * S
    open_rows = by(rows(log, "conversations_open", day=None), "conversation_id")
    assert set(open_rows) == {"pend", "peek"}
    assert open_rows["pend"]["no_reply_time_s"] == 120 * S
    assert open_rows["pend"]["current_status"] == "PENDING"
    assert open_rows["pend"]["last_status_change_agent_id"] == "a1"
    assert open_rows["peek"]["last_status_change_agent_id"] is None  # only NEW so far


def test_presence_straddling_midnight_and_the_range() -> None:
    log = Log().directory()
    log.presence("a1", utc("2026-11-01T10:00:00Z"), "AVAILABLE")  # wholly before the range
    log.presence("a1", utc("2026-11-01T12:00:00Z"), "OFFLINE")
    log.presence("a1", utc("2026-11-01T22:00:00Z"), "AVAILABLE")
    log.presence("a1", utc("2026-11-02T01:00:00Z"), "AWAY", "Lunch")
    log.presence("a1", utc("2026-11-02T02:00:00Z"), "OFFLINE")
    log.presence("a1", utc("2026-11-02T23:00:00Z"), "AVAILABLE")
    log.presence("a1", utc("2026-11-03T01:00:00Z"), "OFFLINE")
    log.presence("a2", utc("2026-11-02T20:00:00Z"), "AVAILABLE")  # still open at as_of
    as_of = utc("2026-11-03T12:00:00Z")

    got = [
        (r["user_id"], r["type"], r["away_status"], r["from"], r["to"], r["duration_s"])
        for r in rows(log, "agent_presence", as_of=as_of)
    ]
    hour = 3600 * S
    assert got == [
        ("a1", "AVAILABLE", None, utc("2026-11-01T22:00Z"), utc("2026-11-02T01:00Z"), 3 * hour),
        ("a1", "AWAY", "Lunch", utc("2026-11-02T01:00Z"), utc("2026-11-02T02:00Z"), hour),
        ("a1", "AVAILABLE", None, utc("2026-11-02T23:00Z"), utc("2026-11-03T01:00Z"), 2 * hour),
        ("a2", "AVAILABLE", None, utc("2026-11-02T20:00Z"), None, 16 * hour),
    ]
    agents = by(rows(log, "agent_metrics", as_of=as_of), "user_id")
    assert (agents["a1"]["available_time_s"], agents["a1"]["away_time_s"]) == (2 * hour, hour)
    assert agents["a2"]["available_time_s"] == 4 * hour
    assert agents["a1"]["user_email"] == "ana@acme.example"
    # an open interval ends at as_of
    early = utc("2026-11-02T22:00:00Z")
    [open_row] = [r for r in rows(log, "agent_presence", as_of=early) if r["user_id"] == "a2"]
    assert (open_row["to"], open_row["duration_s"]) == (None, 2 * hour)
    assert by(rows(log, "agent_metrics", as_of=early), "user_id")["a2"]["available_time_s"] == (
        2 * hour
    )
    assert rows(log, "agent_presence", day="2026-10-31", as_of=as_of) == []


def test_duplicates_invalid_lines_and_shuffled_input_give_identical_rows() -> None:
    lines = list(simulate(SimulationConfig(seed=5, days=1, conversations=40)))
    noisy = [*lines, *random.Random(1).sample(lines, 200), b"{not json", b"", b"[]"]
    random.Random(2).shuffle(noisy)
    log = Log()
    for export_type in EXPORTS:
        day = None if export_type == "conversations_open" else "2026-11-02"
        expected = rows(log, export_type, day=day, as_of=86_400, lines=lines)
        assert rows(log, export_type, day=day, as_of=86_400, lines=noisy) == expected


def test_first_occurrence_of_a_repeated_event_id_wins() -> None:
    log = Log().directory()
    log.started("cv1", 0)
    log.reply("cv1", "m2", 50)
    log.resolve("cv1", 100)
    clash = orjson.loads(log.lines[-1])
    clash["occurred_at"] = "2026-11-02T09:30:00.000Z"  # same event_id, other content
    [row] = rows(log, "conversations_resolved", lines=[*log.lines, orjson.dumps(clash)])
    assert row["resolved_at"] == at(100)


def test_range_across_the_new_york_dst_change() -> None:
    log = Log().directory()
    for conv, resolved in (
        ("before", "2026-11-01T03:59:59.999Z"),  # 2026-10-31 23:59:59.999 EDT
        ("first", "2026-11-01T04:00:00Z"),  # 2026-11-01 00:00 EDT
        ("last", "2026-11-02T04:59:59.999Z"),  # 2026-11-01 23:59:59.999 EST
        ("after", "2026-11-02T05:00:00Z"),  # 2026-11-02 00:00 EST
    ):
        log.conversation(conv, utc("2026-10-31T12:00:00Z"))
        log.resolve(conv, utc(resolved))
    log.presence("a1", utc("2026-10-31T00:00:00Z"), "AVAILABLE")
    log.presence("a1", utc("2026-11-03T00:00:00Z"), "OFFLINE")
    as_of = utc("2026-11-04T00:00:00Z")

    resolved_rows = rows(log, "conversations_resolved", as_of=as_of, tz=NY, day="2026-11-01")
    assert sorted(r["conversation_id"] for r in resolved_rows) == ["first", "last"]
    [agent] = rows(log, "agent_metrics", as_of=as_of, tz=NY, day="2026-11-01")
    assert agent["available_time_s"] == 25 * 3600 * S  # the day has 25 hours
    [utc_day] = rows(log, "agent_metrics", as_of=as_of, day="2026-11-01")
    assert utc_day["available_time_s"] == 24 * 3600 * S


def test_channel_filter() -> None:
    log = Log().directory()
    log.presence("a1", 0, "AVAILABLE")
    log.presence("a1", 3600, "OFFLINE")
    log.started("cv1", 0, channel="ch-1")
    log.lock("cv1", 100, "a1")
    log.reply("cv1", "m1", 200)
    log.resolve("cv1", 400)
    log.started("cv2", 0, channel="ch-2", contact="c2")
    log.lock("cv2", 500, "a1")
    log.reply("cv2", "m2", 600)
    log.resolve("cv2", 1100)

    [everything] = rows(log, "agent_metrics")
    assert everything["utilization_pct"] == Fraction(900 * 100, 3600)
    assert everything["replies"] == 2 and everything["contacts_helped"] == 2
    [ch1] = rows(log, "agent_metrics", channels=["ch-1"])
    assert ch1["available_time_s"] == 3600 * S  # presence is never filtered
    assert ch1["utilization_pct"] == Fraction(300 * 100, 3600)
    assert (ch1["replies"], ch1["handle_time_s"], ch1["resolves_with_reply"]) == (1, 300 * S, 1)
    resolved = rows(log, "conversations_resolved", channels=["ch-1"])
    assert [r["conversation_id"] for r in resolved] == ["cv1"]
    assert {r["conversation_id"] for r in rows(log, "messages", channels=["ch-2"])} == {"cv2"}
    assert [r["contact_profile_id"] for r in rows(log, "contacts", channels=["ch-2"])] == ["c2"]
    assert rows(log, "responses", channels=["ch-9"]) == []
    assert len(rows(log, "agent_presence", channels=["ch-9"])) == 1


def test_csat_is_credited_to_the_latest_resolving_agent() -> None:
    log = Log().directory()
    log.started("cv1", 0)
    log.reply("cv1", "m1", 50)
    log.resolve("cv1", 100)  # a1
    log.event("csat.sent", 110, conversation_id="cv1", survey_id="s1")
    log.inbound("cv1", "m2", 200)
    log.queue("cv1", 201, "m2", started_by="REOPENED")
    log.resolve("cv1", 300, actor=("AGENT", "a2"), team="T1")  # a2, on behalf of T1
    log.event(
        "csat.responded",
        400,
        conversation_id="cv1",
        survey_id="s1",
        score=4,
        followup_question="Why?",
        followup_answer="=fast",
    )
    log.started("cv2", 1000)
    log.resolve("cv2", 1100)  # a1
    log.event("csat.sent", 1110, conversation_id="cv2", survey_id="s2")
    log.event("csat.responded", 1120, conversation_id="cv2", survey_id="s2", score=2)
    log.event("csat.sent", 1130, conversation_id="cv2", survey_id="s3")
    log.started("cv3", 2000)
    log.resolve("cv3", 2100, actor=("BULK", "a1"))
    log.event("csat.responded", 2200, conversation_id="cv3", survey_id="s4", score=1)

    agents = by(rows(log, "agent_metrics"), "user_id")
    scores = {a: [agents[a][f"csat_with_score_{k}"] for k in range(1, 6)] for a in agents}
    assert scores == {"a1": [0, 1, 0, 0, 0], "a2": [0, 0, 0, 1, 0]}
    [team] = rows(log, "teams")  # T1: a1's reply; a2's resolution was for T1
    assert [team[f"csat_with_score_{k}"] for k in range(1, 6)] == [0, 1, 0, 1, 0]
    assert team["resolves_with_reply"] == 1 and team["resolves_without_reply"] == 2
    resolved = by(rows(log, "conversations_resolved"), "conversation_id")
    cells = {
        c: (
            r["csat_score"],
            r["csat_completed_status"],
            r["csat_follow_up_question"],
            r["csat_follow_up_answer"],
        )
        for c, r in resolved.items()
    }
    assert cells == {
        "cv1": (4, "COMPLETED", "Why?", "=fast"),
        "cv2": (None, "SENT", None, None),
        "cv3": (None, "NOT_SENT", None, None),
    }
    assert resolved["cv3"]["resolved_by"] == "BULK"
    assert resolved["cv3"]["resolved_agent_id"] is None
    assert resolved["cv1"]["resolved_agent_id"] == "a2"
    assert resolved["cv1"]["last_status_change_team_name"] == "Care"


def test_topics_and_tags_with_removal_re_add_and_deletion() -> None:
    log = Log().directory()
    log.event("topic.upserted", -100, topic_id="tp-1", name="Billing")
    log.event("topic.upserted", -100, topic_id="tp-2", name="Old name")
    log.event("topic.upserted", -50, topic_id="tp-2", name="Recall")
    log.event("tag.upserted", -100, tag_id="tag-1", name="urgent")
    log.event("tag.upserted", -100, tag_id="tag-2", name="vip")
    first = log.started("cv1", 0)
    agent = {"kind": "AGENT", "id": "a1"}

    def topic(kind: str, moment: float, topic_id: str) -> None:
        log.event(
            f"conversation.topic_{kind}",
            moment,
            conversation_id="cv1",
            topic_id=topic_id,
            actor=agent,
            team_id=None,
        )

    def tag(kind: str, moment: float, tag_id: str) -> None:
        log.event(
            f"message.tag_{kind}",
            moment,
            message_id=first,
            conversation_id="cv1",
            tag_id=tag_id,
            actor=agent,
            team_id=None,
        )

    topic("added", 10, "tp-1")
    topic("added", 15, "tp-2")
    topic("removed", 20, "tp-1")
    topic("added", 30, "tp-1")
    log.event("topic.deleted", 50, topic_id="tp-2")
    tag("added", 10, "tag-1")
    tag("added", 11, "tag-2")
    tag("removed", 20, "tag-1")
    tag("added", 30, "tag-1")
    tag("removed", 40, "tag-2")
    log.event("tag.deleted", 60, tag_id="tag-2")
    log.event("tag.upserted", 70, tag_id="tag-2", name="vip")  # active again

    [conv] = rows(log, "conversations_open", day=None)
    assert conv["topic_ids"] == ["tp-2", "tp-1"]  # by the time they were (last) added
    assert conv["topic_names"] == ["Recall", "Billing"]
    topics = by(rows(log, "topics"), "topic_id")
    assert (topics["tp-1"]["active"], topics["tp-2"]["active"]) == (True, False)
    assert topics["tp-2"]["topic_name"] == "Recall"  # deleted: the last name stays
    assert topics["tp-2"]["total_current_conversations"] == 1
    assert topics["tp-1"]["total_conversations"] == 1
    assert topics["tp-1"]["channel"] == "+1 555 0100"
    tags = by(rows(log, "tags"), "tag_id")
    assert (tags["tag-1"]["total_messages"], tags["tag-1"]["total_current_messages"]) == (1, 1)
    assert (tags["tag-2"]["total_messages"], tags["tag-2"]["total_current_messages"]) == (1, 0)
    assert tags["tag-2"]["active"] is True and tags["tag-1"]["total_contacts"] == 1
    [message] = [m for m in rows(log, "messages") if m["message_id"] == first]
    assert (message["tag_ids"], message["tag_names"]) == (["tag-1"], ["urgent"])
    [agent_row] = rows(log, "agent_metrics")
    assert (agent_row["topics_added"], agent_row["tags_added"]) == (3, 3)  # removals don't count


def test_messages_contacts_and_attributes() -> None:
    log = Log().directory()
    first = log.started("cv1", 0)
    log.event("message.updated", 20, message_id=first, conversation_id="cv1", content="edited")
    log.event("message.updated", 25, message_id=first, conversation_id="cv1")  # no content
    log.event("message.deleted", 30, message_id=first, conversation_id="cv1")
    log.reply("cv1", "m2", 40, team="T2")
    log.event(
        "contact.attribute_set",
        50,
        contact_profile_id="c1",
        attribute_id="attr-2",
        name="Tier",
        value=None,
        attribute_type="TEXT",
    )
    log.event(
        "contact.attribute_set",
        60,
        contact_profile_id="c1",
        attribute_id="attr-2",
        name="Tier",
        value="gold",
        attribute_type="TEXT",
    )

    msgs = by(rows(log, "messages"), "message_id")
    assert list(msgs) == [first, "m2"]
    assert msgs[first]["content"] == "edited"
    assert msgs[first]["deleted_at"] == at(30) == msgs[first]["last_updated"]
    assert (msgs["m2"]["agent_name"], msgs["m2"]["team_name"]) == ("Ana", "Billing")
    [contact] = rows(log, "contacts")
    assert contact["created_at"] == at(1)
    assert (contact["number_of_inbound_messages"], contact["number_of_outbound_messages"]) == (1, 1)
    assert contact["last_updated"] == at(60)
    [attribute] = rows(log, "contact_attributes")
    assert (attribute["attribute_id"], attribute["attribute_value"]) == ("attr-2", "gold")


def test_every_export_type_over_a_simulated_day(tmp_path: Path) -> None:
    lines = list(simulate(SimulationConfig(seed=3, days=1, conversations=60)))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    as_of = utc("2026-11-03T00:00:00Z")
    for export_type, spec in EXPORTS.items():
        request: dict[str, Any] = {"request_id": "t", "export_type": export_type}
        if spec.needs_range:
            request |= {"from": "2026-11-02", "to": "2026-11-02"}
        parsed = parse_request(request)
        got = oracle_rows(lines, parsed, as_of)
        assert got, export_type
        assert all(set(row) == set(spec.keys) for row in got), export_type
        result = run_oracle(events, parsed, as_of, tmp_path / f"{export_type}.csv")
        assert result.rows == len(got)
        assert (tmp_path / f"{export_type}.csv").stat().st_size == result.bytes


def test_command_writes_the_csv(tmp_path: Path) -> None:
    log = Log().directory()
    log.started("cv1", 0)
    log.resolve("cv1", 100)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(log.lines))
    out = tmp_path / "out.csv"
    args = [str(events), "conversations_resolved", "--from", "2026-11-02", "--to", "2026-11-02"]
    result = CliRunner().invoke(
        oracle_command,
        [*args, "--locale", "es", "--as-of", "2026-11-03T00:00:00Z", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "1 rows" in result.output
    header, row, end = out.read_bytes().split(b"\r\n")
    assert header.startswith("ID de conversación,".encode()) and row.startswith(b"cv1,")
    assert end == b""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "2026-11-03", "--to", "2026-11-02"], "before 'from'"),
        (["--from", "2026-11-02", "--to", "2026-11-02", "--timezone", "Mars/Olympus"], "timezone"),
        (["--from", "2026-11-02"], "'to'"),
        (["--from", "2026-11-02", "--to", "2026-11-02", "--locale", "fr"], "locale"),
    ],
)
def test_command_rejects_a_bad_request(extra: list[str], message: str, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"")
    args = [str(events), "messages", *extra, "--as-of", "2026-11-03T00:00:00Z"]
    result = CliRunner().invoke(oracle_command, [*args, "--out", str(tmp_path / "o.csv")])
    assert result.exit_code != 0
    assert message in result.output and "bad export request" in result.output
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("as_of", ["2026-11-03T00:00:00", "yesterday", "2026-11-03"])
def test_command_rejects_a_bad_as_of(as_of: str, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"")
    args = [str(events), "conversations_open", "--as-of", as_of, "--out", str(tmp_path / "o.csv")]
    result = CliRunner().invoke(oracle_command, args)
    assert result.exit_code != 0
    assert "--as-of" in result.output and "2026-11-03T00:00:00Z" in result.output
