"""Property tests: random and mutated input never crashes intake, state updates or requests."""

from __future__ import annotations

import zoneinfo
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.request import (
    MAX_REASON_LEN,
    MAX_REQUEST_BYTES,
    BadRequest,
    ExportRequest,
    decode_request,
    echo_fields,
    parse_request,
)
from exporter.rows import to_ms
from exporter.schema import EXPORTS
from exporter.service import failed
from streamproc.events import EVENT_TYPES, Event
from streamproc.intake import REROUTE_REASONS, Rejection, Reroute, admit_record, partition_for_key
from streamproc.metrics import Admission
from streamproc.settings import Settings
from streamproc.state import BatchStores, apply_event
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import RULES, new_stores

SETTINGS = Settings(event_max_age_days=36_500)  # fixtures dated 2026-11
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
        batch = BatchStores.over(stores, RULES)  # each record a batch of one
        assert apply_event(batch, outcome, RULES, offset, rerouted) in set(Admission)
        batch.flush()
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


# -- hostile request fields: sizes, unicode, control characters, extreme dates and zones ----


def _repeat(chars: str, n: int) -> str:
    return (chars * (n // max(1, len(chars)) + 1))[:n]


huge_texts = st.builds(_repeat, st.text(min_size=1, max_size=3), st.integers(0, 700_000))
odd_texts = st.one_of(
    st.text(st.characters(codec=None), max_size=20),  # astral planes included
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=8),
    st.sampled_from(["\u202ereverse", "a\x00b", "\ufeffid", "\U0010ffff", "id\r\n", " "]),
)
hostile_texts = st.one_of(huge_texts, odd_texts)
extreme_dates = st.one_of(
    st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"),
    st.sampled_from(["9999-12-31", "0001-01-01", "9999-12-30", "0000-01-01", "2026-02-29"]),
)
extreme_datetimes = st.builds(
    lambda day, hms, offset: f"{day}T{hms}{offset}",
    extreme_dates,
    st.sampled_from(["00:00:00", "23:59:59.9999999999", "24:00:00", "12:00:00"]),
    st.sampled_from(["Z", "+14:00", "-12:00", "+23:59", "-01:00", "+05:99", "+24:00"]),
)
zones = st.one_of(
    st.sampled_from(sorted(zoneinfo.available_timezones())),
    st.sampled_from(["Pacific/Kiritimati", "Etc/GMT-14", "Etc/GMT+12", "right/UTC", "localtime"]),
    hostile_texts,
)
huge_channel_lists = st.builds(lambda n: [f"c{i}" for i in range(n)], st.integers(0, 3_000))
hostile_requests = st.fixed_dictionaries(
    {
        "request_id": st.one_of(st.text(min_size=1, max_size=10), hostile_texts),
        "export_type": st.one_of(st.sampled_from(list(EXPORTS)), hostile_texts),
    },
    optional={
        "timezone": zones,
        "from": st.one_of(extreme_dates, extreme_datetimes, hostile_texts),
        "to": st.one_of(extreme_dates, extreme_datetimes, hostile_texts),
        "channels": st.one_of(
            huge_channel_lists, st.lists(hostile_texts, max_size=3), st.lists(odd_texts)
        ),
        "locale": st.one_of(st.sampled_from(["en", "es"]), hostile_texts),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=hostile_requests)
def test_hostile_requests_are_parsed_or_refused_with_a_short_reason(request: Any) -> None:
    """What the exporter does with a request message before any export runs
    (exporter.service.Exporter.handle): decode, validate, echo; everything bounded."""
    try:
        raw = orjson.dumps(request)
    except TypeError:  # lone surrogates cannot be JSON: only Python callers send them
        raw = None
    started = {"started_at": "2026-11-02T00:00:00.000Z"}
    try:
        parsed = parse_request(decode_request(raw) if raw is not None else request)
    except BadRequest as exc:
        reason = failed({**started, **echo_fields(request)}, str(exc))
        assert reason["error"] and reason["error"].isprintable()
        assert len(reason["error"]) <= MAX_REASON_LEN
        assert len(orjson.dumps(reason, option=orjson.OPT_NON_STR_KEYS)) < 2_000
    else:
        assert len(parsed.request_id) <= 200 and parsed.request_id.isprintable()
        assert len(parsed.channels) <= 1_000
        if parsed.start is not None and parsed.end is not None:
            assert parsed.start < parsed.end
            to_ms(parsed.start), to_ms(parsed.end)  # representable as epoch ms


def test_a_request_larger_than_the_limit_is_refused_before_decoding() -> None:
    raw = b'{"request_id": "' + b"x" * MAX_REQUEST_BYTES + b'"}'
    try:
        decode_request(raw)
    except BadRequest as exc:
        assert "maximum" in str(exc) and len(str(exc)) < 100
    else:  # pragma: no cover - the assertion
        raise AssertionError("accepted")


def test_deeply_nested_or_invalid_utf8_requests_are_refused() -> None:
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"request_id": "\xff\xfe"}', b"\xc3("):
        try:
            decode_request(raw)
        except BadRequest as exc:
            assert str(exc).startswith("request is not JSON")
        else:  # pragma: no cover - the assertion
            raise AssertionError(raw[:20])


hostile_times = st.one_of(
    st.datetimes(
        min_value=__import__("datetime").datetime(1, 1, 2),
        max_value=__import__("datetime").datetime(9999, 12, 30),
    ).map(lambda d: d.isoformat()),
    st.tuples(
        st.integers(1, 9999),
        st.integers(0, 99),
        st.integers(0, 99),
        st.sampled_from("+-"),
        st.integers(0, 99),
        st.integers(0, 99),
    ).map(
        lambda p: f"{p[0]:04d}-01-01T{p[1] % 24:02d}:{p[2] % 60:02d}:00{p[3]}{p[4]:02d}:{p[5]:02d}"
    ),
    st.text(max_size=40),
)
hostile_ids = st.one_of(
    st.text(min_size=1, max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), min_size=1),
    st.text(alphabet="|\\~\u200b\ufeff\u202e\x00", min_size=1, max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(
    occurred_at=hostile_times,
    team_id=hostile_ids,
    name=st.one_of(
        st.text(max_size=50), st.integers(-(2**63), 2**63 - 1), st.lists(st.integers(0, 9))
    ),
    now_ms=st.integers(0, 253_402_300_799_000),
)
def test_hostile_times_ids_and_sizes_end_in_a_decision(
    occurred_at: str, team_id: str, name: Any, now_ms: int
) -> None:
    value = orjson.dumps(
        {
            "event_id": "e1",
            "type": "team.upserted",
            "occurred_at": occurred_at,
            "team_id": team_id,
            "name": name,
        }
    )
    key = team_id.encode(errors="surrogatepass")
    outcome = admit_record(
        SETTINGS, SETTINGS.topic_directory, partition_for_key(key, 8), key, value, 8, now_ms
    )
    if isinstance(outcome, Rejection):
        assert outcome.category in {"invalid", "out_of_range"}
        assert len(outcome.bounded_reason) <= 300 and "\n" not in outcome.bounded_reason
        return
    event = outcome.event if isinstance(outcome, Reroute) else outcome
    assert isinstance(event, Event)
    assert abs(event.occurred_at_ms - now_ms) <= SETTINGS.event_max_age_days * 86_400_000
    batch = BatchStores.over(new_stores(), RULES)
    assert apply_event(batch, event, RULES) in set(Admission)
    batch.flush()
