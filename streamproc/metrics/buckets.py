"""Rolling aggregates: what one conversation contributes to 15-minute event-time buckets.

Each (bucket, dimension entity, conversation) contribution is a record of its own
(``activity_key``: ``{metric: value}``), so a write costs the size of one conversation's
contribution however many conversations share the bucket. Totals are sums over
conversations; distinct counts (contacts helped, conversations with a handle session,
tagged messages) are unions over them, so they stay exact across any set of buckets,
and a conversation whose facts change (a late or reordered event) simply replaces its
own records.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from streamproc import keys
from streamproc.metrics.conversation import ConversationFacts

BUCKET_MS = 900_000

Contribution = dict[str, Any]


def bucket_of(t: int) -> int:
    """Start (epoch ms) of the 15-minute bucket holding ``t``."""
    return t - t % BUCKET_MS


def bucket_key(dimension: str, entity: str, t: int) -> str:
    """``dimension|entity|bucket-start-ms``; ``entity`` is built by streamproc.keys (ids
    escaped, so ``va|channel`` pairs never collide)."""
    return keys.bucket_key(dimension, entity, bucket_of(t))


activity_key = keys.activity_key
parse_activity_key = keys.parse_activity_key
team_entity = keys.team_entity


def contributions(facts: ConversationFacts) -> dict[str, Contribution]:
    """Every bucket this conversation contributes to, with its contribution.

    Counted: lock sessions ended by an event (by their end), agent replies, resolutions
    by agents, tags/topics added by agents, CSAT credits, team outbound messages and
    first responses, virtual-agent activity, topic/tag applications and contact messages.
    A session that no event has ended yet (open, or expired without a later event) is in
    no bucket; the exporter closes such sessions at its as_of.
    """
    out: dict[str, Contribution] = defaultdict(dict)
    contact = facts.contact_profile_id
    channel = facts.channel_id or ""
    contact_entity = None if contact is None else keys.entity(contact)

    def add(key: str, metric: str, value: int = 1) -> None:
        counts = out[key]
        counts[metric] = counts.get(metric, 0) + value

    def add_to_set(key: str, metric: str, value: str) -> None:
        values = out[key].setdefault(metric, [])
        if value not in values:
            values.append(value)

    def both(agent: str | None, team: str | None, t: int, metric: str, value: int = 1) -> None:
        if agent is not None:
            add(bucket_key("agent", keys.entity(agent), t), metric, value)
        team_key = team_entity(team, agent)
        if team_key is not None:
            add(bucket_key("team", team_key, t), metric, value)

    for s in facts.sessions:
        if s.end is None:
            continue
        outcome, duration = s.outcome_at(s.end) or ("", 0)
        both(s.agent_id, s.team_id, s.end, f"{outcome}_ms", duration)
        if outcome == "handle":
            both(s.agent_id, s.team_id, s.end, "handle_sessions")
    for m in facts.messages:
        if m.sender_kind == "VIRTUAL_AGENT" and m.sender_id is not None:
            add(bucket_key("va", keys.entity(m.sender_id, channel), m.t), "messages")
        if contact_entity is not None:
            add(bucket_key("contact", contact_entity, m.t), m.direction.lower())
        if m.direction != "OUTBOUND":
            continue
        team = team_entity(m.team_id, m.sender_id if m.sender_kind == "AGENT" else None)
        if team is not None:
            add(bucket_key("team", team, m.t), "outbound")
        if m.sender_kind == "AGENT" and m.sender_id is not None:
            both(m.sender_id, m.team_id, m.t, "replies")
            if contact is not None:
                add_to_set(bucket_key("agent", keys.entity(m.sender_id), m.t), "contacts", contact)
                if team is not None:
                    add_to_set(bucket_key("team", team, m.t), "contacts", contact)
    for r in facts.resolutions:
        if r.actor_kind == "AGENT" and r.actor_id is not None:
            metric = "resolves_with_reply" if r.with_reply else "resolves_without_reply"
            both(r.actor_id, r.team_id, r.t, metric)
            team = team_entity(r.team_id, r.actor_id)
            if r.resolution_ms is not None and team is not None:
                add(bucket_key("team", team, r.t), "resolution_ms", r.resolution_ms)
                add(bucket_key("team", team, r.t), "resolutions_timed")
        elif r.actor_kind == "VIRTUAL_AGENT" and r.actor_id is not None:
            add(bucket_key("va", keys.entity(r.actor_id, channel), r.t), "resolved")
    for q in facts.queue_entries:
        if q.started_by == "VA_HANDED_OVER_CONVERSATION" and q.actor_kind == "VIRTUAL_AGENT":
            # (an actor without id was written "None" before: kept, so keys stay the same)
            key = bucket_key("va", keys.entity(str(q.actor_id), channel), q.t)
            add(key, "handovers")
            if q.handover_reason == "ERROR":
                add(key, "handover_errors")
    for label, applications in (("topic", facts.topics_added), ("tag", facts.tags_added)):
        for a in applications:
            add(bucket_key(label, keys.entity(a.target_id, channel), a.t), "applications")
            if a.actor_kind == "AGENT" and a.actor_id is not None:
                both(a.actor_id, a.team_id, a.t, f"{label}s_added")
            elif a.actor_kind == "VIRTUAL_AGENT" and a.actor_id is not None:
                key = bucket_key("va", keys.entity(a.actor_id, channel), a.t)
                add(key, f"{label}_applications")
                if label == "tag" and a.message_id is not None:
                    add_to_set(key, "tagged_messages", a.message_id)
    for c in facts.csat_responses:
        if c.agent_id is not None:
            both(c.agent_id, c.team_id, c.t, f"csat_{c.score}")
    first = facts.first_response_here  # (a segment's facts: only the one that holds it)
    if first is not None:
        team = team_entity(first.team_id, first.agent_id)
        if team is not None:
            add(bucket_key("team", team, first.t), "first_response_ms", first.response_ms)
            add(bucket_key("team", team, first.t), "first_responses")
    return dict(out)
