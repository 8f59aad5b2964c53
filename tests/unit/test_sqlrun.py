"""Worker processes (exporter.sqlrun) write exactly the bytes of one connection."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import exporter.sqlcsv
from exporter import sqlrun
from exporter.formats import write_csv
from exporter.readmodel import ReadModel
from exporter.request import parse_request
from exporter.rows import BUILDERS, Context, Directory
from exporter.sqlcsv import SQL_EXPORTS, SqlRows
from tests.unit.test_sqlcsv import AS_OF_MS, nasty_model, request_for

WIDE = {"from": "2026-01-01", "to": "2027-01-31"}  # most of the nasty rows of 2026


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int | None]]]:
    """Every export runs on workers however small; records (workers, result) per run."""
    monkeypatch.setattr(sqlrun, "ROWS_PER_WORKER", 0)
    seen: list[tuple[int, int | None]] = []
    real = sqlrun._run_workers

    def spy(conn: Any, job: Any, write: Any, workers: sqlrun.Workers) -> int | None:
        result = real(conn, job, write, workers)
        seen.append((len(workers.started), result))
        return result

    monkeypatch.setattr(sqlrun, "_run_workers", spy)
    yield seen


def export(model: ReadModel, request_obj: dict[str, Any], workers: int) -> tuple[bytes, int]:
    request = parse_request(request_obj)
    context = Context(model.conn, request, Directory.load(model.conn), AS_OF_MS)
    rows = BUILDERS[request.export_type](context)
    assert isinstance(rows, SqlRows)
    out = io.BytesIO()
    with sqlrun.FormatPool(workers) as pool:
        result = write_csv(
            out, request.spec, rows, locale=request.locale, tz=request.tz, workers=pool
        )
    return out.getvalue(), result.rows


def dense_model(path: Path, seed: int) -> ReadModel:
    """exporter's nasty model with most rows in WIDE, many sharing a time (ordered by id)."""
    model = nasty_model(path, seed)
    model.conn.execute(
        "UPDATE conversations SET created_t = 1767225600000 + (rowid % 97) * 3600000"
        " WHERE created_t IS NOT NULL AND rowid % 10 > 0"
    )
    model.conn.execute(
        "UPDATE conversations SET first_resolution_t = 1767225600000 + (rowid % 89) * 86400000"
        " WHERE first_resolution_t IS NOT NULL"
    )
    model.conn.execute(
        "UPDATE messages SET created_t = 1767225600000 + (rowid % 50) * 3600000"
        " WHERE rowid % 10 > 0"
    )
    return model


@pytest.fixture(scope="module")
def nasty(tmp_path_factory: pytest.TempPathFactory) -> ReadModel:
    return dense_model(tmp_path_factory.mktemp("nasty") / "readmodel.sqlite", 7)


@pytest.mark.parametrize("export_type", list(SQL_EXPORTS))
@pytest.mark.parametrize("chunk_rows", [1, 7, 4096])
def test_workers_write_the_bytes_of_one_connection(
    nasty: ReadModel,
    calls: list[tuple[int, int | None]],
    monkeypatch: pytest.MonkeyPatch,
    export_type: str,
    chunk_rows: int,
) -> None:
    monkeypatch.setattr(exporter.sqlcsv, "CHUNK_ROWS", chunk_rows)
    for variant in (
        {"timezone": "America/New_York", **WIDE},
        {"timezone": "Asia/Kolkata", "channels": ["a", "c,d"], "locale": "es", **WIDE},
    ):
        request = request_for(export_type, **variant)
        one, n = export(nasty, request, 1)
        assert not calls
        for workers in (2, 3):
            assert export(nasty, request, workers) == (one, n), (variant, workers)
            assert calls.pop() == (workers, n)
        assert n > 20 or export_type == "conversations_open"


