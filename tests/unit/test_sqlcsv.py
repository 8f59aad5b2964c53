"""The SQL export path (exporter.sqlcsv) writes exactly the bytes of the general path."""

from __future__ import annotations

import io
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from exporter.formats import write_csv
from exporter.readmodel import ReadModel
from exporter.request import parse_request
from exporter.rows import BUILDERS, Context, Directory
from exporter.schema import EXPORTS
from exporter.sqlcsv import SQL_EXPORTS, WINDOW_END_S, WINDOW_START_S, SqlRows, zone_offsets
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import ingest, load_model

AS_OF_MS = 1_800_000_000_000
NASTY = [
    None, "", "plain", "a,b", 'say "hi"', "line\nbreak", "cr\rhere", "=1+2", "+33", "-5",
    "@home", "\tx", "\rx", "'quoted'", "ñandú, señor", "emoji 🎉", "|pipe|", "back\\slash",
    ",", '"', "a\r\nb", "-", "tag-1", "x" * 300,
    # hostile: formula starts behind whitespace or invisible characters, list separators
    " =1", "\u00a0=1", "\ufeff@x", "\u200b+1", "\u3000-1", "\u2028=1", "\n=x", " \t=1",
    "\uff1d1", "é=", "\U0001f600=", "\u200b", " ", "a|b", "a\\|b", "\\", "|", "\\|",
    "\U00010400|\U0010fffd",
]  # fmt: skip
ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"]


def both(model: ReadModel, request_obj: dict[str, Any]) -> tuple[bytes, bytes, bool]:
    """(fast bytes, general bytes, whether the fast path ran) of one request."""
    request = parse_request(request_obj)
    context = Context(model.conn, request, Directory.load(model.conn), AS_OF_MS)
    rows = BUILDERS[request.export_type](context)
    assert isinstance(rows, SqlRows)
    fast, general = io.BytesIO(), io.BytesIO()
    write_csv(fast, request.spec, rows, locale=request.locale, tz=request.tz)
    write_csv(general, request.spec, iter(rows), locale=request.locale, tz=request.tz)
    ran = rows.write_records(io.BytesIO().write, request.spec, request.tz) is not None
    return fast.getvalue(), general.getvalue(), ran


def request_for(export_type: str, **variant: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"request_id": "t", "export_type": export_type, **variant}
    if EXPORTS[export_type].needs_range:
        obj.setdefault("from", "1965-01-01")
        obj.setdefault("to", "1966-01-01")
    else:
        obj.pop("from", None)
        obj.pop("to", None)
    return obj


def test_every_sql_export_covers_its_spec() -> None:
    for export_id, export in SQL_EXPORTS.items():
        assert sum(v.span for v in export.values) == len(EXPORTS[export_id].columns)


@pytest.mark.parametrize("zone", ZONES)
def test_zone_offsets_match_zoneinfo(zone: str) -> None:
    tz = ZoneInfo(zone)
    pairs = zone_offsets(tz)
    rng = random.Random(zone)
    starts = [s for s, _ in pairs]
    probes = [rng.randrange(WINDOW_START_S, WINDOW_END_S) for _ in range(2000)]
    probes += [s + d for s in starts[1:] for d in (-1, 0, 1)]
    for s in probes:
        offset = next(o for start, o in reversed(pairs) if start <= s)
        expected = datetime.fromtimestamp(s, UTC).astimezone(tz).utcoffset()
        assert expected is not None
        assert offset == expected.total_seconds(), (zone, s)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> ReadModel:
    lines = list(simulate(SimulationConfig(seed=5, days=2, conversations=80)))
    stores, _ = ingest(lines)
    return load_model(stores, tmp_path_factory.mktemp("sim") / "readmodel.sqlite")


@pytest.mark.parametrize("export_type", list(SQL_EXPORTS))
@pytest.mark.parametrize(
    "variant",
    [
        {"from": "2026-11-02", "to": "2026-11-03"},
        {"timezone": "America/New_York", "locale": "es", "from": "2026-11-01", "to": "2026-11-04"},
        {"channels": ["channel-01", "channel-03"], "from": "2026-11-02", "to": "2026-11-04"},
        {
            "timezone": "Asia/Kolkata",
            "from": "2026-11-02T09:07:00+05:30",
            "to": "2026-11-03T11:00:00Z",
        },
    ],
)
def test_simulated_exports_take_the_sql_path(
    simulated: ReadModel, export_type: str, variant: dict[str, Any]
) -> None:
    fast, general, ran = both(simulated, request_for(export_type, **variant))
    assert ran
    assert fast == general
    assert fast.count(b"\r\n") > 1 or export_type == "conversations_open"


