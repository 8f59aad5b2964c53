"""One definition of cell formatting (exporter.csvfmt.CELL_RULES): every form of every kind
(the checking formatter, the CSV writer's fast formatter, the SQL of exporter.sqlcsv, the
Parquet values' number rules) gives the same cell on the same values."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exporter import parquet
from exporter.csvfmt import (
    CELL_RULES,
    _fast_formatter,
    format_cell,
    hundredths,
    quote_field,
    whole_seconds,
)
from exporter.rows import to_ms
from exporter.schema import Kind
from exporter.sqlcsv import SQL_CELLS, cell_sql
from exporter.sqlrun import Job
from tests.unit.test_sqlcsv import NASTY, ZONES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MOMENTS = [
    EPOCH + timedelta(milliseconds=ms)
    for ms in (
        0, 999, 1000, -1, -1001, 1_793_577_600_000, 1_793_577_600_999, 1_711_846_800_000,
        1_730_595_600_000, 4_102_444_799_999, 4_102_444_800_000, -2_000_000_000_000,
        5_000_000_000_000, 1_004_400_000_123,
    )
]  # fmt: skip
MILLIS = [0, 1, 499, 500, 501, 1499, 1500, 2500, -1, -499, -500, -501, -1500, -2500, 10**15]
SAMPLES: dict[Kind, list[Any]] = {
    Kind.TEXT: [t for t in NASTY if t is not None],
    Kind.TIMESTAMP: MOMENTS + [m.astimezone(timezone(timedelta(hours=-3))) for m in MOMENTS],
    Kind.SECONDS: [*MILLIS, Fraction(1, 2), Fraction(2999, 2), Fraction(-2999, 2)],
    Kind.COUNT: [0, 1, -7, 2**62],
    Kind.DECIMAL2: [0, 1, -1, Fraction(1, 200), Fraction(-1, 200), Fraction(2, 3), 10**12],
    Kind.LIST: [[], [""], ["a"], ["a|b", "c\\d"], ["=x", "y"], [",", '"']],
    Kind.BOOL: [True, False],
}


def test_every_kind_has_one_rule_and_samples() -> None:
    assert set(CELL_RULES) == set(Kind) == set(SAMPLES)
    assert set(SQL_CELLS) == {kind for kind, rule in CELL_RULES.items() if rule.sql}


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("zone", ZONES)
def test_the_fast_formatter_gives_the_checking_formatters_text(kind: Kind, zone: str) -> None:
    tz = ZoneInfo(zone)
    fast = _fast_formatter(kind, tz)
    assert fast(None) == format_cell(kind, None, tz) == ""
    for value in SAMPLES[kind]:
        assert fast(value) == format_cell(kind, value, tz) == CELL_RULES[kind].check(value, tz)


def _sql_value(kind: Kind, value: Any) -> Any:
    """The read model's form of a value (timestamps are epoch ms)."""
    return to_ms(value) if kind is Kind.TIMESTAMP and value is not None else value


@pytest.mark.parametrize("kind", [kind for kind, rule in CELL_RULES.items() if rule.sql])
@pytest.mark.parametrize("zone", ZONES)
def test_the_sql_form_gives_the_checking_formatters_cell(kind: Kind, zone: str) -> None:
    tz = ZoneInfo(zone)
    conn = sqlite3.connect(":memory:")
    Job("cells", tz, (), "", "", {}, "").register(conn, [])
    values = [v for v in SAMPLES[kind] if not isinstance(v, Fraction)]  # (not in SQLite)
    for value in [None, *values]:
        query = f"SELECT {cell_sql(kind, ':v', tz)}"
        (cell,) = conn.execute(query, {"v": _sql_value(kind, value)}).fetchone()
        expected = quote_field(format_cell(kind, value, tz))
        assert ("" if cell is None else str(cell)) == expected, (kind, value)


def test_kinds_without_a_sql_form_say_so() -> None:
    for kind, rule in CELL_RULES.items():
        if not rule.sql:
            with pytest.raises(ValueError, match="no SQL form"):
                cell_sql(kind, "x", ZoneInfo("UTC"))


def test_parquet_uses_the_same_number_rules() -> None:
    for ms in SAMPLES[Kind.SECONDS]:
        assert parquet._seconds(ms) == whole_seconds(ms)
        assert str(whole_seconds(ms)) == format_cell(Kind.SECONDS, ms, ZoneInfo("UTC"))
    for value in SAMPLES[Kind.DECIMAL2]:
        decimal = parquet._decimal2(value)
        assert decimal is not None and decimal.scaleb(2) == hundredths(value)
        assert f"{decimal:f}" == format_cell(Kind.DECIMAL2, value, ZoneInfo("UTC"))
