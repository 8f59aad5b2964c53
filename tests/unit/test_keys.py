"""Table keys hold arbitrary ids: two different id tuples never share a key (streamproc.keys)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.formats import write_csv
from exporter.request import parse_request
from streamproc import keys
from streamproc.metrics.directory import directory_key
from streamproc.testing.oracle import oracle_rows
from tests.offline import export_csv, ingest, load_model
from tests.unit.eventlog import EventLog

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
UTC_TZ = ZoneInfo("UTC")
IDS = st.text(alphabet="ab|\\~", max_size=5)


@given(st.lists(IDS, min_size=1, max_size=4), st.lists(IDS, min_size=1, max_size=4))
def test_compound_keys_are_injective(first: list[str], second: list[str]) -> None:
    assert keys.split(keys.compound(*first)) == first
    if first != second:
        assert keys.compound(*first) != keys.compound(*second)


@pytest.mark.parametrize(
    ("one", "two"),
    [(("x|y", "z"), ("x", "y|z")), (("a|b|c", "d"), ("a", "b|c|d")), (("a|", "b"), ("a", "|b"))],
)
def test_directory_attribute_ids_that_used_to_collide_stay_apart(
    one: tuple[str, str], two: tuple[str, str]
) -> None:
    assert "|".join(one) == "|".join(two)  # the old key
    first = keys.directory_key("attribute", keys.attribute_id(*one))
    second = keys.directory_key("attribute", keys.attribute_id(*two))
    assert first != second
    assert keys.split(keys.parse_directory_key(first)[1]) == list(one)


def test_directory_keys_of_plain_ids_are_unchanged() -> None:
    events = EventLog().attribute("c1", T0, "plan", "Plan", "gold").agent("a1", T0, "Ann", None)
    for event in events.events:
        kind, entity_id = directory_key(event)
        assert keys.directory_key(kind, entity_id) in (b"attribute|c1|plan", b"agent|a1")


@pytest.mark.parametrize(("agent", "day"), [("a|1", 86_400_000), ("a", 0), ("a|86400000", 0)])
def test_presence_day_keys_parse_back_whatever_the_agent_id(agent: str, day: int) -> None:
    assert keys.parse_presence_day_key(keys.presence_day_key(agent, day)) == (agent, day)


def test_presence_days_of_agents_with_separators_stay_apart(tmp_path: Path) -> None:
    log = EventLog().presence("a|1", T0, "AVAILABLE").presence("a", T0, "AWAY", "LUNCH")
    stores, _ = ingest(log.lines)
    assert len(stores.presence_days) == 2
    model = load_model(stores, tmp_path / "rm.sqlite")
    agents = dict(model.conn.execute("SELECT agent_id, presence FROM presence_intervals"))
    assert agents == {"a|1": "AVAILABLE", "a": "AWAY"}


@pytest.mark.parametrize(
    ("one", "two"),
    [(("a|b", "c"), ("a", "b|c")), (("a\\", "|c"), ("a\\|", "c"))],
)
def test_activity_entities_that_used_to_collide_stay_apart(
    one: tuple[str, str], two: tuple[str, str], tmp_path: Path
) -> None:
    """A virtual agent ``a|b`` on channel ``c`` and ``a`` on ``b|c`` had one bucket."""
    assert "|".join(one) == "|".join(two)  # the old entity
    log = EventLog()
    for n, (va, channel) in enumerate((one, two)):
        log.created(f"cv{n}", T0, channel=channel).va(f"cv{n}", f"m{n}", T0, va=va)
    stores, _ = ingest(log.lines)
    va_keys = [keys.parse_activity_key(k) for k in stores.activity if b"|va|" in k]
    entities = {entity for _p, dimension, entity, _b, _c in va_keys if dimension == "va"}
    assert {tuple(keys.split(e)) for e in entities} == {one, two}
    model = load_model(stores, tmp_path / "rm.sqlite")
    rows = model.conn.execute("SELECT entity, conversation_id FROM activity WHERE dimension='va'")
    assert {(tuple(keys.split(e)), c) for e, c in rows} == {(one, "cv0"), (two, "cv1")}


def test_a_team_id_starting_with_tilde_is_not_an_agents_primary_team() -> None:
    assert keys.team_entity("~a1", None) != keys.team_entity(None, "a1")
    assert keys.team_entity("~a1", "x") == "\\~a1"
    assert keys.team_entity(None, "a1") == "~a1"
    assert keys.team_entity("t1", None) == "t1"


def _contact_log() -> EventLog:
    log = EventLog()
    contacts = ["x|y", "x", "a|b", "a", "a\\"]
    for n, contact in enumerate(contacts):
        log.contact(contact, T0, "SMS", f"+{n}")
        log.created(f"cv{n}", T0, contact=contact).inbound(f"cv{n}", f"m{n}", T0, contact=contact)
    log.attribute("x|y", T0, "z", "Z of x|y", "1")
    log.attribute("x", T0, "y|z", "Y|Z of x", "2")
    log.attribute("a|b", T0, "q", "Q of a|b", "3")
    log.attribute("a", T0, "r", "R of a", "4")
    log.attribute("a", T0, "\U0001f600", "astral of a", "5")  # above U+FFFF
    log.attribute("a", T0, "\uffff", "U+FFFF of a", "6")
    log.attribute("a\\", T0, "|b", "of a\\", "7")
    return log


@pytest.mark.parametrize("export_type", ["contact_attributes", "contacts"])
def test_contact_attributes_stay_with_their_contact_and_match_the_oracle(
    export_type: str, tmp_path: Path
) -> None:
    log = _contact_log()
    stores, _ = ingest(log.lines)
    model = load_model(stores, tmp_path / "rm.sqlite")
    request = parse_request(
        {"request_id": "t", "export_type": export_type, "from": "2026-11-02", "to": "2026-11-02"}
    )
    as_of = datetime(2026, 11, 3, tzinfo=UTC)
    streamed = export_csv(model, request, as_of)
    reference = io.BytesIO()
    write_csv(
        reference, request.spec, oracle_rows(log.lines, request, as_of), locale="en", tz=UTC_TZ
    )
    assert streamed == reference.getvalue()
    if export_type == "contact_attributes":
        rows = [line.split(",") for line in streamed.decode().split("\r\n")[1:] if line]
        pairs = sorted((r[0], r[3]) for r in rows)
        assert pairs == sorted(
            [("x|y", "z"), ("x", "y|z"), ("a|b", "q"), ("a", "r"), ("a", "\U0001f600"),
             ("a", "\uffff"), ("a\\", "|b")]
        )  # fmt: skip