def nasty_model(path: Path, seed: int) -> ReadModel:
    """Conversations, messages, sessions and a directory full of values that need quotes,
    guards, time-zone care (1970-2100 and beyond, DST) or lookups that miss."""
    rng = random.Random(seed)
    model = ReadModel(path, lock_max_ms=7_200_000)
    conn = model.conn

    def text() -> Any:
        return rng.choice(NASTY)

    def moment() -> int | None:
        kind = rng.random()
        if kind < 0.1:
            return None
        if kind < 0.2:
            return rng.randrange(-2_000_000_000_000, 5_000_000_000_000)  # 1906..2128
        base = rng.choice([-157_766_400_000, 0, 1_793_577_600_000, 4_102_444_800_000])
        return base + rng.randrange(-400 * 86_400_000, 400 * 86_400_000)

    ids = ["a", "b", "c,d", '"e"', "=f", "-g", "h|i", "ñ", "", " =j", "\ufeff+k", "l\\|m",
           "|", "\U00010400", "unknown"]  # fmt: skip
    directory = []
    for kind in ("channel", "contact", "agent", "team", "tag", "topic"):
        for entity in ids[:-1]:
            fields = {
                "medium": text(), "name": text(), "display_name": text(),
                "primary_identifier": text(), "secondary_identifier": text(),
                "reference": text(), "team_id": rng.choice([None, *ids]),
            }  # fmt: skip
            fields = {k: v for k, v in fields.items() if v is not None or rng.random() < 0.5}
            directory.append((kind, entity, orjson.dumps(fields).decode(), 1, 0))
    conn.executemany("INSERT INTO directory VALUES (?,?,?,?,?)", directory)

    def labels() -> str:
        return orjson.dumps(rng.sample(ids, rng.choice([0, 1, 1, 1, 2, 3]))).decode()

    for i in range(400):
        created = moment()
        conversation = (
            f"conv-{i}", rng.choice(ids), rng.choice(ids), text(), created, text(),
            rng.choice(["NEW", "PENDING", "RESOLVED", "=X"]), rng.choice([None, *ids]),
            rng.choice([None, *ids]), created if rng.random() < 0.8 else None,
            rng.randrange(5), rng.choice([None, 3]), moment(),
            rng.choice([None, 0, 499, 500, 1500, 7_654_321]),
            text(), text(), labels(), text(), rng.choice([None, 1, 5]), text(), text(), moment(),
            moment(), rng.choice([None, "AGENT", "SYSTEM"]), rng.choice([None, *ids]), text(),
            text(), text(), text(), rng.choice([None, 2500, 3_600_000]),
        )  # fmt: skip
        conn.execute(f"INSERT INTO conversations VALUES ({','.join('?' * 30)})", conversation)  # noqa: S608
        for _ in range(rng.randrange(3)):
            start = rng.randrange(1_000_000, 2_000_000)
            conn.execute(
                "INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?)",
                (f"conv-{i}", "a", None, start, start + rng.randrange(-500, 5000),
                 rng.choice([None, start + rng.randrange(0, 9999)]), rng.randrange(2),
                 rng.randrange(2), 0),
            )  # fmt: skip
        for j in range(2):
            message = (
                f"m-{i}-{j}{text() or ''}", f"conv-{rng.randrange(420)}", moment(),
                text(), rng.choice(["AGENT", "CONTACT", None]), rng.choice([None, *ids]),
                rng.choice([None, *ids]), text(), text(), text(), text(), text(), text(),
                labels(), moment(), moment(),
            )  # fmt: skip
            conn.execute(f"INSERT INTO messages VALUES ({','.join('?' * 16)})", message)  # noqa: S608
    return model


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("export_type", list(SQL_EXPORTS))
def test_nasty_values_give_the_same_bytes(
    tmp_path: Path, seed: int, zone: str, export_type: str
) -> None:
    model = nasty_model(tmp_path / "nasty.sqlite", seed)
    for variant in (
        {"timezone": zone, "from": "1960-01-01", "to": "1961-01-01"},
        {"timezone": zone, "from": "1969-06-01", "to": "1970-07-01"},
        {"timezone": zone, "from": "2026-01-01", "to": "2026-12-31", "locale": "es"},
        {"timezone": zone, "from": "2099-06-01", "to": "2100-07-01", "channels": ["a", "c,d"]},
    ):
        fast, general, ran = both(model, request_for(export_type, **variant))
        assert ran
        assert fast == general, variant


