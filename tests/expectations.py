"""What the state tables must hold after a given event file, computed from the file alone."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import orjson

from streamproc.changelog import read_table
from streamproc.events import Event, InvalidEvent, PresenceChanged, parse_event
from streamproc.settings import Settings
from streamproc.state import WRITTEN, conversation_log
from streamproc.topics import consumer_lag

LOGGED_TYPES = {
    "conversation.created", "conversation.status_changed", "conversation.locked",
    "conversation.unlocked", "conversation.topic_added", "conversation.topic_removed",
    "conversation.language_set", "csat.sent", "csat.responded", "message.created",
    "message.tag_added", "message.tag_removed",
}  # fmt: skip
DIRECTORY_KIND = {
    "agent.upserted": "agent", "team.upserted": "team", "virtual_agent.upserted":
    "virtual_agent", "channel.upserted": "channel", "contact.upserted": "contact",
    "topic.upserted": "topic", "topic.deleted": "topic", "tag.upserted": "tag",
    "tag.deleted": "tag",
}  # fmt: skip


class Expected:
    """What a correct worker must end with, computed from the event file alone."""

    def __init__(self, lines: list[bytes]) -> None:
        self.log_ids: dict[bytes, set[str]] = defaultdict(set)
        self.message_ids: dict[bytes, set[str]] = defaultdict(set)
        self.presence: dict[str, list[tuple[int, str, str, str | None]]] = defaultdict(list)
        self.upsert_stamp: dict[bytes, list] = {}
        self.invalid_lines: list[bytes] = []
        self.last_event_by_key: dict[str, tuple[Event, bytes]] = {}
        self.unique = 0
        seen: set[str] = set()
        for line in lines:
            try:
                event = parse_event(line)
            except InvalidEvent:
                self.invalid_lines.append(line)
                continue
            latest = self.last_event_by_key.get(event.key)
            if latest is None or event.occurred_at >= latest[0].occurred_at:
                self.last_event_by_key[event.key] = (event, line)
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
            self.unique += 1
            self._expect(event)

    def _expect(self, event: Event) -> None:
        ms = event.occurred_at_ms
        if event.type in LOGGED_TYPES:
            self.log_ids[event.key.encode()].add(event.event_id)
        if event.type.startswith("message."):
            self.message_ids[event.message_id.encode()].add(event.event_id)  # type: ignore[attr-defined]
        if isinstance(event, PresenceChanged):
            self.presence[event.agent_id].append(
                (ms, event.event_id, event.presence, event.away_status)
            )
        kind = DIRECTORY_KIND.get(event.type)
        if kind is not None and not event.type.endswith(".deleted"):
            key = f"{kind}|{event.key}".encode()
            self.upsert_stamp[key] = max(self.upsert_stamp.get(key, [0, ""]), [ms, event.event_id])
        elif kind is not None:
            self.upsert_stamp.setdefault(f"{kind}|{event.key}".encode(), None)  # type: ignore[arg-type]

    def intervals(self) -> set[tuple]:
        """AVAILABLE/AWAY intervals: each such change until the agent's next change."""
        result = set()
        for agent, changes in self.presence.items():
            ordered = sorted(changes)
            for i, (t, _eid, presence, away) in enumerate(ordered):
                if presence != "OFFLINE":
                    end = ordered[i + 1][0] if i + 1 < len(ordered) else None
                    result.add((agent, t, end, presence, away))
        return result


def caught_up(settings: Settings) -> bool:
    lag = asyncio.run(consumer_lag(settings, settings.app_id, list(settings.consumed_topics)))
    return lag == 0


def snapshot(settings: Settings) -> dict[str, dict[bytes, bytes]]:
    names = ("conversations", "segments", "messages", "presence", "presence_days", "directory")
    return {name: asyncio.run(read_table(settings, name)) for name in names}


def without_write_stamps(state: dict[str, dict[bytes, bytes]]) -> dict[str, Any]:
    """``state`` with each segment's write stamp set aside: a re-delivered event re-writes
    the segments it touches (re-assertion) with a new stamp and nothing else."""
    segments = {k: {**orjson.loads(v), WRITTEN: None} for k, v in state["segments"].items()}
    return {**state, "segments": segments}


def mismatches(state: dict[str, dict[bytes, bytes]], expected: Expected) -> list[str]:
    """Differences between the tables and the expectation (empty when they agree)."""
    problems = []
    logs = {
        k: {
            e.event_id
            for e in conversation_log(state["conversations"], state["segments"], k.decode())
        }
        for k in state["conversations"]
    }
    if logs != expected.log_ids:
        bad = [k for k in expected.log_ids if logs.get(k) != expected.log_ids[k]]
        problems.append(f"conversation logs differ for {len(bad)} keys, e.g. {bad[:3]}")
    messages = {k: set(orjson.loads(v)["seen"]) for k, v in state["messages"].items()}
    if messages != expected.message_ids:
        bad = [k for k in expected.message_ids if messages.get(k) != expected.message_ids[k]]
        problems.append(f"message states differ for {len(bad)} keys, e.g. {bad[:3]}")
    intervals = {
        (day["agent"], *interval)
        for raw in state["presence_days"].values()
        for day in [orjson.loads(raw)]
        for interval in day["intervals"]
    }
    if intervals != expected.intervals():
        problems.append(f"presence intervals differ: {len(intervals ^ expected.intervals())}")
    stamps = {k: orjson.loads(v)["up"] for k, v in state["directory"].items()}
    want = {k: v for k, v in expected.upsert_stamp.items()}
    attribute_keys = {k for k in stamps if k.startswith(b"attribute|")}
    if {k: v for k, v in stamps.items() if k not in attribute_keys} != want:
        problems.append("directory records differ")
    return problems
