"""Property tests: random and mutated input never crashes intake, state updates or requests."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.request import BadRequest, ExportRequest, parse_request
from exporter.schema import EXPORTS
from streamproc.dedupe import Admission
from streamproc.events import EVENT_TYPES, Event
from streamproc.intake import REROUTE_REASONS, Rejection, Reroute, admit_record, partition_for_key
from streamproc.settings import Settings
from streamproc.simulate import SimulationConfig, simulate
from streamproc.state import apply_event
from tests.offline import RULES, new_stores

SETTINGS = Settings()
SEED_LINES = [
    line for line in simulate(SimulationConfig(seed=1, days=1, conversations=10, malformed=0.0))
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A real event with one mutation: a field dropped, retyped or replaced, the type
    swapped, the time garbled, or the bytes truncated/corrupted."""
    line = draw(st.sampled_from(SEED_LINES))
    obj: dict[str, Any] = orjson.loads(line)
    kind = draw(st.sampled_from(["drop", "retype", "swap_type", "time", "truncate", "bytes"]))
    field = draw(st.sampled_from(sorted(obj)))
    if kind == "drop":
        obj.pop(field)
    elif kind == "retype":
        obj[field] = draw(json_values)
    elif kind == "swap_type":
        obj["type"] = draw(st.sampled_from([*EVENT_TYPES, "x.y", ""]))
    elif kind == "time":
        obj["occurred_at"] = draw(st.text(max_size=30))
    raw = orjson.dumps(obj)
    if kind == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif kind == "bytes":
        position = draw(st.integers(0, len(raw) - 1))
        raw = raw[:position] + draw(st.binary(min_size=1, max_size=4)) + raw[position + 1 :]
    return raw


records = st.one_of(
    mutated_events(),
    st.binary(max_size=200),
    json_values.map(orjson.dumps),
    st.none(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(records, min_size=1, max_size=20),
    topic=st.sampled_from(SETTINGS.consumed_topics),
)
def test_any_record_is_either_rejected_with_a_reason_rerouted_or_applied(
    values: list[bytes | None], topic: str
) -> None:
    stores = new_stores()
    for offset, value in enumerate(values):
        key = None
        if value:
            try:
                obj = orjson.loads(value)
                key_field = EVENT_TYPES[obj["type"]].key_field
                key = str(obj[key_field]).encode()
            except Exception:  # noqa: S110 - any failure means: no contract key
                pass
        partition = partition_for_key(key, 8) if key else 0
        outcome = admit_record(SETTINGS, topic, partition, key, value, 8)
        if isinstance(outcome, Rejection):
            assert outcome.category in {"invalid", "misrouted"}
            assert outcome.reason and "\n" not in outcome.reason
            continue
        rerouted = isinstance(outcome, Reroute)
        if isinstance(outcome, Reroute):  # applied from the re-route topic
            assert topic != SETTINGS.topic_reroute, "never forwarded twice"
            assert outcome.reason in REROUTE_REASONS
            assert outcome.detail and "\n" not in outcome.detail
            assert outcome.partition == partition_for_key(outcome.key, 8)
            outcome = outcome.event
        assert isinstance(outcome, Event)
        assert apply_event(stores, outcome, RULES, offset, rerouted) in set(Admission)
    for store in (stores.conversations, stores.messages, stores.presence, stores.directory):
        for raw in store.values():
            orjson.loads(raw)  # every stored record stays decodable


request_fields = st.fixed_dictionaries(
    {},
    optional={
        "request_id": st.one_of(st.text(max_size=10), json_values),
        "export_type": st.one_of(st.sampled_from(list(EXPORTS)), json_values),
        "timezone": st.one_of(
            st.sampled_from(["UTC", "America/New_York", "Mars/Olympus", "../etc/passwd"]),
            json_values,
        ),
        "from": st.one_of(st.sampled_from(["2026-11-02", "2026-11-02T00:00:00Z"]), json_values),
        "to": st.one_of(st.sampled_from(["2026-11-03", "2026-11-01", "2026-13-40"]), json_values),
        "channels": st.one_of(st.lists(st.text(max_size=5), max_size=3), json_values),
        "locale": st.one_of(st.sampled_from(["en", "es", "fr"]), json_values),
    },
)


@settings(max_examples=500, deadline=None)
@given(request=st.one_of(request_fields, json_values))
def test_any_request_is_parsed_or_refused_with_a_reason(request: Any) -> None:
    try:
        parsed = parse_request(request)
    except BadRequest as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(parsed, ExportRequest)
        assert parsed.export_type in EXPORTS
