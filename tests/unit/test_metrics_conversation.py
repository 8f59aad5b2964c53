"""Conversation and lock-session rules of docs/metrics.md as tables over the pure fold."""

from __future__ import annotations

import random
from dataclasses import fields
from typing import Any

import orjson
import pytest

from streamproc.events import InvalidEvent, parse_event
from streamproc.metrics.conversation import LockSession, fold
from streamproc.metrics.conversation_log import log_entry
from streamproc.state import Stores, conversation_log
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import ingest, per_conversation
from tests.unit.eventlog import LOCK_MAX_MS, EventLog, facts, ms, secs

AS_OF = 86_400.0
"""Default as_of: one day after T0, long after every hand-built event."""


def base() -> EventLog:
    """cv1 created at 0 on ch-1, inbound m1 at 10, queued (NEW) at 11 for m1."""
    return EventLog().created("cv1", 0).inbound("cv1", "m1", 10).queue("cv1", 11, "m1")


def bare() -> EventLog:
    """cv1 created at 0, nothing else."""
    return EventLog().created("cv1", 0)


# ---------------------------------------------------------------------------------------
# Queue entries, responses, First Response Time
# ---------------------------------------------------------------------------------------

Resp = tuple[float | None, float | None, str | None, str]

RESPONSES: list[Any] = [
    pytest.param(
        base().reply("cv1", "m2", 100).reply("cv1", "m3", 150),
        [(11, 100, "a1", "m2")], 89, id="first-reply-after-queue-entry-only",
    ),
    pytest.param(
        base().reply("cv1", "m2", 100).resolve("cv1", 200)
        .inbound("cv1", "m3", 1000).queue("cv1", 1001, "m3", "REOPENED")
        .reply("cv1", "m4", 1301, agent="a2"),
        [(11, 100, "a1", "m2"), (1001, 1301, "a2", "m4")], 89, id="reopen-two-responses",
    ),
    pytest.param(
        base().va("cv1", "v1", 20)
        .queue("cv1", 30, "m1", "VA_HANDED_OVER_CONVERSATION", ("VIRTUAL_AGENT", "va-1"), "ERROR")
        .reply("cv1", "m2", 90),
        [(30, 90, "a1", "m2")], 60, id="va-handover-response-by-human-only",
    ),
    pytest.param(
        base().va("cv1", "v1", 20)
        .message("cv1", "s1", 25, "OUTBOUND", ("SYSTEM", None), outbound_type="PROACTIVE"),
        [], None, id="va-and-system-outbound-are-no-response",
    ),
    pytest.param(
        bare().inbound("cv1", "m1", 3).reply("cv1", "m2", 5).queue("cv1", 11, "m1"),
        [], None, id="reply-before-any-queue-entry",
    ),
    pytest.param(
        base().resolve("cv1", 50).reply("cv1", "m2", 60),
        [], None, id="queue-entry-closed-by-resolved",
    ),
    pytest.param(
        base().pending("cv1", 40).reply("cv1", "m2", 60),
        [(11, 60, "a1", "m2")], 49, id="pending-does-not-close-the-queue-entry",
    ),
    pytest.param(
        base().reply("cv1", "m2", 70, agent=None),
        [(11, 70, None, "m2")], 59, id="reply-with-null-sender-id-is-a-response",
    ),
    pytest.param(
        base().queue("cv1", 50, "m1", "TRANSFERRED").reply("cv1", "m2", 80),
        [(50, 80, "a1", "m2")], 30, id="next-queue-entry-closes-the-previous",
    ),
    pytest.param(
        bare().inbound("cv1", "m1", 10).reply("cv1", "m2", 11).queue("cv1", 11, "m1"),
        [], None, id="same-ms-reply-ordered-before-the-entry",
    ),
    pytest.param(
        base().reply("cv1", "m2", 11),
        [(11, 11, "a1", "m2")], 0, id="same-ms-reply-ordered-after-the-entry",
    ),
    pytest.param(
        base().message("cv1", "x", 20, "INBOUND", ("AGENT", "a1")).reply("cv1", "m2", 30),
        [(11, 30, "a1", "m2")], 19, id="inbound-by-an-agent-is-no-response",
    ),
    pytest.param(
        base().reply("cv1", "m2", 40).reply("cv1", "m2", 20),
        [(11, 20, "a1", "m2")], 9, id="repeated-message-created-first-one-stands",
    ),
    pytest.param(
        bare(), [], None, id="no-queue-entry-no-response",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("log", "expected", "first_response_s"), RESPONSES)
def test_responses(log: EventLog, expected: list[Resp], first_response_s: float | None) -> None:
    f = facts(log)
    got = [(secs(r.queue_t), secs(r.t), r.agent_id, r.outbound_message_id) for r in f.responses]
    assert got == expected
    first = f.first_response
    assert (None if first is None else first.response_ms / 1000) == first_response_s


def test_response_carries_its_queue_entry() -> None:
    log = (
        base()
        .queue("cv1", 30, "m1", "VA_HANDED_OVER_CONVERSATION", ("VIRTUAL_AGENT", "va-1"), "ERROR")
        .reply("cv1", "m2", 90, team="T9")
    )
    f = facts(log)
    assert [
        (q.started_by, q.handover_reason, q.actor_kind, q.actor_id) for q in f.queue_entries
    ] == [
        ("NEW_INBOUND_MESSAGE", None, "SYSTEM", None),
        ("VA_HANDED_OVER_CONVERSATION", "ERROR", "VIRTUAL_AGENT", "va-1"),
    ]
    [r] = f.responses
    assert (r.started_by, r.handover_reason, r.inbound_message_id, r.team_id) == (
        "VA_HANDED_OVER_CONVERSATION",
        "ERROR",
        "m1",
        "T9",
    )
    assert r.response_ms == 60_000


# ---------------------------------------------------------------------------------------
# Resolutions: Resolution Time, With/Without Reply, Resolved By
# ---------------------------------------------------------------------------------------

Res = tuple[float | None, float | None, bool, str, str | None]

RESOLUTIONS: list[Any] = [
    pytest.param(
        base().reply("cv1", "m2", 100).resolve("cv1", 200),
        [(200, 190, True, "AGENT", "a1")], id="single-with-reply",
    ),
    pytest.param(
        base().reply("cv1", "m2", 100).resolve("cv1", 200).inbound("cv1", "m3", 1000)
        .queue("cv1", 1001, "m3", "REOPENED").resolve("cv1", 1500, ("AGENT", "a2")),
        [(200, 190, True, "AGENT", "a1"), (1500, 1490, False, "AGENT", "a2")],
        id="several-resolutions-times-from-first-inbound",
    ),
    pytest.param(
        bare().queue("cv1", 11, None, "MANUAL", ("AGENT", "a1")).resolve("cv1", 50),
        [(50, None, False, "AGENT", "a1")], id="no-inbound-empty-resolution-time",
    ),
    pytest.param(
        bare().resolve("cv1", 50).inbound("cv1", "m1", 60).resolve("cv1", 70),
        [(50, None, False, "AGENT", "a1"), (70, 10, False, "AGENT", "a1")],
        id="inbound-after-a-resolution-counts-only-for-later-ones",
    ),
    pytest.param(
        bare().inbound("cv1", "m1", 50).resolve("cv1", 50),
        [(50, 0, False, "AGENT", "a1")], id="inbound-at-the-same-instant-before-it",
    ),
    pytest.param(
        bare().reply("cv1", "m2", 5).resolve("cv1", 10),
        [(10, None, True, "AGENT", "a1")], id="no-queue-entry-reply-after-creation",
    ),
    pytest.param(
        EventLog().reply("cv1", "m2", -5).created("cv1", 0).resolve("cv1", 10),
        [(10, None, False, "AGENT", "a1")], id="reply-before-creation-does-not-count",
    ),
    pytest.param(
        base().reply("cv1", "m2", 20).queue("cv1", 30, "m1", "TRANSFERRED").resolve("cv1", 40),
        [(40, 30, False, "AGENT", "a1")], id="reply-before-latest-queue-entry",
    ),
    pytest.param(
        base().va("cv1", "v1", 20).resolve("cv1", 30),
        [(30, 20, False, "AGENT", "a1")], id="virtual-agent-reply-is-no-reply",
    ),
    pytest.param(
        base().reply("cv1", "m2", 20, agent="a2").resolve("cv1", 30),
        [(30, 20, True, "AGENT", "a1")], id="reply-by-any-agent",
    ),
    pytest.param(
        base().reply("cv1", "m2", 20, agent=None).resolve("cv1", 30),
        [(30, 20, True, "AGENT", "a1")], id="reply-with-null-sender-id",
    ),
    pytest.param(
        base().reply("cv1", "m2", 20).resolve("cv1", 30)
        .queue("cv1", 40, None, "REOPENED").resolve("cv1", 50, ("VIRTUAL_AGENT", "va-1")),
        [(30, 20, True, "AGENT", "a1"), (50, 40, False, "VIRTUAL_AGENT", "va-1")],
        id="latest-resolution-by-a-virtual-agent",
    ),
    pytest.param(
        base().resolve("cv1", 30, ("BULK", None)),
        [(30, 20, False, "BULK", None)], id="bulk-resolution",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("log", "expected"), RESOLUTIONS)
def test_resolutions(log: EventLog, expected: list[Res]) -> None:
    f = facts(log)
    got = [
        (
            secs(r.t),
            None if r.resolution_ms is None else r.resolution_ms / 1000,
            r.with_reply,
            r.actor_kind,
            r.actor_id,
        )
        for r in f.resolutions
    ]
    assert got == expected
    assert f.latest_resolution is f.resolutions[-1]
    assert secs(f.first_resolution_t) == expected[0][0]


def test_latest_resolution_carries_reason_comment_and_trigger() -> None:
    log = (
        base()
        .resolve("cv1", 30, reason="FIRST")
        .resolve("cv1", 50, ("AGENT", "a2"), "T2", "FIXED", "=cmd", "AUTOMATION")
    )
    r = facts(log).latest_resolution
    assert r is not None
    assert (r.reason, r.comment, r.trigger, r.team_id, secs(r.t)) == (
        "FIXED",
        "=cmd",
        "AUTOMATION",
        "T2",
        50,
    )


# ---------------------------------------------------------------------------------------
# Current status and Last Status Change Agent/Team
# ---------------------------------------------------------------------------------------

STATUSES: list[Any] = [
    pytest.param(bare(), None, None, None, id="no-status-change"),
    pytest.param(base(), "NEW", None, None, id="new-only"),
    pytest.param(base().pending("cv1", 20, ("AGENT", "a1"), "T9"), "PENDING", "a1", "T9",
                 id="pending-by-agent-with-team"),
    pytest.param(base().pending("cv1", 20).resolve("cv1", 30, ("SYSTEM", None)),
                 "RESOLVED", None, None, id="latest-by-system-clears-agent"),
    pytest.param(base().resolve("cv1", 30, ("AGENT", "a2")).queue("cv1", 40, None, "REOPENED"),
                 "NEW", "a2", None, id="reopen-keeps-latest-pending-or-resolved"),
    pytest.param(base().resolve("cv1", 30, ("AGENT", None)), "RESOLVED", None, None,
                 id="agent-without-id"),
    pytest.param(base().resolve("cv1", 30, ("VIRTUAL_AGENT", "va-1")), "RESOLVED", None, None,
                 id="virtual-agent"),
]  # fmt: skip


@pytest.mark.parametrize(("log", "status", "agent", "team"), STATUSES)
def test_current_status_and_last_status_change(
    log: EventLog, status: str | None, agent: str | None, team: str | None
) -> None:
    f = facts(log)
    assert (f.status, f.last_status_agent_id, f.last_status_team_id) == (status, agent, team)


# ---------------------------------------------------------------------------------------
# Lock sessions: how they end and their outcome
# ---------------------------------------------------------------------------------------

Sess = tuple[str, float | None, float | None, str, float]
LOCKED = base().lock("cv1", 60, "a1")
"""a1 locks cv1 at 60 (a queue entry open since 11)."""


def locked() -> EventLog:
    return EventLog().extend(LOCKED)


H = LOCK_MAX_MS / 1000  # the lock maximum, 7200 s

SESSIONS: list[Any] = [
    # -- outcomes
    pytest.param(locked().reply("cv1", "m2", 100).unlock("cv1", 150, "a1"), AS_OF,
                 [("a1", 60, 150, "handle", 90)], id="reply-handle"),
    pytest.param(locked().pending("cv1", 100), AS_OF,
                 [("a1", 60, 100, "no_reply", 40)], id="own-pending-no-reply"),
    pytest.param(locked().resolve("cv1", 100), AS_OF,
                 [("a1", 60, 100, "no_reply", 40)], id="own-resolved-no-reply"),
    pytest.param(locked().reply("cv1", "m2", 90).resolve("cv1", 100), AS_OF,
                 [("a1", 60, 100, "handle", 40)], id="reply-then-own-resolve-handle"),
    pytest.param(locked().resolve("cv1", 100, ("AGENT", "a2")), AS_OF,
                 [("a1", 60, 100, "cherry_pick", 40)], id="other-agents-status-change-cherry"),
    pytest.param(locked().resolve("cv1", 100, ("SYSTEM", None)), AS_OF,
                 [("a1", 60, 100, "cherry_pick", 40)], id="system-status-change-cherry"),
    pytest.param(locked().queue("cv1", 100, None, "MANUAL", ("AGENT", "a1")), AS_OF,
                 [("a1", 60, 100, "cherry_pick", 40)], id="own-change-to-new-cherry"),
    pytest.param(locked().unlock("cv1", 100, "a1"), AS_OF,
                 [("a1", 60, 100, "cherry_pick", 40)], id="unlock-cherry"),
    pytest.param(locked().reply("cv1", "m2", 80, agent="a2").unlock("cv1", 100, "a1"), AS_OF,
                 [("a1", 60, 100, "cherry_pick", 40)], id="reply-by-another-agent-cherry"),
    pytest.param(locked().reply("cv1", "m2", 80, agent=None).unlock("cv1", 100, "a1"), AS_OF,
                 [("a1", 60, 100, "cherry_pick", 40)], id="reply-with-null-id-cherry"),
    pytest.param(locked().va("cv1", "v1", 80).unlock("cv1", 100, "a1"), AS_OF,
                 [("a1", 60, 100, "cherry_pick", 40)], id="virtual-agent-reply-cherry"),
    pytest.param(locked().unlock("cv1", 100, "a1").reply("cv1", "m2", 110), AS_OF,
                 [("a1", 60, 100, "cherry_pick", 40)], id="reply-after-the-end-cherry"),
    pytest.param(base().reply("cv1", "m2", 60).lock("cv1", 60, "a1").unlock("cv1", 100, "a1"),
                 AS_OF, [("a1", 60, 100, "cherry_pick", 40)], id="reply-ordered-before-lock"),
    pytest.param(locked().reply("cv1", "m2", 60).unlock("cv1", 100, "a1"), AS_OF,
                 [("a1", 60, 100, "handle", 40)], id="reply-ordered-after-lock"),
    # -- takeover
    pytest.param(
        locked().lock("cv1", 100, "a2").reply("cv1", "m2", 150, agent="a2")
        .unlock("cv1", 200, "a2"), AS_OF,
        [("a1", 60, 100, "cherry_pick", 40), ("a2", 100, 200, "handle", 100)],
        id="takeover-by-another-agent",
    ),
    pytest.param(
        locked().reply("cv1", "m2", 80).lock("cv1", 100, "a2").resolve("cv1", 130, ("AGENT", "a2")),
        AS_OF, [("a1", 60, 100, "handle", 40), ("a2", 100, 130, "no_reply", 30)],
        id="takeover-after-reply-then-no-reply",
    ),
    pytest.param(
        locked().lock("cv1", 100, "a2").resolve("cv1", 130), AS_OF,
        [("a1", 60, 100, "cherry_pick", 40), ("a2", 100, 130, "cherry_pick", 30)],
        id="taken-over-agent-resolving-is-not-own",
    ),
    # -- maximum length
    pytest.param(locked(), AS_OF, [("a1", 60, None, "cherry_pick", H)], id="expires-at-maximum"),
    pytest.param(locked().reply("cv1", "m2", 60 + H), AS_OF,
                 [("a1", 60, 60 + H, "cherry_pick", H)], id="expiry-before-reply-at-same-instant"),
    pytest.param(locked().reply("cv1", "m2", 60 + H - 0.001), AS_OF,
                 [("a1", 60, None, "handle", H)], id="reply-a-ms-before-expiry"),
    pytest.param(locked().resolve("cv1", 60 + H), AS_OF,
                 [("a1", 60, 60 + H, "cherry_pick", H)],
                 id="expiry-before-own-resolve-at-same-instant"),
    pytest.param(locked().unlock("cv1", 60 + H, "a1"), AS_OF,
                 [("a1", 60, 60 + H, "cherry_pick", H)], id="expiry-before-unlock-at-same-instant"),
    pytest.param(locked().lock("cv1", 60 + H, "a1").unlock("cv1", 60 + H + 10, "a1"), AS_OF,
                 [("a1", 60, 60 + H, "cherry_pick", H),
                  ("a1", 60 + H, 60 + H + 10, "cherry_pick", 10)],
                 id="relock-at-expiry-starts-a-new-session"),
    # -- as_of
    pytest.param(locked(), 60 + H - 0.001, [], id="still-open-at-as-of"),
    pytest.param(locked(), 60 + H, [("a1", 60, None, "cherry_pick", H)],
                 id="expired-exactly-at-as-of"),
    pytest.param(locked().reply("cv1", "m2", 100), 60 + H, [("a1", 60, None, "handle", H)],
                 id="expired-by-as-of-after-reply-handle"),
    pytest.param(locked().unlock("cv1", 200, "a1"), 100, [("a1", 60, 200, "cherry_pick", 140)],
                 id="ending-event-after-as-of-still-ends-it"),
    # -- repeats and stray unlocks
    pytest.param(locked().lock("cv1", 100, "a1").unlock("cv1", 200, "a1"), AS_OF,
                 [("a1", 60, 200, "cherry_pick", 140)], id="repeat-lock-continues"),
    pytest.param(locked().lock("cv1", 7000, "a1"), AS_OF,
                 [("a1", 60, None, "cherry_pick", H)], id="repeat-lock-keeps-the-expiry"),
    pytest.param(
        base().unlock("cv1", 30, "a1").lock("cv1", 60, "a1").unlock("cv1", 80, "a2")
        .unlock("cv1", 100, "a1").unlock("cv1", 120, "a1"), AS_OF,
        [("a1", 60, 100, "cherry_pick", 40)], id="unlock-without-session-ignored",
    ),
    pytest.param(
        locked().lock("cv1", 100, "a2").unlock("cv1", 120, "a1").unlock("cv1", 150, "a2"), AS_OF,
        [("a1", 60, 100, "cherry_pick", 40), ("a2", 100, 150, "cherry_pick", 50)],
        id="unlock-by-taken-over-agent-ignored",
    ),
]  # fmt: skip


def outcomes(log: EventLog, as_of_s: float) -> list[Sess]:
    result = []
    for s in facts(log).sessions:
        outcome = s.outcome_at(ms(as_of_s))
        if outcome is not None:
            kind, duration = outcome
            result.append((s.agent_id, secs(s.start), secs(s.end), kind, duration / 1000))
    return result


@pytest.mark.parametrize(("log", "as_of_s", "expected"), SESSIONS)
def test_lock_sessions(log: EventLog, as_of_s: float, expected: list[Sess]) -> None:
    assert outcomes(log, as_of_s) == expected


def test_session_end_at_follows_as_of() -> None:
    [s] = facts(locked()).sessions
    assert s.end_at(ms(60 + H - 0.001)) is None
    assert s.end_at(ms(60 + H)) == ms(60 + H)
    assert s.expiry == ms(60 + H)


def test_session_team_is_the_starting_lock_events() -> None:
    log = base().lock("cv1", 60, "a1", "T9").lock("cv1", 70, "a1", "T8").unlock("cv1", 80, "a1")
    [s] = facts(log).sessions
    assert (s.agent_id, s.team_id, secs(s.start), secs(s.end)) == ("a1", "T9", 60, 80)


def test_a_shorter_lock_maximum() -> None:
    [s] = facts(locked(), lock_max_ms=600_000).sessions
    assert s.outcome_at(ms(AS_OF)) == ("cherry_pick", 600_000)


def test_outcome_of_a_session_ended_by_an_event_ignores_expiry() -> None:
    session = LockSession("a1", None, start=0, expiry=100, end=50, own_status_end=True)
    assert session.outcome_at(10) == ("no_reply", 50)
    expired = LockSession("a1", None, start=0, expiry=100, own_status_end=True)
    assert expired.outcome_at(100) == ("cherry_pick", 100)


# ---------------------------------------------------------------------------------------
# CSAT status and credit
# ---------------------------------------------------------------------------------------

Credit = tuple[int, str | None, str | None]

CSAT: list[Any] = [
    pytest.param(base(), "NOT_SENT", None, [], id="not-sent"),
    pytest.param(base().csat_sent("cv1", 50, "s1"), "SENT", None, [], id="sent"),
    pytest.param(
        base().resolve("cv1", 40).csat_sent("cv1", 50, "s1").csat_responded("cv1", 60, "s1", 4),
        "COMPLETED", 4, [(4, "a1", None)], id="completed",
    ),
    pytest.param(
        base().csat_sent("cv1", 50, "s1").csat_responded("cv1", 60, "s1", 5)
        .csat_sent("cv1", 70, "s2"),
        "SENT", None, [(5, None, None)], id="latest-survey-unanswered",
    ),
    pytest.param(
        base().csat_sent("cv1", 50, "s1").csat_responded("cv1", 60, "s1", 2)
        .csat_responded("cv1", 70, "s1", 4),
        "COMPLETED", 4, [(2, None, None), (4, None, None)], id="latest-response-wins",
    ),
    pytest.param(
        base().csat_sent("cv1", 50, "s1").csat_responded("cv1", 60, "other", 3),
        "SENT", None, [(3, None, None)], id="response-to-another-survey",
    ),
    pytest.param(
        base().csat_sent("cv1", 70, "s2").csat_sent("cv1", 50, "s1")
        .csat_responded("cv1", 80, "s2", 1),
        "COMPLETED", 1, [(1, None, None)], id="latest-sent-by-time-not-arrival",
    ),
    pytest.param(
        base().resolve("cv1", 100, ("AGENT", "a1"), "T1").queue("cv1", 200, None, "REOPENED")
        .resolve("cv1", 300, ("AGENT", "a2")).csat_sent("cv1", 310, "s1")
        .csat_responded("cv1", 400, "s1", 5),
        "COMPLETED", 5, [(5, "a2", None)], id="credit-latest-resolving-agent",
    ),
    pytest.param(
        base().resolve("cv1", 100, ("AGENT", "a1"), "T1").queue("cv1", 200, None, "REOPENED")
        .resolve("cv1", 300, ("VIRTUAL_AGENT", "va-1")).csat_sent("cv1", 310, "s1")
        .csat_responded("cv1", 400, "s1", 3),
        "COMPLETED", 3, [(3, None, None)], id="no-credit-when-latest-resolution-by-va",
    ),
    pytest.param(
        base().resolve("cv1", 100, ("AGENT", "a1"), "T1").csat_sent("cv1", 150, "s1")
        .csat_responded("cv1", 200, "s1", 2).queue("cv1", 250, None, "REOPENED")
        .resolve("cv1", 300, ("AGENT", "a2")),
        "COMPLETED", 2, [(2, "a1", "T1")], id="credit-resolution-before-the-response",
    ),
    pytest.param(
        base().resolve("cv1", 100, ("AGENT", None)).csat_sent("cv1", 150, "s1")
        .csat_responded("cv1", 200, "s1", 2),
        "COMPLETED", 2, [(2, None, None)], id="no-credit-agent-without-id",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("log", "status", "score", "credits"), CSAT)
def test_csat(log: EventLog, status: str, score: int | None, credits: list[Credit]) -> None:
    f = facts(log)
    assert f.csat_status == status
    completion = f.csat_completion
    assert (None if completion is None else completion.score) == score
    assert [(r.score, r.agent_id, r.team_id) for r in f.csat_responses] == credits


def test_csat_follow_ups_of_the_completion() -> None:
    log = base().csat_sent("cv1", 50, "s1").csat_responded("cv1", 60, "s1", 4, "Why?", "Fast")
    completion = facts(log).csat_completion
    assert completion is not None
    assert (completion.followup_question, completion.followup_answer) == ("Why?", "Fast")


# ---------------------------------------------------------------------------------------
# Topics now, language, counts, created
# ---------------------------------------------------------------------------------------

TOPICS: list[Any] = [
    pytest.param(bare().topic("cv1", "B", 10).topic("cv1", "A", 20), ["B", "A"],
                 id="by-time-of-add"),
    pytest.param(bare().topic("cv1", "B", 10).topic("cv1", "A", 10), ["A", "B"],
                 id="same-time-by-id"),
    pytest.param(bare().topic("cv1", "A", 10).topic("cv1", "B", 20).topic("cv1", "A", 30,
                 removed=True).topic("cv1", "A", 40), ["B", "A"], id="removed-and-re-added"),
    pytest.param(bare().topic("cv1", "A", 10).topic("cv1", "B", 20).topic("cv1", "A", 30),
                 ["B", "A"], id="re-added-while-present-moves-last"),
    pytest.param(bare().topic("cv1", "A", 10).topic("cv1", "A", 20, removed=True), [],
                 id="removed"),
    pytest.param(bare().topic("cv1", "A", 10).topic("cv1", "Z", 20, removed=True), ["A"],
                 id="removing-an-absent-topic"),
    pytest.param(bare().topic("cv1", "A", 30, removed=True).topic("cv1", "A", 20), [],
                 id="removal-after-add-arriving-first"),
]  # fmt: skip


@pytest.mark.parametrize(("log", "expected"), TOPICS)
def test_topics_now(log: EventLog, expected: list[str]) -> None:
    assert facts(log).topic_ids == expected


def test_topic_applications_and_removals_are_all_recorded() -> None:
    log = bare().topic("cv1", "A", 10, ("AGENT", "a1"), "T1").topic("cv1", "A", 20, removed=True)
    f = facts(log)
    assert [(a.target_id, a.actor_id, a.team_id) for a in f.topics_added] == [("A", "a1", "T1")]
    assert [a.target_id for a in f.labels_removed] == ["A"]


LANGUAGES: list[Any] = [
    pytest.param(bare(), "en", id="from-created"),
    pytest.param(EventLog().created("cv1", 0, language=None), None, id="created-without"),
    pytest.param(bare().language("cv1", 10, "es"), "es", id="language-set"),
    pytest.param(bare().language("cv1", 20, "fr").language("cv1", 10, "es"), "fr",
                 id="latest-set-by-time"),
    pytest.param(EventLog().language("cv1", -5, "es").created("cv1", 0), "en",
                 id="created-later-than-set"),
]  # fmt: skip


@pytest.mark.parametrize(("log", "expected"), LANGUAGES)
def test_language(log: EventLog, expected: str | None) -> None:
    assert facts(log).language == expected


def test_message_counts_include_every_sender_kind_once_per_message() -> None:
    log = (
        base()
        .va("cv1", "v1", 20)
        .message("cv1", "s1", 25, "OUTBOUND", ("SYSTEM", None))
        .reply("cv1", "m2", 30)
        .inbound("cv1", "m1", 40)  # a repeated creation of m1 (new event id): ignored
        .message("cv1", "m3", 50, "INBOUND", ("CONTACT", "c1"))
    )
    f = facts(log)
    assert (f.inbound_count, f.outbound_count) == (2, 3)
    assert secs(f.first_inbound_t) == 10


def test_repeated_conversation_created_first_one_stands() -> None:
    log = bare().created("cv1", 50, channel="ch-2", contact="c9", language="de")
    f = facts(log)
    assert (f.channel_id, f.contact_profile_id, secs(f.created_t), f.language) == (
        "ch-1",
        "c1",
        0,
        "en",
    )


def test_message_updates_and_deletions_are_not_in_the_conversation_log() -> None:
    log = base().updated("cv1", "m1", 20, "x").deleted("cv1", "m1", 30)
    assert [log_entry(e) for e in log.events[-2:]] == [None, None]


def test_fold_is_independent_of_entry_order() -> None:
    log = (
        base()
        .lock("cv1", 60, "a1")
        .reply("cv1", "m2", 100)
        .resolve("cv1", 200)
        .topic("cv1", "A", 210)
        .csat_sent("cv1", 220, "s1")
        .csat_responded("cv1", 230, "s1", 5)
    )
    entries = [e for e in (log_entry(ev) for ev in log.events) if e is not None]
    reference = facts(log)
    rng = random.Random(7)
    for _ in range(20):
        rng.shuffle(entries)
        assert fold("cv1", list(entries), LOCK_MAX_MS) == reference


# ---------------------------------------------------------------------------------------
# Property: arrival order and duplicates do not change the stores
# ---------------------------------------------------------------------------------------


def valid_unique(lines: list[bytes]) -> list[tuple[int, str, bytes]]:
    """(occurred_at ms, event_id, line) of each valid event once, in event order."""
    seen: dict[str, tuple[int, str, bytes]] = {}
    for line in lines:
        try:
            event = parse_event(line)
        except InvalidEvent:
            continue
        seen.setdefault(event.event_id, (event.occurred_at_ms, event.event_id, line))
    return sorted(seen.values())


def snapshot(stores: Stores, names: tuple[str, ...]) -> dict[str, dict[bytes, Any]]:
    """The stores' decoded contents without arrival bookkeeping: a message's ``seen`` event
    ids are sorted, a conversation is its whole log, its buckets each conversation's
    contribution (how a log is cut into segments depends on arrival by design)."""
    result: dict[str, Any] = {}
    for name in names:
        if name == "segments":
            continue
        if name == "activity":
            result[name] = per_conversation(stores.activity)
            continue
        decoded = {k: orjson.loads(v) for k, v in getattr(stores, name).items()}
        if name == "messages":
            for record in decoded.values():
                record["seen"] = sorted(record["seen"])
        if name == "conversations":
            decoded = {
                k: conversation_log(stores.conversations, stores.segments, k.decode())
                for k in decoded
            }
        result[name] = decoded
    return result


NON_PRESENCE = tuple(f.name for f in fields(Stores) if f.name not in ("presence", "presence_days"))


@pytest.mark.parametrize("seed", range(30))
def test_any_arrival_order_with_duplicates_gives_the_same_stores(seed: int) -> None:
    events = valid_unique(list(simulate(SimulationConfig(seed=seed, days=1, conversations=20))))
    reference, _ = ingest([line for _t, _id, line in events])
    rng = random.Random(seed)
    lines = [line for _t, _id, line in events]
    lines += rng.sample(lines, k=len(lines) // 5)  # duplicates
    rng.shuffle(lines)
    shuffled, _ = ingest(lines)
    assert snapshot(shuffled, NON_PRESENCE) == snapshot(reference, NON_PRESENCE)
