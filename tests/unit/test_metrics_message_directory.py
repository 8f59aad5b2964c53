"""Message-state and directory last-write-wins rules of docs/metrics.md as tables."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from streamproc.metrics import Admission
from streamproc.metrics.directory import DirectoryRecord, apply_directory_event, is_active
from streamproc.metrics.message import (
    MessageRecord,
    apply_message_event,
    content_of,
    new_message,
    tags_now,
)
from tests.offline import ingest
from tests.unit.eventlog import EventLog, secs


def M() -> EventLog:
    return EventLog("m-")


def created(log: EventLog, when: float, content: str | None = "a", **kw: Any) -> EventLog:
    """m1 of cv1 created at ``when`` (an inbound message unless ``direction`` is given)."""
    direction = kw.pop("direction", "INBOUND")
    sender = ("CONTACT", "c1") if direction == "INBOUND" else ("AGENT", "a1")
    return log.message("cv1", "m1", when, direction, sender, content=content, **kw)


def record_of(log: EventLog) -> MessageRecord:
    record = new_message("cv1")
    for event in log.events:
        apply_message_event(record, event)
    return record


MessageView = tuple[str | None, float | None, list[str], float | None]

MESSAGES: list[Any] = [
    pytest.param(created(M(), 0), ("a", None, [], 0), id="content-of-the-creation"),
    pytest.param(created(M(), 0).updated("cv1", "m1", 10, "b").updated("cv1", "m1", 20, "c"),
                 ("c", None, [], 20), id="latest-update-wins"),
    pytest.param(created(M(), 0).updated("cv1", "m1", 20, "c").updated("cv1", "m1", 10, "b"),
                 ("c", None, [], 20), id="latest-update-wins-arriving-first"),
    pytest.param(created(M(), 0).updated("cv1", "m1", 10),
                 ("a", None, [], 10), id="update-without-content-keeps-it"),
    pytest.param(created(M(), 0).updated("cv1", "m1", 10, "b").updated("cv1", "m1", 20),
                 ("b", None, [], 20), id="update-without-content-after-an-update"),
    pytest.param(M().updated("cv1", "m1", 10, "b").extend(created(EventLog("x-"), 0)),
                 ("b", None, [], 10), id="update-arriving-before-the-creation"),
    pytest.param(created(M(), 0).updated("cv1", "m1", 0, "b"),
                 ("b", None, [], 0), id="update-at-the-creation-instant"),
    pytest.param(created(M(), 0).deleted("cv1", "m1", 50).deleted("cv1", "m1", 30),
                 ("a", 30, [], 50), id="earliest-deletion"),
    pytest.param(created(M(), 0).deleted("cv1", "m1", 30).updated("cv1", "m1", 40, "z"),
                 ("z", 30, [], 40), id="deleted-message-keeps-its-state"),
    pytest.param(created(M(), 0).tag("cv1", "m1", "t2", 10).tag("cv1", "m1", "t1", 20),
                 ("a", None, ["t2", "t1"], 20), id="tags-by-time-of-add"),
    pytest.param(created(M(), 0).tag("cv1", "m1", "t2", 10).tag("cv1", "m1", "t1", 10),
                 ("a", None, ["t1", "t2"], 10), id="tags-same-time-by-id"),
    pytest.param(created(M(), 0).tag("cv1", "m1", "t1", 10)
                 .tag("cv1", "m1", "t1", 20, removed=True),
                 ("a", None, [], 20), id="tag-removed"),
    pytest.param(created(M(), 0).tag("cv1", "m1", "t1", 10).tag("cv1", "m1", "t2", 20)
                 .tag("cv1", "m1", "t1", 30, removed=True).tag("cv1", "m1", "t1", 40),
                 ("a", None, ["t2", "t1"], 40), id="tag-re-added-after-removal"),
    pytest.param(created(M(), 0).tag("cv1", "m1", "t1", 10).tag("cv1", "m1", "t2", 20)
                 .tag("cv1", "m1", "t1", 30),
                 ("a", None, ["t2", "t1"], 30), id="tag-re-added-while-present"),
    pytest.param(created(M(), 0).tag("cv1", "m1", "t1", 20, removed=True)
                 .tag("cv1", "m1", "t1", 10),
                 ("a", None, [], 20), id="removal-arriving-before-the-add"),
    pytest.param(created(M(), 0).tag("cv1", "m1", "t1", 10, removed=True),
                 ("a", None, [], 10), id="removal-of-an-absent-tag"),
    pytest.param(created(M(), 0).extend(created(EventLog("x-"), 10, "b", direction="OUTBOUND")),
                 ("a", None, [], 10), id="repeated-creation-first-one-stands"),
    pytest.param(
        created(M(), 10, "b", direction="OUTBOUND").extend(created(EventLog("x-"), 0)),
        ("a", None, [], 10), id="repeated-creation-later-one-arriving-first",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("log", "expected"), MESSAGES)
def test_message_state(log: EventLog, expected: MessageView) -> None:
    record = record_of(log)
    got = (content_of(record), secs(record["deleted_t"]), tags_now(record), secs(record["lu"]))
    assert got == expected


REPEATED_CREATIONS: list[Any] = [
    pytest.param(10, (0, 1), id="in-order"),
    pytest.param(10, (1, 0), id="earlier-arriving-later"),
    pytest.param(0, (0, 1), id="same-instant-in-id-order"),
    pytest.param(
        0, (1, 0), id="same-instant-higher-id-arriving-first",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("second_s", "arrival"), REPEATED_CREATIONS)
def test_repeated_creation_first_in_event_order_stands(
    second_s: float, arrival: tuple[int, int]
) -> None:
    # m-00000 (inbound, "a", at 0) is before x-00000 (outbound, "b", at second_s) in event order
    logs = [created(M(), 0), created(EventLog("x-"), second_s, "b", direction="OUTBOUND")]
    record = record_of(EventLog().extend(logs[arrival[0]]).extend(logs[arrival[1]]))
    assert (secs(record["created"]["t"]), record["created"]["direction"]) == (0, "INBOUND")


def test_duplicate_message_event_changes_nothing() -> None:
    log = created(M(), 0).updated("cv1", "m1", 10, "b").tag("cv1", "m1", "t1", 20)
    record = record_of(log)
    snapshot = orjson.dumps(record)
    for event in log.events:
        assert apply_message_event(record, event) is False
    assert orjson.dumps(record) == snapshot


def test_duplicates_through_the_stores_are_duplicate() -> None:
    log = EventLog().created("cv1", 0).inbound("cv1", "m1", 10).updated("cv1", "m1", 20, "b")
    log.tag("cv1", "m1", "t1", 30)
    stores, admissions = ingest(log.lines)
    assert set(admissions) == {Admission.ACCEPTED}
    before = (dict(stores.conversations), dict(stores.messages))
    _, again = ingest(log.lines, stores)
    assert set(again) == {Admission.DUPLICATE}
    assert (dict(stores.conversations), dict(stores.messages)) == before


# ---------------------------------------------------------------------------------------
# Directory: last write wins by (occurred_at, event_id)
# ---------------------------------------------------------------------------------------


def D() -> EventLog:
    return EventLog("d-")


def directory_record(log: EventLog) -> DirectoryRecord:
    record: DirectoryRecord | None = None
    for event in log.events:
        record = apply_directory_event(record, event)
    assert record is not None
    return record


DIRECTORY: list[Any] = [
    pytest.param(D().topic_upserted("tp", 20, "New").topic_upserted("tp", 10, "Old"),
                 {"name": "New"}, True, id="older-upsert-arriving-later-ignored"),
    pytest.param(D().add("topic.upserted", 10, event_id="b", topic_id="tp", name="B")
                 .add("topic.upserted", 10, event_id="a", topic_id="tp", name="A"),
                 {"name": "B"}, True, id="same-instant-by-event-id"),
    pytest.param(D().topic_upserted("tp", 0, "X").topic_deleted("tp", 10),
                 {"name": "X"}, False, id="deleted-keeps-its-name"),
    pytest.param(D().topic_upserted("tp", 0, "X").topic_deleted("tp", 10)
                 .topic_upserted("tp", 20, "Y"),
                 {"name": "Y"}, True, id="deleted-then-re-upserted-is-active"),
    pytest.param(D().topic_upserted("tp", 0, "X").topic_deleted("tp", 20)
                 .topic_upserted("tp", 10, "Y"),
                 {"name": "Y"}, False, id="upsert-older-than-deletion-stays-deleted"),
    pytest.param(D().topic_deleted("tp", 10).topic_upserted("tp", 0, "X"),
                 {"name": "X"}, False, id="deletion-arriving-first"),
    pytest.param(D().tag_upserted("tg", 0, "X").tag_deleted("tg", 10).tag_upserted("tg", 20, "Z"),
                 {"name": "Z"}, True, id="tag-re-upserted"),
    pytest.param(D().agent("a1", 0, "Ana", "T1").agent("a1", 20, "Ana", "T2")
                 .agent("a1", 10, "Ana", "T3"),
                 {"name": "Ana", "email": "ana@acme.example", "reference": "EMP-1",
                  "team_id": "T2"}, True, id="agent-primary-team-lww"),
    pytest.param(D().attribute("c1", 20, "at-1", "Plan", "Gold")
                 .attribute("c1", 10, "at-1", "Plan", "Silver"),
                 {"contact_profile_id": "c1", "attribute_id": "at-1", "name": "Plan",
                  "value": "Gold", "attribute_type": "TEXT"}, True, id="attribute-lww"),
    pytest.param(D().contact("c1", 0, "SMS", "555", "Bob").contact("c1", 10, "SMS", "555"),
                 {"medium": "SMS", "primary_identifier": "555", "secondary_identifier": None},
                 True, id="contact-secondary-cleared-by-later-upsert"),
]  # fmt: skip


@pytest.mark.parametrize(("log", "fields", "active"), DIRECTORY)
def test_directory_last_write_wins(log: EventLog, fields: dict[str, Any], active: bool) -> None:
    record = directory_record(log)
    assert record["fields"] == fields
    assert is_active(record) is active


@pytest.mark.parametrize("index", range(len(DIRECTORY)))
def test_directory_is_independent_of_arrival_order(index: int) -> None:
    log: EventLog = DIRECTORY[index].values[0]
    reference = directory_record(log)
    for order in itertools.permutations(log.lines):
        permuted = EventLog()
        permuted.lines = list(order)
        assert directory_record(permuted) == reference


def test_directory_last_updated_is_the_latest_event() -> None:
    log = D().topic_upserted("tp", 20, "X").topic_deleted("tp", 30).topic_upserted("tp", 10, "W")
    assert secs(directory_record(log)["lu"]) == 30


def test_superseded_upsert_and_repeats_are_duplicates_in_the_store() -> None:
    log = D().topic_upserted("tp", 20, "New")
    stores, admissions = ingest(log.lines)
    before = dict(stores.directory)
    stale = D().topic_upserted("tp", 10, "Old")
    _, again = ingest([*log.lines, *stale.lines], stores)
    assert admissions == [Admission.ACCEPTED]
    assert again == [Admission.DUPLICATE, Admission.DUPLICATE]
    assert dict(stores.directory) == before
