"""Export file formats (csv, csv.gz, parquet): the one place that picks the renderer.

Three choices are made here and nowhere else:

- which exports can have SQLite write their CSV records (``builder``: the exports of
  exporter.sqlcsv.SQL_EXPORTS get rows that can also write themselves, ``SqlRows``);
- who writes an export's CSV records (``write_records``): SQLite when the rows can, unless
  it declines (nothing written: a read-model text holding a NUL, a directory value the
  general path must refuse), else Python (exporter.csvfmt.write_rows), byte for byte the
  same; SQLite may use the worker processes of a FormatPool its owner passed down;
- which writer serves a request's format (``RENDERERS``): csv, csv.gz (the same CSV
  through gzip) or parquet (typed columns from the Python rows).
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final
from zoneinfo import ZoneInfo

from exporter.csvfmt import CsvResult, CsvSink, encode_record, write_rows
from exporter.schema import ExportSpec
from exporter.sqlcsv import SQL_EXPORTS, SqlRows
from exporter.sqlrun import FormatPool

if TYPE_CHECKING:
    from exporter.request import ExportRequest
    from exporter.rows import Context, Row


FORMATS: Final = ("csv", "csv.gz", "parquet")
"""Valid values of a request's ``format``; the first is the default."""
DEFAULT_FORMAT: Final = "csv"
#: Formats a ``bom`` applies to (the BOM is the first bytes of the CSV text).
BOM_FORMATS: Final = frozenset({"csv", "csv.gz"})
#: File name suffix of each format.
SUFFIXES: Final[Mapping[str, str]] = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet"}
#: Content-Type of each format (served by streamproc/web).
CONTENT_TYPES: Final[Mapping[str, str]] = {
    "csv": "text/csv; charset=utf-8",
    "csv.gz": "application/gzip",
    "parquet": "application/vnd.apache.parquet",
}
#: zlib level of csv.gz: 6 is gzip's own default; 9 costs ~2x the time for ~2% less.
GZIP_LEVEL: Final = 6


@dataclass(frozen=True)
class Written:
    """A finished export file: data rows, and size and SHA-256 (hex) of the file's bytes."""

    rows: int
    bytes: int
    sha256: str


class HashingWriter:
    """A binary sink in front of a file that counts and hashes every byte written."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.total = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self.total += len(view)
        self._out.write(view)
        return len(view)

    def flush(self) -> None:
        self._out.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    # What file-like consumers (gzip, pyarrow) ask of a writable stream.
    @property
    def closed(self) -> bool:
        return self._out.closed

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.total

    def close(self) -> None:
        """Closing is the owner's business (the file object passed in)."""


def suffix(fmt: str) -> str:
    """The file name suffix of ``fmt``."""
    return SUFFIXES[fmt]


def builder(
    export_id: str, general: Callable[[Context], Iterator[Row]]
) -> Callable[[Context], Iterable[Row]]:
    """The rows of ``export_id`` (exporter.rows.BUILDERS): the ``general`` builder's dicts;
    for an export with a SQL form, rows that can also write their own CSV records."""
    if export_id not in SQL_EXPORTS:
        return general
    return lambda ctx: SqlRows(ctx, export_id, general)


def write_records(
    write: Callable[[bytes], object],
    spec: ExportSpec,
    rows: Iterable[Mapping[str, Any]],
    tz: ZoneInfo,
    *,
    workers: FormatPool | None = None,
) -> int:
    """Write the CSV record of every row of ``spec`` through ``write``; their number. The
    records come from SQLite when ``rows`` can write themselves and do (with ``workers``,
    see exporter.sqlrun.FormatPool), else from Python: the same bytes either way."""
    if isinstance(rows, SqlRows):
        written = rows.write_records(write, spec, tz, workers=workers)
        if written is not None:
            return written
    return write_rows(write, spec, rows, tz)


