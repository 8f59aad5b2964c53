"""Export formats: csv unchanged, csv.gz = gzip(csv), BOM, and Parquet = the CSV's rows, typed."""

from __future__ import annotations

import gzip
import hashlib
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exporter import parquet
from exporter.csvfmt import INJECTION_PREFIXES, encode_record
from exporter.formats import write_export
from exporter.parquet import ARROW_TYPES
from exporter.request import BadRequest, ExportRequest, parse_request
from exporter.rows import BUILDERS, Context, Directory, at, to_ms
from exporter.schema import EXPORTS, Kind
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import export_csv, ingest, load_model

VARIANTS = [
    {"timezone": "UTC"},
    {"timezone": "America/New_York", "locale": "es"},
    {"timezone": "Europe/Madrid", "channels": ["channel-02", "channel-05"]},
]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, datetime]:
    """Two simulated days (shuffled, duplicated, malformed) in a read model."""
    lines = list(simulate(SimulationConfig(seed=11, days=2, conversations=60)))
    stores, _ = ingest(lines)
    model = load_model(stores, tmp_path_factory.mktemp("rm") / "readmodel.sqlite")
    as_of = at(model.watermark_ms())
    assert as_of is not None
    return model, as_of


def request_for(export_type: str, **extra: Any) -> ExportRequest:
    obj: dict[str, Any] = {"request_id": "t", "export_type": export_type, **extra}
    if EXPORTS[export_type].needs_range:
        obj.setdefault("from", "2026-11-02")
        obj.setdefault("to", "2026-11-03")
    return parse_request(obj)


def write(model: Any, request: ExportRequest, as_of: datetime, path: Path) -> Any:
    context = Context(model.conn, request, Directory.load(model.conn), to_ms(as_of))
    return write_export(
        path, request, BUILDERS[request.export_type](context), as_of_ms=to_ms(as_of)
    )


def _guard(text: str) -> str:
    return "'" + text if text.startswith(INJECTION_PREFIXES) else text


def csv_cell(kind: Kind, value: Any, request: ExportRequest) -> str:
    """A Parquet value as the CSV shows it (docs/exports.md, "CSV format")."""
    if value is None:
        return ""
    if kind is Kind.TEXT:
        return _guard(value)
    if kind is Kind.TIMESTAMP:
        assert value.utcoffset().total_seconds() == 0  # stored as UTC
        return value.astimezone(request.tz).strftime("%Y-%m-%d %H:%M:%S")
    if kind in (Kind.SECONDS, Kind.COUNT):
        assert type(value) is int
        return str(value)
    if kind is Kind.DECIMAL2:
        assert isinstance(value, Decimal) and value.as_tuple().exponent == -2
        return str(value)
    if kind is Kind.LIST:
        assert isinstance(value, list)
        return _guard("|".join(value))
    if kind is Kind.BOOL:
        return "true" if value else "false"
    raise AssertionError(kind)


@pytest.mark.parametrize("variant", VARIANTS, ids=["utc", "new-york-es", "madrid-channels"])
@pytest.mark.parametrize("export_type", list(EXPORTS))
def test_parquet_holds_the_csv_rows_typed(
    simulated: tuple[Any, datetime], export_type: str, variant: dict[str, Any], tmp_path: Path
) -> None:
    model, as_of = simulated
    csv_request = request_for(export_type, **variant)
    csv_bytes = export_csv(model, csv_request, as_of)
    parquet_request = request_for(export_type, **variant, format="parquet")
    written = write(model, parquet_request, as_of, tmp_path / "x.parquet")
    data = (tmp_path / "x.parquet").read_bytes()
    assert (written.bytes, written.sha256) == (len(data), hashlib.sha256(data).hexdigest())

    table = pq.read_table(tmp_path / "x.parquet")
    spec = EXPORTS[export_type]
    # Typed columns, named by key; header (in the locale) and the request in metadata.
    assert table.schema.names == list(spec.keys)
    for column, header in zip(spec.columns, spec.headers(csv_request.locale), strict=True):
        field = table.schema.field(column.key)
        assert field.type == ARROW_TYPES[column.kind]
        assert field.metadata[b"header"].decode() == header
    meta = table.schema.metadata
    assert meta[b"streamproc.timezone"].decode() == csv_request.tz_name
    assert meta[b"streamproc.export_type"].decode() == export_type
    assert table.schema.field(spec.columns[0].key).type is not None

    lines = csv_bytes.split(b"\r\n")
    assert lines[-1] == b""
    header, body = lines[0], lines[1:-1]
    assert header == encode_record(spec.headers(csv_request.locale))[:-2]
    assert table.num_rows == written.rows == len(body)
    rows = table.to_pylist()
    for number, (row, line) in enumerate(zip(rows, body, strict=True)):
        cells = [csv_cell(c.kind, row[c.key], csv_request) for c in spec.columns]
        assert encode_record(cells)[:-2] == line, f"row {number} differs"
    # A data-bearing check: the simulated range gives rows for the range-bound exports.
    if export_type in ("messages", "conversations_resolved", "agent_presence"):
        assert len(body) > 10