def test_a_nul_character_takes_the_general_path(tmp_path: Path) -> None:
    model = nasty_model(tmp_path / "nul.sqlite", 3)
    request = request_for("messages", **{"from": "2026-01-01", "to": "2026-12-31"})
    assert both(model, request)[2]
    row = model.conn.execute("SELECT * FROM messages LIMIT 1").fetchone()
    model.conn.execute("DELETE FROM messages WHERE message_id = ?", (row[0],))
    changed = (row[0], row[1], 1_767_225_600_000, *row[3:11], "with\x00nul", *row[12:])
    model.conn.execute(f"INSERT INTO messages VALUES ({','.join('?' * 16)})", changed)  # noqa: S608
    model._note_nul_texts("messages", row[0], changed)
    fast, general, ran = both(model, request)
    assert not ran
    assert fast == general
    assert b"with\x00nul" in fast
    model._apply_message(row[0], None)  # deleted: the SQL path again
    assert both(model, request)[2]


def test_existing_nul_texts_are_found_when_the_table_is_created(tmp_path: Path) -> None:
    model = nasty_model(tmp_path / "old.sqlite", 4)
    model.conn.execute("UPDATE messages SET content = ? WHERE rowid = 1", ("a\x00b",))
    model.conn.execute("DROP TABLE nul_texts")
    model.close()
    reopened = ReadModel(tmp_path / "old.sqlite", lock_max_ms=1)
    found = reopened.conn.execute("SELECT tbl FROM nul_texts").fetchall()
    assert found == [("messages",)]


def test_a_directory_value_of_another_type_takes_the_general_path(tmp_path: Path) -> None:
    model = nasty_model(tmp_path / "typed.sqlite", 5)
    model.conn.execute(
        "INSERT OR REPLACE INTO directory VALUES ('contact', 'a', ?, 1, 0)",
        (orjson.dumps({"primary_identifier": 7}).decode(),),
    )
    request = parse_request(request_for("messages", **{"from": "2026-01-01", "to": "2026-12-31"}))
    context = Context(model.conn, request, Directory.load(model.conn), AS_OF_MS)
    rows = BUILDERS["messages"](context)
    assert isinstance(rows, SqlRows)
    assert rows.write_records(io.BytesIO().write, request.spec, request.tz) is None


@pytest.mark.parametrize("export_type", list(SQL_EXPORTS))
def test_a_thousand_hostile_channel_ids_are_one_parameter_and_give_the_same_bytes(
    tmp_path: Path, export_type: str
) -> None:
    """The channel filter binds one JSON array (json_each): 1,000 ids (the request limit),
    among them ids with separators, quotes and astral characters, cost no more than a few
    and filter the same on both paths."""
    model = nasty_model(tmp_path / "channels.sqlite", 6)
    hostile = ["c,d", '"e"', "h|i", "l\\|m", "|", "\U00010400", " =j"]
    channels = hostile + [f"filler-{i}" for i in range(1000 - len(hostile))]
    variant = {"from": "2026-01-01", "to": "2026-12-31", "channels": channels}
    started = time.monotonic()
    fast, general, ran = both(model, request_for(export_type, **variant))
    assert time.monotonic() - started < 10
    assert ran and fast == general
    few, _, _ = both(model, request_for(export_type, **{**variant, "channels": hostile}))
    assert few == fast  # the fillers match nothing
    everything, _, _ = both(model, request_for(export_type, **{**variant, "channels": []}))
    assert everything.count(b"\r\n") > fast.count(b"\r\n") > 1  # filtered, not empty
