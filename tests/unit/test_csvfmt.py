"""CSV cells and writer: every kind, exact half-up rounding, injection, RFC 4180, streaming."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from exporter.csvfmt import (
    FLUSH_BYTES,
    CsvResult,
    format_cell,
    join_list,
    round_half_up,
    split_list,
)
from exporter.formats import write_csv
from exporter.schema import EXPORTS, Column, ExportSpec, Kind

UTC_TZ = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")


def cell(kind: Kind, value: Any, tz: ZoneInfo = UTC_TZ) -> str:
    return format_cell(kind, value, tz)


@pytest.mark.parametrize("kind", list(Kind))
def test_none_is_empty_for_every_kind(kind: Kind) -> None:
    assert cell(kind, None) == ""


# --- SECONDS: milliseconds in, whole seconds out, half up, exact ----------------------


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0"),
        (499, "0"),
        (500, "1"),  # 0.5 s
        (1000, "1"),
        (1499, "1"),
        (Fraction(2999, 2), "1"),  # 1.4995 s
        (1500, "2"),
        (2500, "3"),  # 2.5 s: half up, not banker's
        (3500, "4"),
        (Fraction(1, 3), "0"),
        (Fraction(3001, 2), "2"),  # 1.5005 s
        (Fraction(1000, 3), "0"),  # 0.333.. s
        (Fraction(5000, 3), "2"),  # 1.666.. s
        (Fraction(4999999, 10000), "0"),  # 0.4999999 s
        (86_400_000 * 400, "34560000"),
        (10**20 + 500, str(10**17 + 1)),  # big ints stay exact
        (-499, "0"),
        (-500, "-1"),  # away from zero
        (-1499, "-1"),
        (-1500, "-2"),
        (Fraction(-2999, 2), "-1"),
    ],
)
def test_seconds(ms: int | Fraction, text: str) -> None:
    assert cell(Kind.SECONDS, ms) == text


@pytest.mark.parametrize("bad", [1.5, True, "100", Fraction(1, 2) * 1.0])
def test_seconds_rejects_inexact_or_wrong_types(bad: Any) -> None:
    with pytest.raises(TypeError, match="int or Fraction"):
        cell(Kind.SECONDS, bad)


@pytest.mark.parametrize(
    ("q", "n"),
    [
        (Fraction(1, 2), 1),
        (Fraction(-1, 2), -1),
        (Fraction(3, 2), 2),
        (Fraction(5, 2), 3),
        (Fraction(-5, 2), -3),
        (Fraction(7, 3), 2),
        (Fraction(-7, 3), -2),
        (Fraction(0), 0),
    ],
)
def test_round_half_up(q: Fraction, n: int) -> None:
    assert round_half_up(q) == n


# --- DECIMAL2 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0.00"),
        (5, "5.00"),
        (100, "100.00"),
        (Fraction(1, 8), "0.13"),  # 0.125 -> half up
        (Fraction(200, 3), "66.67"),
        (Fraction(100, 3), "33.33"),
        (Fraction(1, 200), "0.01"),  # 0.005
        (Fraction(1, 201), "0.00"),
        (Fraction(12345, 1000), "12.35"),  # 12.345 (a float would say 12.34)
        (Fraction(3, 2), "1.50"),
        (Fraction(-1, 8), "-0.13"),
        (Fraction(-1, 1000), "0.00"),  # no negative zero
        (Fraction(-250, 1), "-250.00"),
    ],
)
def test_decimal2(value: int | Fraction, text: str) -> None:
    assert cell(Kind.DECIMAL2, value) == text


@pytest.mark.parametrize("bad", [0.125, False, "1.00"])
def test_decimal2_rejects_inexact_or_wrong_types(bad: Any) -> None:
    with pytest.raises(TypeError):
        cell(Kind.DECIMAL2, bad)


# --- COUNT, BOOL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"), [(0, "0"), (7, "7"), (12345678901234, "12345678901234")]
)
def test_count(value: int, text: str) -> None:
    assert cell(Kind.COUNT, value) == text


@pytest.mark.parametrize("bad", [True, 1.0, "3", Fraction(1, 2)])
def test_count_rejects_non_int(bad: Any) -> None:
    with pytest.raises(TypeError, match="count cell needs an int"):
        cell(Kind.COUNT, bad)


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (False, "false")])
def test_bool(value: bool, text: str) -> None:
    assert cell(Kind.BOOL, value) == text


@pytest.mark.parametrize("bad", [1, 0, "true"])
def test_bool_rejects_non_bool(bad: Any) -> None:
    with pytest.raises(TypeError, match="bool cell needs a bool"):
        cell(Kind.BOOL, bad)


# --- TEXT and LIST: formula-injection guard -------------------------------------------


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_text_injection_prefix(prefix: str) -> None:
    assert cell(Kind.TEXT, prefix + "SUM(A1)") == "'" + prefix + "SUM(A1)"


@pytest.mark.parametrize(
    "text",
    ["", "hello", "a=b", "'=1", "1+1", "ID-7", "é=", "Sí, claro", "  ", " x=1", "\u00a0", "\\=1"],
)
def test_text_without_injection_prefix_unchanged(text: str) -> None:
    assert cell(Kind.TEXT, text) == text


@pytest.mark.parametrize(
    "lead",
    [
        " ",
        "  ",
        "\u00a0",
        "\ufeff",
        "\u200b",
        "\u200e",
        "\u2028",
        "\u3000",
        "\n",
        "\x00",
        " \ufeff\u200b",
    ],
)
@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20"])
def test_guard_looks_past_whitespace_and_invisible_characters(lead: str, prefix: str) -> None:
    """Spreadsheets may skip leading blanks, NBSP, BOM or zero-width characters before a
    formula: the guard skips them too (Unicode Zs, Zl, Zp, Cc, Cf)."""
    assert cell(Kind.TEXT, lead + prefix + "1") == "'" + lead + prefix + "1"
    assert cell(Kind.LIST, [lead + prefix + "1", "b"]) == "'" + lead + prefix + "1|b"


@pytest.mark.parametrize(
    ("first", "second"),
    [(["a|b", "c"], ["a", "b|c"]), (["a\\", "b"], ["a", "\\b"]), (["a\\|b"], ["a\\", "b"]),
     (["", "x"], ["|x"]), (["a|", "b"], ["a", "|b"])],
)  # fmt: skip
def test_list_encoding_is_unambiguous(first: list[str], second: list[str]) -> None:
    one, two = cell(Kind.LIST, first), cell(Kind.LIST, second)
    assert one != two
    assert split_list(one) == first and split_list(two) == second


@given(st.lists(st.text(alphabet="ab|\\", max_size=4), min_size=1, max_size=4))
def test_list_encoding_round_trips(items: list[str]) -> None:
    assume(items != [""])  # the one list written like the empty list (documented)
    assert split_list(join_list(items)) == items
    assert split_list(cell(Kind.LIST, items)) == items  # (no item can start a formula here)


def test_text_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="text cell needs a str"):
        cell(Kind.TEXT, 42)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ([], ""),
        (["a"], "a"),
        (["t1", "t2", "t3"], "t1|t2|t3"),
        (("x", "y"), "x|y"),
        (["=a", "b"], "'=a|b"),  # guard on the whole cell
        (["a", "=b"], "a|=b"),
        (["-1"], "'-1"),
        (["@x", "+y"], "'@x|+y"),
    ],
)
def test_list(value: list[str] | tuple[str, ...], text: str) -> None:
    assert cell(Kind.LIST, value) == text


@pytest.mark.parametrize("bad", ["ab", b"ab", [1, 2], {"a"}])
def test_list_rejects_non_sequences_of_str(bad: Any) -> None:
    with pytest.raises(TypeError, match="list cell"):
        cell(Kind.LIST, bad)


# --- TIMESTAMP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "tz", "text"),
    [
        (datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC), UTC_TZ, "2026-03-01 12:00:05"),
        (datetime(2026, 3, 1, 12, 0, 5, 999999, tzinfo=UTC), UTC_TZ, "2026-03-01 12:00:05"),
        (datetime(2026, 1, 1, 3, 0, tzinfo=UTC), NY, "2025-12-31 22:00:00"),
        (datetime(2026, 7, 1, 3, 0, tzinfo=UTC), NY, "2026-06-30 23:00:00"),
        (datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5))), UTC_TZ, "2025-12-31 19:00:00"),
        (datetime(2026, 6, 1, 12, tzinfo=UTC), ZoneInfo("Asia/Kolkata"), "2026-06-01 17:30:00"),
    ],
)
def test_timestamp(instant: datetime, tz: ZoneInfo, text: str) -> None:
    assert cell(Kind.TIMESTAMP, instant, tz) == text


@pytest.mark.parametrize(
    ("utc_hms", "local"),
    [
        # 2026-11-01: America/New_York falls back at 06:00 UTC (02:00 EDT -> 01:00 EST).
        ((4, 59, 59), "2026-11-01 00:59:59"),
        ((5, 0, 0), "2026-11-01 01:00:00"),  # EDT
        ((5, 30, 0), "2026-11-01 01:30:00"),  # EDT
        ((5, 59, 59), "2026-11-01 01:59:59"),  # EDT
        ((6, 0, 0), "2026-11-01 01:00:00"),  # EST: the hour repeats
        ((6, 30, 0), "2026-11-01 01:30:00"),  # EST
        ((7, 0, 0), "2026-11-01 02:00:00"),
    ],
)
def test_timestamp_new_york_fall_back(utc_hms: tuple[int, int, int], local: str) -> None:
    instant = datetime(2026, 11, 1, *utc_hms, tzinfo=UTC)
    assert cell(Kind.TIMESTAMP, instant, NY) == local


def test_timestamp_new_york_spring_forward() -> None:
    # 2026-03-08 07:00 UTC: 02:00 EST -> 03:00 EDT, so 02:xx never appears.
    before = datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC)
    assert cell(Kind.TIMESTAMP, before, NY) == "2026-03-08 01:59:59"
    assert cell(Kind.TIMESTAMP, before + timedelta(seconds=1), NY) == "2026-03-08 03:00:00"


def test_timestamp_naive_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        cell(Kind.TIMESTAMP, datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_timestamp_rejects_non_datetime() -> None:
    with pytest.raises(TypeError, match="timestamp cell needs a datetime"):
        cell(Kind.TIMESTAMP, "2026-01-01 00:00:00")


# --- write_csv ----------------------------------------------------------------------------

SPEC = ExportSpec(
    id="demo",
    title="Demo",
    description="A test export.",
    columns=(
        Column("name", "Name", "Nombre", Kind.TEXT),
        Column("at", "At", "En", Kind.TIMESTAMP),
        Column("secs", "Time (s)", "Tiempo (s)", Kind.SECONDS),
        Column("n", "Count", "Número, total", Kind.COUNT),
        Column("pct", "Ratio", "Proporción", Kind.DECIMAL2),
        Column("tags", "Tags", "Etiquetas", Kind.LIST),
        Column("on", "Active", "Activo", Kind.BOOL),
    ),
    needs_range=True,
)


def row(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "x",
        "at": None,
        "secs": None,
        "n": None,
        "pct": None,
        "tags": None,
        "on": None,
    }
    base.update(kw)
    return base


def write(rows: Any, locale: str = "en", tz: ZoneInfo = UTC_TZ) -> tuple[bytes, CsvResult]:
    buf = io.BytesIO()
    result = write_csv(buf, SPEC, rows, locale=locale, tz=tz)
    return buf.getvalue(), result


def test_header_only_when_no_rows() -> None:
    data, result = write([])
    assert data == b"Name,At,Time (s),Count,Ratio,Tags,Active\r\n"
    assert result == CsvResult(rows=0, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def test_header_locale_es_utf8_no_bom_and_quoted_when_needed() -> None:
    data, _ = write([], locale="es")
    assert data == 'Nombre,En,Tiempo (s),"Número, total",Proporción,Etiquetas,Activo\r\n'.encode()
    assert not data.startswith(b"\xef\xbb\xbf")


def test_unknown_locale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown locale"):
        write([], locale="fr")


def test_full_row() -> None:
    r = row(
        name="Ana",
        at=datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
        secs=Fraction(2500),
        n=3,
        pct=Fraction(1, 8),
        tags=["a", "b"],
        on=True,
    )
    data, result = write([r, row()])
    assert data.split(b"\r\n")[1:] == [
        b"Ana,2026-02-03 04:05:06,3,3,0.13,a|b,true",
        b"x,,,,,,",
        b"",
    ]
    assert result.rows == 2


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ('"', '""""'),
        ("line1\nline2", '"line1\nline2"'),
        ("line1\r\nline2", '"line1\r\nline2"'),
        ("a\rb", '"a\rb"'),
        ("\rstart", '"\'\rstart"'),  # guarded, then quoted for the CR
        ("=1,2", '"\'=1,2"'),
        ("plain text; ok", "plain text; ok"),
        ("tab\tinside", "tab\tinside"),
        ("ñandú 🦤", "ñandú 🦤"),
    ],
)
def test_rfc4180_quoting(value: str, field: str) -> None:
    data, _ = write([row(name=value)])
    assert data == b"Name,At,Time (s),Count,Ratio,Tags,Active\r\n" + (field + ",,,,,,\r\n").encode(
        "utf-8"
    )


