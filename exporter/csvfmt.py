"""Cell formatting and streaming RFC 4180 CSV writing for the export contract (docs/exports.md)."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, BinaryIO, Final
from zoneinfo import ZoneInfo

from exporter.schema import ExportSpec, Kind
from streamproc import keys

if TYPE_CHECKING:
    pass

#: Text cells starting with one of these get a leading ``'`` (spreadsheet formula injection).
INJECTION_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
#: Formula starts found after the skipped leading characters (ASCII and full-width forms).
FORMULA_STARTS: Final = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
#: Unicode categories of the leading characters the guard looks past (spreadsheets may
#: ignore them): space and line/paragraph separators, control and format characters
#: (NBSP, BOM, zero-width space, bidi marks, ...).
SKIPPED_CATEGORIES: Final = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
#: Separator of list items; an item's own ``\\`` and ``|`` are escaped with ``\\``.
LIST_SEPARATOR: Final = "|"
#: Bytes accumulated before they are handed to the output stream.
FLUSH_BYTES: Final = 64 * 1024

_NEEDS_QUOTES: Final = frozenset(',"\r\n')
_CRLF: Final = b"\r\n"


def round_half_up(q: Fraction) -> int:
    """``q`` rounded to an integer, halves away from zero (ROUND_HALF_UP), exactly."""
    n, d = q.numerator, q.denominator  # d > 0
    if n >= 0:
        return (2 * n + d) // (2 * d)
    return -((-2 * n + d) // (2 * d))


def _exact(kind: Kind, value: Any) -> Fraction:
    # bool is an int subclass and float is inexact: both are programming errors here.
    if isinstance(value, bool) or not isinstance(value, int | Fraction):
        raise TypeError(f"{kind} cell needs an int or Fraction, got {type(value).__name__}")
    return Fraction(value)


def needs_guard(text: str) -> bool:
    """Whether a text cell gets the leading ``'``: it starts with tab or CR, or its first
    character that is not whitespace or invisible (SKIPPED_CATEGORIES) is one of
    ``= + - @`` (or their full-width forms)."""
    if not text:
        return False
    first = text[0]
    if "!" <= first <= "~":  # printable ASCII (the common case)
        return first in "=+-@"
    if first in "\t\r":
        return True
    for char in text:
        if unicodedata.category(char) not in SKIPPED_CATEGORIES:
            return char in FORMULA_STARTS
    return False


def _guard(text: str) -> str:
    return "'" + text if needs_guard(text) else text


escape_item = keys.escape
"""A list item as written in its cell: ``\\`` -> ``\\\\``, ``|`` -> ``\\|`` (as in table keys)."""


def join_list(items: Iterable[str]) -> str:
    """A list cell's text before the guard: escaped items joined by ``|``."""
    return LIST_SEPARATOR.join(escape_item(item) for item in items)


def split_list(text: str) -> list[str]:
    """The items of a list cell's text (the inverse of ``join_list``, guard removed
    first by the caller); the empty text is the empty list. The escaping is the one
    table keys use (``\\`` and ``|`` escaped with ``\\``), so one reader serves both."""
    return keys.split(text) if text else []


def whole_seconds(ms: Any) -> int:
    """A SECONDS value (int or Fraction of *milliseconds*) as whole seconds, halves away
    from zero (the CSV cell, the Parquet value and exporter.sqlcsv.seconds_sql agree)."""
    if type(ms) is int and ms >= 0:
        return (2 * ms + 1000) // 2000
    return round_half_up(_exact(Kind.SECONDS, ms) / 1000)


def hundredths(value: Any) -> int:
    """A DECIMAL2 value (int or Fraction) in hundredths, halves away from zero."""
    return round_half_up(_exact(Kind.DECIMAL2, value) * 100)


def _text(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, str):
        raise TypeError(f"text cell needs a str, got {type(value).__name__}")
    return _guard(value)


