"""Rolling 15-minute buckets: exact, order-independent, and equal to the facts they summarise."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from streamproc.events import InvalidEvent, parse_event
from streamproc.metrics.buckets import (
    BUCKET_MS,
    activity_key,
    bucket_key,
    bucket_of,
    parse_activity_key,
)
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import ingest, load_model, per_conversation


def valid_sorted_unique(lines: list[bytes]) -> list[bytes]:
    events = {}
    for line in lines:
        try:
            event = parse_event(line)
        except InvalidEvent:
            continue
        events.setdefault(event.event_id, (event.occurred_at_ms, event.event_id, line))
    return [line for _t, _id, line in sorted(events.values())]


@pytest.mark.parametrize(
    ("t", "start"),
    [(0, 0), (899_999, 0), (900_000, 900_000), (1_793_577_600_123, 1_793_577_600_000)],
)
def test_bucket_of(t: int, start: int) -> None:
    assert bucket_of(t) == start


@pytest.mark.parametrize("seed", [3, 9])
def test_buckets_do_not_depend_on_arrival_order_or_duplicates(seed: int) -> None:
    lines = list(simulate(SimulationConfig(seed=seed, days=1, conversations=50)))
    arrived, _ = ingest(lines)
    ordered, _ = ingest(valid_sorted_unique(lines))
    # (How a conversation's log is cut in segments depends on arrival; what each
    # conversation contributes to each bucket does not.)
    assert per_conversation(arrived.activity) == per_conversation(ordered.activity)
    assert all(parse_activity_key(k)[3] % BUCKET_MS == 0 for k in arrived.activity)


@pytest.mark.parametrize("seed", [3, 9])
def test_agent_buckets_sum_to_the_facts(seed: int, tmp_path: Path) -> None:
    lines = list(simulate(SimulationConfig(seed=seed, days=1, conversations=50)))
    stores, _ = ingest(lines)
    model = load_model(stores, tmp_path / "rm.sqlite")
    from_buckets: Counter[tuple[str, str]] = Counter()
    contacts: dict[str, set[str]] = {}
    for key, raw in stores.activity.items():
        _partition, dimension, entity, _bucket, _conversation = parse_activity_key(key)
        if dimension != "agent":
            continue
        for metric, value in orjson.loads(raw).items():
            if metric == "contacts":
                contacts.setdefault(entity, set()).update(value)
            else:
                from_buckets[(entity, metric)] += value
    from_facts: Counter[tuple[str, str]] = Counter()
    for agent, replied, own, duration in model.conn.execute(
        "SELECT agent_id, replied, own_status_end, end_t - start FROM sessions"
        " WHERE end_t IS NOT NULL"
    ):
        outcome = "handle" if replied else "no_reply" if own else "cherry_pick"
        from_facts[(agent, f"{outcome}_ms")] += duration
    for agent, replies in model.conn.execute(
        "SELECT sender_id, count(*) FROM conv_messages WHERE direction = 'OUTBOUND'"
        " AND sender_kind = 'AGENT' AND sender_id IS NOT NULL GROUP BY sender_id"
    ):
        from_facts[(agent, "replies")] += replies
    for agent, with_reply, n in model.conn.execute(
        "SELECT actor_id, with_reply, count(*) FROM resolutions WHERE actor_kind = 'AGENT'"
        " AND actor_id IS NOT NULL GROUP BY 1, 2"
    ):
        from_facts[(agent, "resolves_with_reply" if with_reply else "resolves_without_reply")] += n
    metrics = {"handle_ms", "no_reply_ms", "cherry_pick_ms", "replies", "resolves_with_reply",
               "resolves_without_reply"}  # fmt: skip
    assert {k: v for k, v in from_buckets.items() if k[1] in metrics and v} == {
        k: v for k, v in from_facts.items() if v
    }
    helped = dict(
        model.conn.execute(
            "SELECT m.sender_id, count(DISTINCT c.contact_profile_id) FROM conv_messages m"
            " JOIN conversations c USING (conversation_id) WHERE m.direction = 'OUTBOUND'"
            " AND m.sender_kind = 'AGENT' AND m.sender_id IS NOT NULL GROUP BY 1"
        )
    )
    assert {a: len(c) for a, c in contacts.items()} == helped


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("va", "a|b", "c"), ("va", "a", "b|c")),  # entity and conversation ids with |
        (("agent", "x", 'c"]'), ("agent", 'x", "c', "]")),  # JSON-looking ids
        (("agent", "\U0001d11e", "c"), ("agent", "\uffff", "c")),  # beyond U+FFFF
    ],
)
def test_activity_keys_never_collide(
    first: tuple[str, str, str], second: tuple[str, str, str]
) -> None:
    keys = []
    for dimension, entity, conversation in (first, second):
        key = activity_key(3, bucket_key(dimension, entity, 1_800_000), conversation)
        assert parse_activity_key(key) == (3, dimension, entity, 1_800_000, conversation)
        keys.append(key)
    assert keys[0] != keys[1]


@pytest.mark.parametrize("key", [b"3|agent|a|900000", b"", b"x|y|z|[1,2]", b"1|a|2|[1,2]"])
def test_other_keys_are_not_activity_keys(key: bytes) -> None:
    with pytest.raises(ValueError, match="not an activity key"):
        parse_activity_key(key)
