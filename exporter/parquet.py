"""Parquet rendering of an export: typed Arrow columns from the same rows as the CSV."""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from exporter.csvfmt import hundredths, whole_seconds
from exporter.rows import to_ms
from exporter.schema import ExportSpec, Kind

if TYPE_CHECKING:
    from exporter.request import ExportRequest

#: Rows converted from Python values to Arrow at a time (Python row dicts are ~100x the
#: size of their Arrow form: this bounds the memory of an export).
BATCH_ROWS: Final = 10_000
#: Rows per Parquet row group (batches are kept in Arrow form until a group is full).
ROW_GROUP_ROWS: Final = 100_000
#: Key-value metadata keys of the file (all prefixed, values UTF-8 text).
META_PREFIX: Final = "streamproc."

_DECIMAL2: Final = pa.decimal128(18, 2)
ARROW_TYPES: Final[Mapping[Kind, pa.DataType]] = {
    Kind.TEXT: pa.string(),
    Kind.TIMESTAMP: pa.timestamp("ms", tz="UTC"),
    Kind.SECONDS: pa.int64(),
    Kind.COUNT: pa.int64(),
    Kind.DECIMAL2: _DECIMAL2,
    Kind.LIST: pa.list_(pa.string()),
    Kind.BOOL: pa.bool_(),
}
"""The Arrow type of each cell kind. TIMESTAMP: UTC instants to the millisecond (the CSV
shows them in the request's zone, truncated to the second); SECONDS: whole seconds, half
up, as in the CSV; DECIMAL2: exact, two decimals, half up, as in the CSV; LIST: the items,
not ``|``-joined. Text is stored as it is: the CSV's formula guard (a leading ``'``) is a
spreadsheet concern and not part of the value."""


def _seconds(value: Any) -> int | None:
    return None if value is None else whole_seconds(value)


def _timestamp(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise TypeError(f"timestamp cell needs an aware datetime, got {value!r}")
    return to_ms(value)


def _decimal2(value: Any) -> decimal.Decimal | None:
    if value is None:
        return None
    return decimal.Decimal(hundredths(value)).scaleb(-2)


def _list(value: Any) -> list[str] | None:
    if isinstance(value, str | bytes):  # a sequence, but never a list of names
        raise TypeError(f"list cell needs a sequence of str, got {type(value).__name__}")
    return list(value)


_CONVERT: Final[Mapping[Kind, Callable[[Any], Any] | None]] = {
    Kind.TEXT: None,  # as it is (pyarrow checks the type)
    Kind.TIMESTAMP: _timestamp,
    Kind.SECONDS: _seconds,
    Kind.COUNT: None,
    Kind.DECIMAL2: _decimal2,
    Kind.LIST: _list,
    Kind.BOOL: None,
}


def arrow_schema(spec: ExportSpec, request: ExportRequest, as_of_ms: int | None) -> pa.Schema:
    """The file's schema: one field per column, named by its key (stable snake_case, the
    same in every locale), its header in the request's locale as field metadata, and the
    request (type, zone, range, locale, headers, as_of) as key-value metadata."""
    headers = spec.headers(request.locale)
    fields = [
        pa.field(col.key, ARROW_TYPES[col.kind], metadata={"header": header, "kind": col.kind})
        for col, header in zip(spec.columns, headers, strict=True)
    ]
    meta = {
        "export_type": spec.id,
        "timezone": request.tz_name,
        "from": "" if request.start is None else request.start.isoformat(),
        "to": "" if request.end is None else request.end.isoformat(),
        "channels": orjson.dumps(sorted(request.channels)).decode(),
        "locale": request.locale,
        "headers": orjson.dumps(headers).decode(),
        "as_of_ms": "" if as_of_ms is None else str(as_of_ms),
        "request_id": request.request_id,
    }
    return pa.schema(fields, metadata={META_PREFIX + k: v for k, v in meta.items()})


def write_parquet(
    out: Any,
    request: ExportRequest,
    rows: Iterable[Mapping[str, Any]],
    *,
    as_of_ms: int | None = None,
) -> int:
    """Write ``rows`` to the binary stream ``out`` as one Parquet file; returns the row
    count. Rows are converted ``BATCH_ROWS`` at a time and written in row groups of
    ``ROW_GROUP_ROWS`` (memory does not grow with the export). A value of the wrong
    type raises, naming the column."""
    spec = request.spec
    schema = arrow_schema(spec, request, as_of_ms)
    plan = [(col.key, _CONVERT[col.kind], ARROW_TYPES[col.kind]) for col in spec.columns]
    count = 0
    with pq.ParquetWriter(out, schema, compression="snappy") as writer:
        group: list[pa.RecordBatch] = []
        grouped = 0
        batch: list[Mapping[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                group.append(_record_batch(spec, schema, plan, batch))
                grouped += len(batch)
                batch = []
                if grouped >= ROW_GROUP_ROWS:
                    writer.write_table(pa.Table.from_batches(group, schema=schema))
                    count += grouped
                    group, grouped = [], 0
        if batch or not count + grouped:
            group.append(_record_batch(spec, schema, plan, batch))
            grouped += len(batch)
        if group:
            writer.write_table(pa.Table.from_batches(group, schema=schema))
            count += grouped
    return count


def _record_batch(
    spec: ExportSpec,
    schema: pa.Schema,
    plan: list[tuple[str, Callable[[Any], Any] | None, pa.DataType]],
    rows: list[Mapping[str, Any]],
) -> pa.RecordBatch:
    arrays = []
    for key, convert, arrow_type in plan:
        try:
            values = [row[key] for row in rows]
            if convert is not None:
                values = [None if v is None else convert(v) for v in values]
            arrays.append(pa.array(values, type=arrow_type))
        except KeyError:
            raise KeyError(f"{spec.id} row has no value for column {key!r}") from None
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise TypeError(f"{spec.id} column {key!r}: {exc}") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