def _timestamp(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"timestamp cell needs a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp cell needs an aware datetime, got naive {value!r}")
    t = value.astimezone(tz)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"


def _seconds(value: Any, tz: ZoneInfo) -> str:
    return str(whole_seconds(value))


def _count(value: Any, tz: ZoneInfo) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"count cell needs an int, got {type(value).__name__}")
    return str(value)


def _decimal2(value: Any, tz: ZoneInfo) -> str:
    cents = hundredths(value)
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def _list(value: Any, tz: ZoneInfo) -> str:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"list cell needs a sequence of str, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"list cell items must be str, got {type(item).__name__}")
    return _guard(join_list(value))


def _bool(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, bool):
        raise TypeError(f"bool cell needs a bool, got {type(value).__name__}")
    return "true" if value else "false"


Formatter = Callable[[Any], str]


def _fast_text(tz: ZoneInfo, general: Formatter) -> Formatter:
    def text(value: Any) -> str:
        if type(value) is str:
            return "'" + value if needs_guard(value) else value
        return "" if value is None else general(value)

    return text


def _fast_timestamp(tz: ZoneInfo, general: Formatter) -> Formatter:
    def timestamp(value: Any) -> str:
        if type(value) is datetime and value.tzinfo is not None:
            return value.astimezone(tz).isoformat(" ", "seconds")[:19]
        return general(value)

    return timestamp


