"""Tests of the traffic simulator: contract conformance, consistency, noise, determinism, CLI."""

from __future__ import annotations

import collections
import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from streamproc.events import InvalidEvent, parse_event
from streamproc.testing.simulate import (
    EVENT_TYPES,
    SimulationConfig,
    simulate,
    simulate_command,
    write_jsonl,
)

# ---------------------------------------------------------------------------
# An independent reading of docs/events.md: every listed field, its JSON type.
#   "s" non-empty string, "s?" string or null, "o" optional key (string or null when present),
#   a tuple = enum, "sender"/"change"/"status" = actor objects, "score" = integer 1..5.
# ---------------------------------------------------------------------------

SENDER_KINDS = ("CONTACT", "AGENT", "VIRTUAL_AGENT", "SYSTEM")
CHANGE_KINDS = ("AGENT", "VIRTUAL_AGENT", "SYSTEM")
STATUS_KINDS = ("AGENT", "VIRTUAL_AGENT", "BULK", "SYSTEM")
TAG = {"message_id": "s", "conversation_id": "s", "tag_id": "s", "actor": "change", "team_id": "s?"}
TOPIC = {"conversation_id": "s", "topic_id": "s", "actor": "change", "team_id": "s?"}
CONTRACT: dict[str, dict[str, Any]] = {
    "message.created": {
        "message_id": "s", "conversation_id": "s", "direction": ("INBOUND", "OUTBOUND"),
        "sender": "sender", "team_id": "s?", "message_type": "s", "origin": "s",
        "outbound_type": "s?", "system_user_type": "s?", "content": "s?", "post_url": "s?",
    },
    "message.updated": {"message_id": "s", "conversation_id": "s", "content": "o"},
    "message.deleted": {"message_id": "s", "conversation_id": "s"},
    "message.tag_added": TAG,
    "message.tag_removed": TAG,
    "conversation.locked": {"conversation_id": "s", "agent_id": "s", "team_id": "s?"},
    "conversation.unlocked": {"conversation_id": "s", "agent_id": "s"},
    "conversation.created": {
        "conversation_id": "s", "channel_id": "s", "contact_profile_id": "s", "url": "s",
        "language": "s?",
    },
    "conversation.status_changed": {
        "conversation_id": "s", "status": ("NEW", "PENDING", "RESOLVED"), "actor": "status",
        "team_id": "s?",
    },
    "conversation.topic_added": TOPIC,
    "conversation.topic_removed": TOPIC,
    "conversation.language_set": {"conversation_id": "s", "language": "s"},
    "csat.sent": {"conversation_id": "s", "survey_id": "s"},
    "csat.responded": {
        "conversation_id": "s", "survey_id": "s", "score": "score", "followup_question": "s?",
        "followup_answer": "s?",
    },
    "agent.presence_changed": {
        "agent_id": "s", "presence": ("AVAILABLE", "AWAY", "OFFLINE"), "away_status": "s?",
    },
    "agent.upserted": {
        "agent_id": "s", "name": "s", "email": "s", "reference": "s", "team_id": "s?",
    },
    "team.upserted": {"team_id": "s", "name": "s"},
    "virtual_agent.upserted": {"virtual_agent_id": "s", "name": "s"},
    "channel.upserted": {"channel_id": "s", "medium": "s", "name": "s", "display_name": "s"},
    "contact.upserted": {
        "contact_profile_id": "s", "medium": "s", "primary_identifier": "s",
        "secondary_identifier": "s?",
    },
    "contact.attribute_set": {
        "contact_profile_id": "s", "attribute_id": "s", "name": "s", "value": "s?",
        "attribute_type": "s",
    },
    "topic.upserted": {"topic_id": "s", "name": "s"},
    "topic.deleted": {"topic_id": "s"},
    "tag.upserted": {"tag_id": "s", "name": "s"},
    "tag.deleted": {"tag_id": "s"},
}  # fmt: skip
STATUS_EXTRA = {
    "NEW": {
        "started_by": (
            "NEW_INBOUND_MESSAGE", "REOPENED", "VA_HANDED_OVER_CONVERSATION", "TRANSFERRED",
            "MANUAL",
        ),
        "inbound_message_id": "s?",
        "handover_reason": "s?",
    },
    "PENDING": {},
    "RESOLVED": {
        "resolve_reason": "s?", "resolve_comment": "s?",
        "resolve_trigger": ("HUMAN_AGENT", "VIRTUAL_AGENT", "AUTOMATION", "AUTO_RESOLVE"),
    },
}  # fmt: skip
ACTOR_KINDS = {"sender": SENDER_KINDS, "change": CHANGE_KINDS, "status": STATUS_KINDS}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)")