def test_list_quoted_when_an_item_has_a_comma() -> None:
    data, _ = write([row(tags=["a,b", "c"])])
    assert data.endswith(b',,,,,"a,b|c",\r\n')


def test_every_line_ends_with_crlf() -> None:
    data, _ = write([row(name=f"r{i}") for i in range(5)])
    assert data.count(b"\r\n") == 6
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_result_matches_bytes_written() -> None:
    rows = [row(name=f"n{i}", n=i, tags=["t"] * (i % 3)) for i in range(1000)]
    data, result = write(rows)
    assert result.rows == 1000
    assert result.bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_timestamps_written_in_request_zone_across_dst() -> None:
    rows = [row(at=datetime(2026, 11, 1, h, 30, tzinfo=UTC)) for h in (4, 5, 6, 7)]
    data, _ = write(rows, tz=NY)
    stamps = [line.split(b",")[1] for line in data.split(b"\r\n")[1:-1]]
    assert stamps == [
        b"2026-11-01 00:30:00",
        b"2026-11-01 01:30:00",
        b"2026-11-01 01:30:00",
        b"2026-11-01 02:30:00",
    ]


def test_missing_key_names_the_column() -> None:
    r = row()
    del r["pct"]
    with pytest.raises(KeyError, match=r"'pct'.*'Ratio'"):
        write([r])