@pytest.mark.parametrize("export_type", ["messages", "conversations_resolved"])
def test_chunk_boundaries_fewer_rows_than_workers_and_none(
    nasty: ReadModel,
    calls: list[tuple[int, int | None]],
    monkeypatch: pytest.MonkeyPatch,
    export_type: str,
) -> None:
    request = request_for(export_type, **WIDE)
    one, total = export(nasty, request, 1)
    context = Context(nasty.conn, parse_request(request), Directory.load(nasty.conn), AS_OF_MS)
    keys = nasty.conn.execute(
        SQL_EXPORTS[export_type].estimate_sql("1"),
        {"start": context.start_ms, "end": context.end_ms},
    ).fetchone()[0]
    assert keys == total  # no channel filter: every position is a row
    for chunk_rows in (total - 1, total, total + 1, total // 2, (total + 1) // 2, total // 3):
        monkeypatch.setattr(exporter.sqlcsv, "CHUNK_ROWS", chunk_rows)
        assert export(nasty, request, 4) == (one, total), chunk_rows
        assert calls.pop() == (4, total)
    monkeypatch.setattr(exporter.sqlcsv, "CHUNK_ROWS", 2)
    for obj in (
        request_for(export_type, **{"from": "1980-01-01", "to": "1980-01-02"}),  # no rows
        request_for(export_type, **{"from": "1960-01-01", "to": "1961-01-01"}),  # a few
    ):
        single, n = export(nasty, obj, 1)
        assert export(nasty, obj, 4) == (single, n)
        assert calls.pop() == (4, n)
        assert n < 4


def test_an_empty_read_model(tmp_path: Path, calls: list[tuple[int, int | None]]) -> None:
    model = ReadModel(tmp_path / "empty.sqlite", lock_max_ms=1)
    for export_type in SQL_EXPORTS:
        request = request_for(export_type, **WIDE)
        assert export(model, request, 3) == export(model, request, 1)
        assert calls.pop() == (3, 0)


def test_no_workers_for_an_in_memory_database_or_inside_a_transaction(
    tmp_path: Path, calls: list[tuple[int, int | None]]
) -> None:
    model = dense_model(tmp_path / "t.sqlite", 8)
    request = request_for("messages", **WIDE)
    one = export(model, request, 1)
    model.conn.execute("BEGIN")
    assert export(model, request, 2) == one
    assert model.conn.in_transaction  # the caller's transaction is left as it was
    model.conn.execute("COMMIT")
    memory = ReadModel(":memory:", lock_max_ms=1)
    model.conn.backup(memory.conn)
    assert export(memory, request, 2) == one
    assert not calls


def test_no_workers_for_a_small_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = dense_model(tmp_path / "t.sqlite", 9)
    started: list[object] = []
    monkeypatch.setattr(sqlrun, "_Worker", lambda: started.append(1))
    export(model, request_for("messages", **WIDE), 4)
    assert not started  # 800 rows: below ROWS_PER_WORKER


def test_commits_while_pinning_retry_then_format_here(
    tmp_path: Path, calls: list[tuple[int, int | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = dense_model(tmp_path / "t.sqlite", 10)
    request = request_for("conversations_resolved", **WIDE)
    one = export(model, request, 1)
    versions = iter(range(1000))
    monkeypatch.setattr(sqlrun, "_data_version", lambda conn: next(versions))
    assert export(model, request, 2) == one  # never stable: formatted on the connection
    assert not calls
    assert next(versions) == 2 * sqlrun.PIN_ATTEMPTS
    steady = iter([1, 2, 5, 5])  # changed once, then stable
    monkeypatch.setattr(sqlrun, "_data_version", lambda conn: next(steady))
    assert export(model, request, 2) == one
    assert calls.pop() == (2, one[1])


def test_workers_read_one_snapshot_while_the_model_changes(
    tmp_path: Path, calls: list[tuple[int, int | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows committed after the workers took their snapshot are in no chunk."""
    model = dense_model(tmp_path / "t.sqlite", 11)
    monkeypatch.setattr(exporter.sqlcsv, "CHUNK_ROWS", 5)
    request = request_for("messages", **WIDE)
    before = export(model, request, 1)
    writer = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None)
    done: list[int] = []
    real_run = sqlrun._Pool.run

    def run(self: sqlrun._Pool, write: Any) -> int:
        def write_and_change(data: bytes) -> None:
            if not done:  # after the first chunk: delete and add messages
                writer.execute("DELETE FROM messages WHERE rowid % 2 = 0")
                row = ("m-new", "conv-1", 1_767_225_600_000, *[None] * 13)
                writer.execute(f"INSERT INTO messages VALUES ({','.join('?' * 16)})", row)  # noqa: S608
            done.append(1)
            write(data)

        return real_run(self, write_and_change)

    monkeypatch.setattr(sqlrun._Pool, "run", run)
    assert export(model, request, 2) == before
    assert calls.pop() == (2, before[1])
    monkeypatch.setattr(sqlrun._Pool, "run", real_run)
    after = export(model, request, 2)
    assert after != before and after == export(model, request, 1)


def test_a_failing_sql_function_raises_the_same_error(
    tmp_path: Path, calls: list[tuple[int, int | None]]
) -> None:
    model = dense_model(tmp_path / "t.sqlite", 12)
    model.conn.execute(
        "UPDATE messages SET tag_ids = ? WHERE rowid = 3", (orjson.dumps(["a", 1]).decode(),)
    )
    request = request_for("messages", **WIDE)
    with pytest.raises(TypeError, match="list cell items must be str") as here:
        export(model, request, 1)
    with pytest.raises(TypeError, match="list cell items must be str") as there:
        export(model, request, 2)
    assert str(here.value) == str(there.value)
    assert not calls  # (it failed inside)


def test_a_failing_write_stops_the_workers(
    tmp_path: Path, calls: list[tuple[int, int | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = dense_model(tmp_path / "t.sqlite", 13)
    monkeypatch.setattr(exporter.sqlcsv, "CHUNK_ROWS", 3)
    started: list[sqlrun._Worker] = []
    real = sqlrun._Worker

    def worker() -> sqlrun._Worker:
        started.append(real())
        return started[-1]

    monkeypatch.setattr(sqlrun, "_Worker", worker)
    request = parse_request(request_for("messages", **WIDE))
    context = Context(model.conn, request, Directory.load(model.conn), AS_OF_MS)
    rows = BUILDERS["messages"](context)
    assert isinstance(rows, SqlRows)
    written: list[bytes] = []

    def write(data: bytes) -> None:
        if len(written) == 2:
            raise OSError("disk full")
        written.append(data)

    with pytest.raises(OSError, match="disk full"), sqlrun.FormatPool(3) as pool:
        rows.write_records(write, request.spec, request.tz, workers=pool)
    assert len(started) == 3
    assert all(w.proc.returncode is not None for w in started)


def test_a_chunk_too_long_for_one_sqlite_string_is_split(tmp_path: Path) -> None:
    model = dense_model(tmp_path / "t.sqlite", 14)
    request = request_for("messages", **WIDE)
    one = export(model, request, 1)
    longest = max(len(line) for line in one[0].split(b"\r\n"))
    model.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, longest * 3)
    assert export(model, request, 1) == one
    model.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, longest // 2)
    with pytest.raises(sqlite3.DataError):
        export(model, request, 1)  # one record is too long: as before, an error


def test_workers_must_be_positive(nasty: ReadModel) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        export(nasty, request_for("messages", **WIDE), 0)