def _check_value(rule: Any, value: Any) -> str | None:
    """None when ``value`` satisfies ``rule``, else what is wrong."""
    if isinstance(rule, tuple):
        return None if value in rule else f"{value!r} not in {rule}"
    if rule == "s":
        return None if isinstance(value, str) and value else f"{value!r} is not a non-empty string"
    if rule in ("s?", "o"):
        return None if value is None or isinstance(value, str) else f"{value!r} is not str|null"
    if rule == "score":
        ok = type(value) is int and 1 <= value <= 5
        return None if ok else f"{value!r} is not an integer 1..5"
    if not isinstance(value, dict) or set(value) != {"kind", "id"}:
        return f"{value!r} is not an actor object"
    if value["kind"] not in ACTOR_KINDS[rule]:
        return f"actor kind {value['kind']!r}"
    return None if value["id"] is None or isinstance(value["id"], str) else "actor id"


def contract_errors(raw: bytes) -> list[str]:
    """Violations of docs/events.md (stricter: every listed non-optional key must be present)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ["not JSON"]
    if not isinstance(obj, dict):
        return ["not an object"]
    errors = []
    event_id = obj.get("event_id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 128:
        errors.append("event_id")
    if obj.get("type") not in CONTRACT:
        return [*errors, f"type {obj.get('type')!r}"]
    stamp = obj.get("occurred_at")
    if not isinstance(stamp, str) or not TIMESTAMP.fullmatch(stamp):
        errors.append(f"occurred_at {stamp!r}")
    else:
        try:
            datetime.fromisoformat(stamp)
        except ValueError:
            errors.append(f"occurred_at {stamp!r}")
    if "v" in obj and (type(obj["v"]) is not int or obj["v"] != 1):
        errors.append("v")
    rules = dict(CONTRACT[obj["type"]])
    if obj["type"] == "conversation.status_changed" and obj.get("status") in STATUS_EXTRA:
        rules.update(STATUS_EXTRA[obj["status"]])
    for name, rule in rules.items():
        if name not in obj:
            if rule != "o":
                errors.append(f"missing {name}")
            continue
        problem = _check_value(rule, obj[name])
        if problem:
            errors.append(f"{name}: {problem}")
    return errors


def occurred_ms(obj: dict[str, Any]) -> int:
    moment = datetime.fromisoformat(obj["occurred_at"])
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


# ---------------------------------------------------------------------------
# Runs, parsed once per config
# ---------------------------------------------------------------------------


@dataclass
class Run:
    lines: list[bytes]
    valid: list[dict[str, Any]] = field(default_factory=list)  # unique, in arrival order
    valid_lines: list[bytes] = field(default_factory=list)
    duplicates: list[bytes] = field(default_factory=list)
    malformed: list[bytes] = field(default_factory=list)

    def by_time(self) -> list[dict[str, Any]]:
        return sorted(self.valid, key=lambda e: (occurred_ms(e), e["event_id"]))

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.by_time() if e["type"] in types]


@cache
def run(**kwargs: Any) -> Run:
    result = Run(list(simulate(SimulationConfig(**kwargs))))
    first_line: dict[str, bytes] = {}
    for line in result.lines:
        if contract_errors(line):
            result.malformed.append(line)
            continue
        obj = orjson.loads(line)
        if obj["event_id"] in first_line:
            assert first_line[obj["event_id"]] == line, "a re-delivery must be a byte copy"
            result.duplicates.append(line)
        else:
            first_line[obj["event_id"]] = line
            result.valid.append(obj)
            result.valid_lines.append(line)
    return result


SEEDS = range(6)

# ---------------------------------------------------------------------------
# Contract and consistency
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_one_day_default_run_has_every_event_type(seed: int) -> None:
    counts = collections.Counter(e["type"] for e in run(seed=seed).valid)
    assert set(counts) == set(CONTRACT) == set(EVENT_TYPES), set(CONTRACT) - set(counts)


def test_valid_lines_follow_the_contract_and_ids_are_unique() -> None:
    r = run(seed=1, days=2)
    ids = [e["event_id"] for e in r.valid]
    assert len(ids) == len(set(ids))
    assert len(r.valid) > 5000
    assert all(len(line) < 4000 and b"\n" not in line for line in r.lines)
    stamps = [e["occurred_at"] for e in r.valid]
    assert sum(s.endswith("Z") for s in stamps) > 0.95 * len(stamps)
    assert any(not s.endswith("Z") for s in stamps), "a few timestamps carry an offset"
    assert any("v" in e for e in r.valid) and any("v" not in e for e in r.valid)
    assert any("producer" in e for e in r.valid), "some carry unknown extra fields"


def test_malformed_lines_never_reuse_a_valid_event_id() -> None:
    r = run(seed=3, days=2, malformed=0.05)
    valid_ids = {e["event_id"] for e in r.valid}
    assert len(r.malformed) > 100
    for line in r.malformed:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            assert obj.get("event_id") not in valid_ids
        assert line not in r.valid_lines


@dataclass
class Conversation:
    created: int
    messages: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (direction, t)
    deleted: set[str] = field(default_factory=set)
    tags: dict[str, set[str]] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)
    surveys: set[str] = field(default_factory=set)
    resolved: bool = False


@pytest.mark.parametrize("seed", [1, 2])
def test_references_exist_before_use_and_conversations_are_causal(seed: int) -> None:
    r = run(seed=seed, days=2)
    known: dict[str, set[str]] = collections.defaultdict(set)
    active: dict[str, set[str]] = {"topic": set(), "tag": set()}
    convs: dict[str, Conversation] = {}
    last_t: dict[str, int] = {}
    for e in r.by_time():
        t, typ = occurred_ms(e), e["type"]
        kind = typ.split(".")[0]
        if kind in ("agent", "team", "virtual_agent", "channel", "contact", "topic", "tag"):
            if typ == "agent.presence_changed":
                assert e["agent_id"] in known["agent"]
            elif typ.endswith(".deleted"):
                assert e[f"{kind}_id"] in active[kind]
                active[kind].discard(e[f"{kind}_id"])
            else:
                if typ == "contact.attribute_set":
                    assert e["contact_profile_id"] in known["contact"]
                    continue
                ident = e["contact_profile_id"] if kind == "contact" else e[f"{kind}_id"]
                known[kind].add(ident)
                active.setdefault(kind, set()).add(ident)
            if typ == "agent.upserted" and e["team_id"] is not None:
                assert e["team_id"] in known["team"]
            continue
        cid = e["conversation_id"]
        if typ == "conversation.created":
            assert cid not in convs
            assert e["channel_id"] in known["channel"]
            assert e["contact_profile_id"] in known["contact"]
            convs[cid] = Conversation(t)
            last_t[cid] = t
            continue
        c = convs[cid]
        assert t > c.created, (typ, cid)
        assert t > last_t[cid], "a conversation's events are strictly ordered in time"
        last_t[cid] = t
        for key in ("agent_id",):
            if key in e:
                assert e[key] in known["agent"]
        if e.get("team_id") is not None:
            assert e["team_id"] in known["team"]
        for key in ("sender", "actor"):
            actor = e.get(key)
            if actor and actor["id"] is not None:
                pool = {
                    "AGENT": "agent",
                    "BULK": "agent",
                    "VIRTUAL_AGENT": "virtual_agent",
                    "CONTACT": "contact",
                }[actor["kind"]]
                assert actor["id"] in known[pool]
        if typ == "message.created":
            assert e["message_id"] not in c.messages
            c.messages[e["message_id"]] = (e["direction"], t)
            assert (e["sender"]["kind"] == "CONTACT") == (e["direction"] == "INBOUND")
            if e["sender"]["kind"] == "CONTACT":
                assert e["outbound_type"] is None and e["team_id"] is None
            if e["message_type"] in ("PUBLIC_REPLY", "COMMENT", "MENTION"):
                assert e["post_url"]
        elif typ.startswith("message."):
            assert e["message_id"] in c.messages and e["message_id"] not in c.deleted
            if typ == "message.deleted":
                c.deleted.add(e["message_id"])
            tags = c.tags.setdefault(e["message_id"], set())
            if typ == "message.tag_added":
                assert e["tag_id"] in active["tag"] and e["tag_id"] not in tags
                tags.add(e["tag_id"])
            elif typ == "message.tag_removed":
                tags.remove(e["tag_id"])
        elif typ == "conversation.topic_added":
            assert e["topic_id"] in active["topic"] and e["topic_id"] not in c.topics
            c.topics.add(e["topic_id"])
        elif typ == "conversation.topic_removed":
            c.topics.remove(e["topic_id"])
        elif typ == "conversation.status_changed":
            if e["status"] == "NEW" and e["inbound_message_id"] is not None:
                assert c.messages[e["inbound_message_id"]][0] == "INBOUND"
            if e["status"] == "NEW" and e["started_by"] == "VA_HANDED_OVER_CONVERSATION":
                assert e["actor"]["kind"] == "VIRTUAL_AGENT" and e["handover_reason"]
            c.resolved = e["status"] == "RESOLVED"
        elif typ == "csat.sent":
            assert c.resolved
            c.surveys.add(e["survey_id"])
        elif typ == "csat.responded":
            assert e["survey_id"] in c.surveys
    assert len(convs) == 2 * 200


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


def _lock_sessions(r: Run) -> list[tuple[str, str, int, int | None, str]]:
    """(conversation, agent, start, end, how it ended) per lock session, in event time."""
    open_: dict[str, tuple[str, int]] = {}
    sessions: list[tuple[str, str, int, int | None, str]] = []
    for e in r.of_type(
        "conversation.locked", "conversation.unlocked", "conversation.status_changed"
    ):
        cid, t = e["conversation_id"], occurred_ms(e)
        held = open_.get(cid)
        if e["type"] == "conversation.locked":
            if held and held[0] == e["agent_id"]:
                sessions.append((cid, held[0], held[1], None, "repeat"))
                continue
            if held:
                sessions.append((cid, held[0], held[1], t, "taken_over"))
            open_[cid] = (e["agent_id"], t)
        elif held:
            sessions.append((cid, held[0], held[1], t, e["type"]))
            del open_[cid]
    return sessions


@pytest.mark.parametrize("seed", SEEDS)
def test_one_day_run_covers_the_metric_scenarios(seed: int) -> None:
    r = run(seed=seed)
    status = r.of_type("conversation.status_changed")
    new = collections.Counter(e["started_by"] for e in status if e["status"] == "NEW")
    assert set(new) == set(STATUS_EXTRA["NEW"]["started_by"])
    assert any(e.get("handover_reason") == "ERROR" for e in status)
    assert any(e.get("handover_reason") not in (None, "ERROR") for e in status)
    resolved = [e for e in status if e["status"] == "RESOLVED"]
    assert {e["actor"]["kind"] for e in resolved} == set(STATUS_KINDS)
    assert {e["resolve_trigger"] for e in resolved} == set(
        STATUS_EXTRA["RESOLVED"]["resolve_trigger"]
    )
    assert any(e["resolve_reason"] for e in resolved) and any(
        e["resolve_comment"] for e in resolved
    )
    per_conv = collections.Counter(e["conversation_id"] for e in resolved)
    assert max(per_conv.values()) >= 2, "a conversation resolved several times"

    sessions = _lock_sessions(r)
    ends = collections.Counter(s[4] for s in sessions)
    assert ends["taken_over"] and ends["repeat"] and ends["conversation.unlocked"]
    lock_max = 7200 * 1000
    others = r.of_type(
        "conversation.locked", "conversation.unlocked", "conversation.status_changed"
    )
    expired = 0
    for cid, _agent, start, _end, _how in sessions:
        later = [
            occurred_ms(e) for e in others if e["conversation_id"] == cid and occurred_ms(e) > start
        ]
        if later and min(later) > start + lock_max:
            expired += 1
    assert expired, "a lock that just expires"
    assert any(e["team_id"] is None for e in r.of_type("conversation.locked"))

    messages = r.of_type("message.created")
    assert {m["sender"]["kind"] for m in messages} == set(SENDER_KINDS)
    assert {m["outbound_type"] for m in messages} >= {"REPLY", "PROACTIVE", "AUTOMATED_RESPONSE"}
    assert {m["message_type"] for m in messages} == {
        "DIRECT_MESSAGE",
        "PUBLIC_REPLY",
        "COMMENT",
        "MENTION",
    }
    assert {m["origin"] for m in messages} == {"INBOX", "NATIVE", "API", "AUTOMATION"}
    assert any(m["system_user_type"] for m in messages)
    # A tag removed from a message and added again.
    history = collections.defaultdict(list)
    for e in r.of_type("message.tag_added", "message.tag_removed"):
        history[(e["message_id"], e["tag_id"])].append(e["type"])
    assert any(
        h[:3] == ["message.tag_added", "message.tag_removed", "message.tag_added"]
        for h in history.values()
    )
    assert {e["actor"]["kind"] for e in r.of_type("message.tag_added")} == set(CHANGE_KINDS)
    # Directory life: renames, deletion of a topic and a tag, a tag coming back, a new agent.
    assert r.of_type("topic.deleted") and r.of_type("tag.deleted")
    deleted_tag = r.of_type("tag.deleted")[0]["tag_id"]
    assert any(
        e["tag_id"] == deleted_tag and occurred_ms(e) > occurred_ms(r.of_type("tag.deleted")[0])
        for e in r.of_type("tag.upserted")
    )
    agents = collections.Counter(e["agent_id"] for e in r.of_type("agent.upserted"))
    assert max(agents.values()) >= 2 and len(agents) == 13
    assert any(e["team_id"] is None for e in r.of_type("agent.upserted"))
    teams = collections.Counter(e["team_id"] for e in r.of_type("team.upserted"))
    assert max(teams.values()) >= 2
    # Contacts: attributes of every type, null values, re-set ones.
    attrs = r.of_type("contact.attribute_set")
    assert {a["attribute_type"] for a in attrs} == {"TEXT", "NUMBER", "DATE", "BOOLEAN"}
    assert any(a["value"] is None for a in attrs)
    assert (
        max(
            collections.Counter(
                (a["contact_profile_id"], a["attribute_id"]) for a in attrs
            ).values()
        )
        >= 2
    )
    # CSAT with and without follow-ups; conversations with a null language.
    answers = r.of_type("csat.responded")
    assert any(a["followup_question"] is None for a in answers)
    assert any(a["followup_answer"] for a in answers)
    assert any(c["language"] is None for c in r.of_type("conversation.created"))
    updates = r.of_type("message.updated")
    assert any("content" in u for u in updates) and any("content" not in u for u in updates)


def test_conversations_stay_open_and_agents_stay_available_at_the_end() -> None:
    r = run(seed=4)
    last_status: dict[str, str] = {}
    for e in r.of_type("conversation.status_changed"):
        last_status[e["conversation_id"]] = e["status"]
    assert {"NEW", "PENDING", "RESOLVED"} <= set(last_status.values())
    last_presence: dict[str, str] = {}
    for e in r.of_type("agent.presence_changed"):
        last_presence[e["agent_id"]] = e["presence"]
    assert "AVAILABLE" in last_presence.values() and "OFFLINE" in last_presence.values()


def test_presence_shifts_cross_midnight_and_use_away_statuses() -> None:
    r = run(seed=5, days=2)
    by_agent: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for e in r.of_type("agent.presence_changed"):
        by_agent[e["agent_id"]].append(e)
    crossing = 0
    for events in by_agent.values():
        assert events[0]["presence"] == "AVAILABLE"
        for a, b in itertools.pairwise(events):
            assert a["presence"] != "OFFLINE" or b["presence"] == "AVAILABLE", "shifts start"
            assert (a["away_status"] is not None) == (a["presence"] == "AWAY")
            start, end = occurred_ms(a), occurred_ms(b)
            if a["presence"] != "OFFLINE" and start // 86_400_000 != end // 86_400_000:
                crossing += 1
    assert crossing
    away = {e["away_status"] for events in by_agent.values() for e in events} - {None}
    assert {"Lunch", "Break"} <= away and len(away) >= 3


# ---------------------------------------------------------------------------
# Noise: arrival order, duplicates, malformed lines
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "shuffle"), [(1, 300), (2, 0), (3, 3600)])
def test_no_line_arrives_more_than_shuffle_seconds_after_a_later_event(
    seed: int, shuffle: int
) -> None:
    """Guarantee: for every line, max(occurred_at of the lines before it) - its occurred_at
    <= shuffle_seconds (a watermark with that lateness never drops anything)."""
    r = run(seed=seed, shuffle_seconds=shuffle)
    high = None
    worst = 0
    for line in r.lines:
        if line in r.malformed:
            continue
        t = occurred_ms(orjson.loads(line))
        if high is not None:
            worst = max(worst, high - t)
        high = t if high is None else max(high, t)
    assert worst <= shuffle * 1000
    if shuffle:
        assert worst > shuffle * 1000 / 10, "the stream really is out of order"
    else:
        assert worst == 0


def test_duplicate_and_malformed_rates_are_roughly_as_configured() -> None:
    r = run(seed=7, days=3, conversations=400, duplicates=0.1, malformed=0.03)
    n = len(r.valid)
    assert n > 15_000
    assert 0.085 < len(r.duplicates) / n < 0.115
    assert 0.024 < len(r.malformed) / n < 0.036
    position: dict[bytes, int] = {}
    for i, line in enumerate(r.lines):
        position.setdefault(line, i)
    later = [r.lines.index(d, position[d] + 1) - position[d] for d in r.duplicates[:200]]
    assert all(gap > 0 for gap in later)
    kinds = set()
    for line in r.malformed:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            kinds.add("not json")
            continue
        kinds.add(type(obj).__name__)
    assert {"not json", "dict", "list", "int", "NoneType"} <= kinds


def test_noise_does_not_change_the_valid_events() -> None:
    noisy = run(seed=11)
    clean = run(seed=11, duplicates=0.0, malformed=0.0, shuffle_seconds=0)
    assert not clean.duplicates and not clean.malformed
    assert sorted(noisy.valid_lines) == sorted(clean.valid_lines)
    assert clean.lines == sorted(clean.lines, key=lambda x: occurred_ms(orjson.loads(x)))


# ---------------------------------------------------------------------------
# Determinism, configuration, API
# ---------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    config = SimulationConfig(seed=42, days=2, conversations=150)
    first = b"\n".join(simulate(config))
    assert first == b"\n".join(simulate(SimulationConfig(seed=42, days=2, conversations=150)))
    assert first != b"\n".join(simulate(SimulationConfig(seed=43, days=2, conversations=150)))


def test_start_may_be_any_aware_time() -> None:
    start = datetime(2026, 3, 29, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    r = run(seed=1, start=start, conversations=60)
    first = min(occurred_ms(e) for e in r.valid)
    last = max(occurred_ms(e) for e in r.valid)
    start_ms = int(start.timestamp() * 1000)
    assert start_ms < first and last < start_ms + 86_400_000
    assert len(r.of_type("conversation.created")) == 60


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"duplicates": 1.0}, r"duplicates must be a probability in \[0, 1\)"),
        ({"duplicates": -0.1}, "duplicates"),
        ({"duplicates": float("nan")}, "duplicates"),
        ({"malformed": 1}, r"malformed must be a probability in \[0, 1\)"),
        ({"days": 0}, r"days must be an integer in \[1, 3660\]"),
        ({"conversations": 0}, "conversations"),
        ({"shuffle_seconds": -1}, "shuffle_seconds"),
        ({"start": datetime(2026, 11, 2)}, "timezone-aware"),  # noqa: DTZ001
        ({"agents": 1}, "agents"),
        ({"teams": 0}, "teams"),
        ({"agents": 3, "teams": 4}, r"teams must be an integer in \[1, 3\]"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"lock_max_seconds": 10}, "lock_max_seconds"),
    ],
)
def test_config_validation(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**{"seed": 1, **changes})


def test_write_jsonl_summary_matches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    config = SimulationConfig(seed=9, conversations=80, malformed=0.02)
    summary = write_jsonl(config, path)
    data = path.read_bytes()
    assert data.endswith(b"\n") and data == b"\n".join(simulate(config)) + b"\n"
    r = run(seed=9, conversations=80, malformed=0.02)
    assert summary.lines == len(r.lines)
    assert summary.duplicates == len(r.duplicates) and summary.malformed == len(r.malformed)
    assert summary.counts == {t: sum(e["type"] == t for e in r.valid) for t in EVENT_TYPES}
    times = sorted(occurred_ms(e) for e in r.valid)
    assert summary.first_occurred_at is not None and summary.last_occurred_at is not None
    assert int(summary.first_occurred_at.timestamp() * 1000) == times[0]
    assert int(summary.last_occurred_at.timestamp() * 1000) == times[-1]
    assert "message.created" in summary.format_table()


def test_events_module_accepts_every_valid_line_and_rejects_every_malformed_one() -> None:
    r = run(seed=1, malformed=0.1)
    assert len(r.malformed) > 200
    for line in r.valid_lines + r.duplicates:
        event = parse_event(line)
        assert event.type in EVENT_TYPES
    for line in r.malformed:
        with pytest.raises(InvalidEvent):
            parse_event(line)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def test_command_writes_the_file_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(
        simulate_command,
        ["--seed", "1", "--conversations", "50", "--start", "2026-11-20", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().splitlines()
    assert lines == list(
        simulate(
            SimulationConfig(seed=1, conversations=50, start=datetime(2026, 11, 20, tzinfo=UTC))
        )
    )
    assert "total lines" in result.stderr and f"{len(lines):,}" in result.stderr
    assert result.stdout == ""


def test_command_writes_to_stdout_with_dash() -> None:
    result = CliRunner().invoke(
        simulate_command,
        [
            "--seed",
            "2",
            "--conversations",
            "30",
            "--start",
            "2026-11-02T08:00:00+01:00",
            "--out",
            "-",
        ],
    )
    assert result.exit_code == 0, result.output
    start = datetime(2026, 11, 2, 8, tzinfo=timezone(timedelta(hours=1)))
    expected = b"\n".join(simulate(SimulationConfig(seed=2, conversations=30, start=start)))
    assert result.stdout_bytes == expected + b"\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duplicates", "1.5"], r"duplicates must be a probability in [0, 1)"),
        (["--malformed", "-0.1"], "'--malformed'"),
        (["--days", "0"], r"[1, 3660]"),
        (["--shuffle-seconds", "-5"], "'--shuffle-seconds'"),
        (["--start", "2026-11-02T10:00:00"], "RFC 3339 datetime with Z or an offset"),
        (["--start", "tomorrow"], "'--start'"),
        (["--seed", "-3"], "'--seed'"),
        (["--teams", "20", "--agents", "5"], r"[1, 5]"),
    ],
)
def test_command_rejects_bad_values(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "events.jsonl"
    base = {"--seed": "1", "--out": str(out)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [x for pair in base.items() for x in pair]
    result = CliRunner().invoke(simulate_command, argv)
    assert result.exit_code == 2
    assert "Invalid value" in result.output and message in result.output
    assert not out.exists()


def test_command_reports_an_unwritable_output(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "events.jsonl"
    result = CliRunner().invoke(simulate_command, ["--seed", "1", "--out", str(out)])
    assert result.exit_code == 1 and "missing" in result.output
    assert "Traceback" not in result.output


def test_command_requires_seed_and_out() -> None:
    result = CliRunner().invoke(simulate_command, ["--out", "-"])
    assert result.exit_code == 2 and "--seed" in result.output
    result = CliRunner().invoke(simulate_command, ["--seed", "1"])
    assert result.exit_code == 2 and "--out" in result.output