def test_bad_value_names_the_column() -> None:
    with pytest.raises(TypeError, match=r"demo column 'secs'"):
        write([row(secs=1.5)])


def test_extra_keys_ignored() -> None:
    data, _ = write([{**row(), "unused": object()}])
    assert data.endswith(b"x,,,,,,\r\n")


class _RecordingStream(io.RawIOBase):
    """Accepts at most ``limit`` bytes per write call; records call sizes."""

    def __init__(self, limit: int | None = None) -> None:
        self.data = bytearray()
        self.sizes: list[int] = []
        self.limit = limit

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        chunk = bytes(b)[: self.limit] if self.limit else bytes(b)
        self.data += chunk
        self.sizes.append(len(chunk))
        return len(chunk)


def test_streams_in_bounded_chunks_while_consuming_rows_lazily() -> None:
    stream = _RecordingStream()
    n_rows = 20_000
    seen_writes_at: list[int] = []

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(n_rows):
            seen_writes_at.append(len(stream.sizes))
            yield row(name=f"row-{i:06d} with some padding text", n=i)

    result = write_csv(stream, SPEC, rows(), locale="en", tz=UTC_TZ)  # type: ignore[arg-type]
    assert result.rows == n_rows
    assert result.bytes == len(stream.data) > 10 * FLUSH_BYTES
    assert result.sha256 == hashlib.sha256(stream.data).hexdigest()
    assert max(stream.sizes) < FLUSH_BYTES + 1024  # nothing like the whole file at once
    assert seen_writes_at[n_rows // 2] > 0  # output started before the rows ran out


def test_partial_writes_are_completed() -> None:
    stream = _RecordingStream(limit=7)
    result = write_csv(stream, SPEC, [row(name="abcdefghij" * 5)], locale="en", tz=UTC_TZ)  # type: ignore[arg-type]
    buf = io.BytesIO()
    write_csv(buf, SPEC, [row(name="abcdefghij" * 5)], locale="en", tz=UTC_TZ)
    assert bytes(stream.data) == buf.getvalue()
    assert result.bytes == len(stream.data)
    assert max(stream.sizes) <= 7


@pytest.mark.parametrize("export_id", list(EXPORTS))
def test_every_export_writes_an_all_empty_row(export_id: str) -> None:
    spec = EXPORTS[export_id]
    buf = io.BytesIO()
    result = write_csv(buf, spec, [dict.fromkeys(spec.keys)], locale="es", tz=NY)
    lines = buf.getvalue().split(b"\r\n")
    assert lines[1] == b"," * (len(spec.columns) - 1)
    assert result.rows == 1
