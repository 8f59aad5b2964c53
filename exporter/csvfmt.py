"""Cell formatting and streaming RFC 4180 CSV writing for the export contract (docs/exports.md)."""

from __future__ import annotations

import codecs
import hashlib
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, BinaryIO, Final, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from exporter.schema import ExportSpec, Kind
from streamproc import keys

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


def format_cell(kind: Kind, value: Any, tz: ZoneInfo) -> str:
    """One cell's text (before CSV quoting); ``None`` is the empty cell for every kind.

    TEXT str (injection-guarded); TIMESTAMP aware datetime, written in ``tz`` as
    ``YYYY-MM-DD HH:MM:SS`` (sub-seconds truncated); SECONDS int or Fraction of
    *milliseconds* -> whole seconds, half up; COUNT int; DECIMAL2 int or Fraction -> two
    decimals, half up; LIST sequence of str, each with ``\\`` and ``|`` escaped by a
    ``\\``, joined with ``|`` (injection-guarded); BOOL
    ``true``/``false``. A value of the wrong type (or a naive datetime) raises.
    """
    if value is None:
        return ""
    if kind is Kind.TEXT:
        if not isinstance(value, str):
            raise TypeError(f"text cell needs a str, got {type(value).__name__}")
        return _guard(value)
    if kind is Kind.TIMESTAMP:
        if not isinstance(value, datetime):
            raise TypeError(f"timestamp cell needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamp cell needs an aware datetime, got naive {value!r}")
        t = value.astimezone(tz)
        return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if kind is Kind.SECONDS:
        return str(round_half_up(_exact(kind, value) / 1000))
    if kind is Kind.COUNT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"count cell needs an int, got {type(value).__name__}")
        return str(value)
    if kind is Kind.DECIMAL2:
        hundredths = round_half_up(_exact(kind, value) * 100)
        sign = "-" if hundredths < 0 else ""
        whole, frac = divmod(abs(hundredths), 100)
        return f"{sign}{whole}.{frac:02d}"
    if kind is Kind.LIST:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise TypeError(f"list cell needs a sequence of str, got {type(value).__name__}")
        for item in value:
            if not isinstance(item, str):
                raise TypeError(f"list cell items must be str, got {type(item).__name__}")
        return _guard(join_list(value))
    if kind is Kind.BOOL:
        if not isinstance(value, bool):
            raise TypeError(f"bool cell needs a bool, got {type(value).__name__}")
        return "true" if value else "false"
    raise ValueError(f"unknown kind {kind!r}")  # pragma: no cover - Kind is closed


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


class _Sink:
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


def _fast_formatter(kind: Kind, tz: ZoneInfo) -> Callable[[Any], str]:
    """``format_cell`` for one column, with fast paths for the common value types and the
    general (checking) path for everything else, so both give the same text."""

    def general(value: Any) -> str:
        return "" if value is None else format_cell(kind, value, tz)

    if kind is Kind.TEXT:

        def text(value: Any) -> str:
            if type(value) is str:
                return "'" + value if needs_guard(value) else value
            return "" if value is None else general(value)

        return text
    if kind is Kind.TIMESTAMP:

        def timestamp(value: Any) -> str:
            if type(value) is datetime and value.tzinfo is not None:
                return value.astimezone(tz).isoformat(" ", "seconds")[:19]
            return general(value)

        return timestamp
    if kind is Kind.SECONDS:

        def seconds(value: Any) -> str:
            if type(value) is int and value >= 0:
                return str((2 * value + 1000) // 2000)  # ms -> s, half up
            return general(value)

        return seconds
    if kind is Kind.COUNT:

        def count(value: Any) -> str:
            return str(value) if type(value) is int else general(value)

        return count
    return general


@runtime_checkable
class PreformattedRows(Protocol):
    """Rows that can also write their own CSV records (exporter.sqlcsv.SqlRows)."""

    def write_records(
        self,
        write: Callable[[bytes], object],
        spec: ExportSpec,
        tz: ZoneInfo,
        *,
        workers: int | None = None,
    ) -> int | None:
        """Write every data record (UTF-8, CRLF-terminated) of ``spec`` through ``write``
        and return their number, or return None without writing anything. ``workers``:
        how many processes may format them (None: the implementation's default)."""


def write_csv(
    out: BinaryIO,
    spec: ExportSpec,
    rows: Iterable[Mapping[str, Any]],
    *,
    locale: str,
    tz: ZoneInfo,
    workers: int | None = None,
    bom: bool = False,
) -> CsvResult:
    """Stream ``spec``'s header (in ``locale``) and ``rows`` to ``out`` as CSV (with
    ``bom``: after the UTF-8 byte-order mark, counted and hashed with the rest).

    Rows map column keys to values (see ``format_cell``); extra keys are ignored, a
    missing key raises KeyError naming the column. Memory stays constant: rows are
    consumed one at a time, bytes go out through a small buffer and are hashed as they
    go. ``out`` is flushed, not closed. Rows that can write their own records
    (``PreformattedRows``) do so, giving the same bytes, with up to ``workers``
    formatting processes (None: their default; see exporter.sqlrun).
    """
    sink = _Sink(out)
    if bom:
        sink.write(codecs.BOM_UTF8)
    sink.write(encode_record(spec.headers(locale)))
    if isinstance(rows, PreformattedRows):
        written = rows.write_records(sink.write, spec, tz, workers=workers)
        if written is not None:
            sink.flush()
            out.flush()
            return CsvResult(rows=written, bytes=sink.total, sha256=sink.hexdigest())
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
        sink.write(line.encode("utf-8") + _CRLF)
        count += 1
    sink.flush()
    out.flush()
    return CsvResult(rows=count, bytes=sink.total, sha256=sink.hexdigest())


def _failing_column(spec: ExportSpec, row: Mapping[str, Any], tz: ZoneInfo) -> str:
    """The key of the first column whose value does not format (for the error message)."""
    for col in spec.columns:
        try:
            format_cell(col.kind, row[col.key], tz)
        except (TypeError, ValueError):
            return col.key
    return "?"