def write_csv(
    out: BinaryIO,
    spec: ExportSpec,
    rows: Iterable[Mapping[str, Any]],
    *,
    locale: str,
    tz: ZoneInfo,
    workers: FormatPool | None = None,
    bom: bool = False,
) -> CsvResult:
    """Stream ``spec``'s header (in ``locale``) and ``rows`` to ``out`` as CSV (with
    ``bom``: after the UTF-8 byte-order mark, counted and hashed with the rest).

    Rows map column keys to values (see ``format_cell``); extra keys are ignored, a
    missing key raises KeyError naming the column. Memory stays constant: rows are
    consumed one at a time, bytes go out through a small buffer and are hashed as they
    go. ``out`` is flushed, not closed. Who writes the records (SQLite or ``write_rows``,
    the same bytes) is decided by :func:`write_records`; ``workers`` is the FormatPool
    whose processes SQLite may format with (exporter.sqlrun; None: no process, the
    caller's connection formats).
    """
    sink = CsvSink(out)
    if bom:
        sink.write(codecs.BOM_UTF8)
    sink.write(encode_record(spec.headers(locale)))
    count = write_records(sink.write, spec, rows, tz, workers=workers)
    sink.flush()
    out.flush()
    return CsvResult(rows=count, bytes=sink.total, sha256=sink.hexdigest())


Renderer = Callable[
    [BinaryIO, "ExportRequest", Iterable[Mapping[str, Any]], int | None, FormatPool | None],
    Written,
]
"""Writes an export's rows to a binary file in one format, and describes what it wrote."""


def _render_csv(
    out: BinaryIO,
    request: ExportRequest,
    rows: Iterable[Mapping[str, Any]],
    as_of_ms: int | None,
    workers: FormatPool | None,
) -> Written:
    result = _csv(out, request, rows, workers)  # (write_csv counts and hashes what it writes)
    return Written(rows=result.rows, bytes=result.bytes, sha256=result.sha256)


def _render_csv_gz(
    out: BinaryIO,
    request: ExportRequest,
    rows: Iterable[Mapping[str, Any]],
    as_of_ms: int | None,
    workers: FormatPool | None,
) -> Written:
    hashed = HashingWriter(out)
    with gzip.GzipFile(
        filename="", mode="wb", fileobj=hashed, compresslevel=GZIP_LEVEL, mtime=0
    ) as zipped:
        count = _csv(zipped, request, rows, workers).rows  # type: ignore[arg-type]
    return _hashed(hashed, count)


def _render_parquet(
    out: BinaryIO,
    request: ExportRequest,
    rows: Iterable[Mapping[str, Any]],
    as_of_ms: int | None,
    workers: FormatPool | None,
) -> Written:
    from exporter.parquet import write_parquet  # (pyarrow: loaded when first needed)

    hashed = HashingWriter(out)
    return _hashed(hashed, write_parquet(hashed, request, rows, as_of_ms=as_of_ms))


def _hashed(out: HashingWriter, rows: int) -> Written:
    out.flush()
    return Written(rows=rows, bytes=out.total, sha256=out.hexdigest())


RENDERERS: Final[Mapping[str, Renderer]] = {
    "csv": _render_csv,
    "csv.gz": _render_csv_gz,
    "parquet": _render_parquet,
}
"""The writer of each format (FORMATS): csv and csv.gz write the CSV records as
``write_records`` chooses; parquet converts the Python rows to typed columns."""


def write_export(
    path: Path,
    request: ExportRequest,
    rows: Iterable[Mapping[str, Any]],
    *,
    as_of_ms: int | None = None,
    workers: FormatPool | None = None,
) -> Written:
    """Write ``rows`` of ``request`` to ``path`` in the request's format, atomically
    (a ``.partial`` file renamed into place), and describe the file.

    - ``csv``: write_csv (here), byte-identical to the CSV of earlier versions
      (with ``bom``: the UTF-8 BOM ``EF BB BF`` first), its records as ``write_records``
      chooses, formatted with the ``workers`` of the caller's pool if any;
    - ``csv.gz``: the same CSV bytes through gzip (level 6, no name or time in the header,
      so the same CSV always gives the same file);
    - ``parquet``: typed columns (exporter.parquet).

    ``bytes``/``sha256`` are those of the file written (what a download must match).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    render = RENDERERS.get(request.format)
    if render is None:  # pragma: no cover - parse_request admits FORMATS only
        raise ValueError(f"unknown format {request.format!r}")
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as raw:
            written = render(raw, request, rows, as_of_ms, workers)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _csv(
    out: BinaryIO,
    request: ExportRequest,
    rows: Iterable[Mapping[str, Any]],
    workers: FormatPool | None,
) -> CsvResult:
    spec, locale, tz, bom = request.spec, request.locale, request.tz, request.bom
    return write_csv(out, spec, rows, locale=locale, tz=tz, workers=workers, bom=bom)