def _fast_seconds(tz: ZoneInfo, general: Formatter) -> Formatter:
    def seconds(value: Any) -> str:
        if type(value) is int and value >= 0:
            return str((2 * value + 1000) // 2000)  # ms -> s, half up (whole_seconds)
        return general(value)

    return seconds


def _fast_count(tz: ZoneInfo, general: Formatter) -> Formatter:
    def count(value: Any) -> str:
        return str(value) if type(value) is int else general(value)

    return count


@dataclass(frozen=True)
class CellRule:
    """How the cells of one kind are written, in every form there is of it.

    ``check``: the general formatter (a non-None value -> the cell's text; the wrong type
    raises); ``fast``: given the zone and the general formatter, a formatter with shortcuts
    for the common value types giving the same text (None: the general one serves);
    ``sql``: whether exporter.sqlcsv has a SQL form (``SQL_CELLS``, checked against this
    table at its import; tests/unit/test_cells.py compares all forms on samples)."""

    check: Callable[[Any, ZoneInfo], str]
    fast: Callable[[ZoneInfo, Formatter], Formatter] | None
    sql: bool


CELL_RULES: Final[Mapping[Kind, CellRule]] = MappingProxyType(
    {
        Kind.TEXT: CellRule(_text, _fast_text, sql=True),
        Kind.TIMESTAMP: CellRule(_timestamp, _fast_timestamp, sql=True),
        Kind.SECONDS: CellRule(_seconds, _fast_seconds, sql=True),
        Kind.COUNT: CellRule(_count, _fast_count, sql=True),
        Kind.DECIMAL2: CellRule(_decimal2, None, sql=False),
        Kind.LIST: CellRule(_list, None, sql=False),
        Kind.BOOL: CellRule(_bool, None, sql=False),
    }
)
"""The one definition of cell formatting per kind (docs/exports.md, "CSV format"):
format_cell, the CSV writer's fast formatters and exporter.sqlcsv's SQL all come from or
are checked against it; exporter.parquet shares its number rules (whole_seconds,
hundredths)."""

if set(CELL_RULES) != set(Kind):  # pragma: no cover - a new kind needs its rule
    raise AssertionError(f"cell kinds without a rule: {set(Kind) - set(CELL_RULES)}")


def format_cell(kind: Kind, value: Any, tz: ZoneInfo) -> str:
    """One cell's text (before CSV quoting); ``None`` is the empty cell for every kind.

    TEXT str (injection-guarded); TIMESTAMP aware datetime, written in ``tz`` as
    ``YYYY-MM-DD HH:MM:SS`` (sub-seconds truncated); SECONDS int or Fraction of
    *milliseconds* -> whole seconds, half up; COUNT int; DECIMAL2 int or Fraction -> two
    decimals, half up; LIST sequence of str, each with ``\\`` and ``|`` escaped by a
    ``\\``, joined with ``|`` (injection-guarded); BOOL
    ``true``/``false``. A value of the wrong type (or a naive datetime) raises.
    The rules are CELL_RULES'.
    """
    if value is None:
        return ""
    rule = CELL_RULES.get(kind)
    if rule is None:  # pragma: no cover - Kind is closed
        raise ValueError(f"unknown kind {kind!r}")
    return rule.check(value, tz)


def quote_field(text: str) -> str:
    """RFC 4180: quote only when the field holds a comma, a double quote, CR or LF."""
    if _NEEDS_QUOTES.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def encode_record(fields: Iterable[str]) -> bytes:
    """One CSV record, UTF-8, terminated by CRLF."""
    return ",".join(quote_field(f) for f in fields).encode("utf-8") + _CRLF


@dataclass(frozen=True)
class CsvResult:
    """What was written: data rows (header excluded), total bytes and their SHA-256 (hex)."""

    rows: int
    bytes: int
    sha256: str


class CsvSink:
    """Small write buffer in front of ``out`` that counts and hashes every byte."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._buf = bytearray()
        self._hash = hashlib.sha256()
        self.total = 0

    def write(self, data: bytes) -> None:
        if not self._buf and len(data) >= FLUSH_BYTES:  # large already: no copy
            self._put(data)
            return
        self._buf += data
        if len(self._buf) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        chunk = bytes(self._buf)
        self._buf.clear()
        self._put(chunk)

    def _put(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.total += len(chunk)
        view = memoryview(chunk)
        while view:
            n = self._out.write(view)
            view = view[len(view) if n is None else n :]

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _fast_formatter(kind: Kind, tz: ZoneInfo) -> Formatter:
    """``format_cell`` for one column, with fast paths for the common value types and the
    general (checking) path for everything else, so both give the same text (CELL_RULES)."""

    def general(value: Any) -> str:
        return "" if value is None else format_cell(kind, value, tz)

    fast = CELL_RULES[kind].fast
    return general if fast is None else fast(tz, general)


def write_rows(
    write: Callable[[bytes], object],
    spec: ExportSpec,
    rows: Iterable[Mapping[str, Any]],
    tz: ZoneInfo,
) -> int:
    """Write the CSV record (UTF-8, CRLF-terminated) of every row through ``write``, formatted
    in Python (CELL_RULES); their number."""
    plan = [(col.key, _fast_formatter(col.kind, tz)) for col in spec.columns]
    needs_quotes = _NEEDS_QUOTES.isdisjoint
    count = 0
    for row in rows:
        try:
            cells = [fmt(row[key]) for key, fmt in plan]
        except KeyError as exc:
            missing = next(c for c in spec.columns if c.key not in row)
            raise KeyError(
                f"{spec.id} row has no value for column {missing.key!r} ({missing.en!r})"
            ) from exc
        except (TypeError, ValueError) as exc:
            bad = _failing_column(spec, row, tz)
            raise type(exc)(f"{spec.id} column {bad!r}: {exc}") from exc
        line = ",".join(c if needs_quotes(c) else '"' + c.replace('"', '""') + '"' for c in cells)
        write(line.encode("utf-8") + _CRLF)
        count += 1
    return count


def _failing_column(spec: ExportSpec, row: Mapping[str, Any], tz: ZoneInfo) -> str:
    """The key of the first column whose value does not format (for the error message)."""
    for col in spec.columns:
        try:
            format_cell(col.kind, row[col.key], tz)
        except (TypeError, ValueError):
            return col.key
    return "?"