def test_parquet_keeps_types_of_counts_timestamps_and_lists(
    simulated: tuple[Any, datetime], tmp_path: Path
) -> None:
    model, as_of = simulated
    request = request_for("conversations_resolved", format="parquet")
    write(model, request, as_of, tmp_path / "r.parquet")
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.schema.field("number_of_inbound_messages").type == pa.int64()
    assert table.schema.field("resolved_at").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("topic_ids").type == pa.list_(pa.string())
    resolved = [v for v in table.column("resolved_at").to_pylist() if v is not None]
    assert resolved and all(request.start <= v < request.end for v in resolved)  # type: ignore[operator]
    assert any(v for v in table.column("topic_ids").to_pylist())


@pytest.mark.parametrize("export_type", ["messages", "agent_metrics", "conversations_open"])
def test_csv_gz_is_the_gzipped_csv_and_csv_is_unchanged(
    simulated: tuple[Any, datetime], export_type: str, tmp_path: Path
) -> None:
    model, as_of = simulated
    reference = export_csv(model, request_for(export_type, locale="es"), as_of)
    plain = write(model, request_for(export_type, locale="es"), as_of, tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_bytes() == reference
    assert plain.sha256 == hashlib.sha256(reference).hexdigest()
    zipped = write(
        model, request_for(export_type, locale="es", format="csv.gz"), as_of, tmp_path / "a.csv.gz"
    )
    data = (tmp_path / "a.csv.gz").read_bytes()
    assert gzip.decompress(data) == reference
    assert (zipped.bytes, zipped.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert zipped.rows == plain.rows
    # Deterministic: no name or time in the gzip header.
    write(
        model, request_for(export_type, locale="es", format="csv.gz"), as_of, tmp_path / "b.csv.gz"
    )
    assert (tmp_path / "b.csv.gz").read_bytes() == data


def test_bom_prefixes_the_csv_only_when_asked(
    simulated: tuple[Any, datetime], tmp_path: Path
) -> None:
    model, as_of = simulated
    reference = export_csv(model, request_for("agent_metrics", locale="es"), as_of)
    write(model, request_for("agent_metrics", locale="es", bom=True), as_of, tmp_path / "x.csv")
    data = (tmp_path / "x.csv").read_bytes()
    assert data == b"\xef\xbb\xbf" + reference
    assert data.decode("utf-8-sig").startswith("ID de usuario,")
    write(
        model,
        request_for("agent_metrics", locale="es", bom=True, format="csv.gz"),
        as_of,
        tmp_path / "x.csv.gz",
    )
    assert gzip.decompress((tmp_path / "x.csv.gz").read_bytes()) == data


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"format": "xlsx"}, "unknown format 'xlsx'; valid formats: csv, csv.gz, parquet"),
        ({"format": 3}, "unknown format 3"),
        ({"bom": "yes"}, "'bom' must be true or false, got 'yes'"),
        ({"bom": 1}, "'bom' must be true or false, got 1"),
        ({"bom": True, "format": "parquet"}, "'bom' applies to the csv and csv.gz formats only"),
    ],
)
def test_bad_format_or_bom_is_a_bad_request(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        request_for("teams", **extra)


def test_defaults_are_csv_without_bom() -> None:
    request = request_for("teams")
    assert (request.format, request.bom) == ("csv", False)
    request = request_for("teams", format=None, bom=None)
    assert (request.format, request.bom) == ("csv", False)


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    request = request_for("teams", format="parquet")
    bad_rows = [{key: None for key in EXPORTS["teams"].keys} | {"replies": "many"}]
    with pytest.raises(TypeError, match="teams column 'replies'"):
        write_export(tmp_path / "t.parquet", request, bad_rows)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("export_type", ["messages", "conversations_resolved", "responses"])
def test_parquet_in_many_batches_and_row_groups_is_the_same(
    simulated: tuple[Any, datetime],
    export_type: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, as_of = simulated
    request = request_for(export_type, format="parquet")
    write(model, request, as_of, tmp_path / "one.parquet")
    monkeypatch.setattr(parquet, "BATCH_ROWS", 7)
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 20)
    written = write(model, request, as_of, tmp_path / "many.parquet")
    many = pq.ParquetFile(tmp_path / "many.parquet")
    assert many.metadata.num_rows == written.rows > 40
    assert many.metadata.num_row_groups == -(-written.rows // 21)  # 3 batches = 21 rows
    assert pq.read_table(tmp_path / "many.parquet").equals(pq.read_table(tmp_path / "one.parquet"))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("replies", "many", "teams column 'replies'"),
        ("created_at", datetime(2026, 11, 2, 9), "teams column 'created_at'"),  # noqa: DTZ001
        ("average_handle_time", 1.5, "teams column 'average_handle_time'"),
    ],
)
def test_parquet_refuses_values_the_csv_refuses(
    tmp_path: Path, column: str, value: Any, message: str
) -> None:
    request = request_for("teams", format="parquet")
    row = {key: None for key in EXPORTS["teams"].keys} | {column: value}
    with pytest.raises(TypeError, match=message):
        write_export(tmp_path / "t.parquet", request, [row])
    assert list(tmp_path.iterdir()) == []


def test_parquet_refuses_a_string_as_a_list(tmp_path: Path) -> None:
    request = request_for("messages", format="parquet")
    row = {key: None for key in EXPORTS["messages"].keys} | {"tag_ids": "tag-1"}
    with pytest.raises(TypeError, match="messages column 'tag_ids'"):
        write_export(tmp_path / "m.parquet", request, [row])
