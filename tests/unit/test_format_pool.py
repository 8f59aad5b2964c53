"""Who starts formatting processes (exporter.sqlrun.FormatPool): only the owner of a pool.

Without a pool an export formats in its own process; with one, the export's workers are
the pool's, stopped when the export ends, and closing the pool stops them all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import sqlrun
from exporter.formats import write_export
from exporter.readmodel import ReadModel
from exporter.request import parse_request
from exporter.rows import BUILDERS, Context, Directory
from exporter.sqlrun import FormatPool
from tests.unit.test_sqlcsv import AS_OF_MS, request_for
from tests.unit.test_sqlrun import WIDE, dense_model


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[sqlrun._Worker]]:
    """Every worker process started (exports of any size get workers)."""
    monkeypatch.setattr(sqlrun, "ROWS_PER_WORKER", 0)
    seen: list[sqlrun._Worker] = []
    real = sqlrun._Worker

    def worker() -> sqlrun._Worker:
        seen.append(real())
        return seen[-1]

    monkeypatch.setattr(sqlrun, "_Worker", worker)
    yield seen


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ReadModel:
    return dense_model(tmp_path_factory.mktemp("pool") / "readmodel.sqlite", 21)


def export(model: ReadModel, path: Path, fmt: str, pool: FormatPool | None) -> bytes:
    request = parse_request(request_for("messages", format=fmt, **WIDE))
    context = Context(model.conn, request, Directory.load(model.conn), AS_OF_MS)
    rows = BUILDERS["messages"](context)
    written = write_export(path, request, rows, as_of_ms=AS_OF_MS, workers=pool)
    assert written.rows > 20
    return path.read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "csv.gz"])
def test_no_pool_no_process_and_a_pool_gives_the_same_bytes(
    model: ReadModel, tmp_path: Path, started: list[sqlrun._Worker], fmt: str
) -> None:
    alone = export(model, tmp_path / "alone", fmt, None)
    assert not started  # the library default: formatted in this process
    with FormatPool(3) as pool:
        assert export(model, tmp_path / "pooled", fmt, pool) == alone
        assert len(started) == 3
        assert pool.running() == 0  # stopped when the export ended
        assert all(w.proc.returncode == 0 for w in started)
        assert export(model, tmp_path / "again", fmt, pool) == alone  # the pool serves on
    assert len(started) == 6


def test_closing_the_pool_stops_a_running_export_s_workers(
    model: ReadModel, started: list[sqlrun._Worker]
) -> None:
    pool = FormatPool(2)
    workers = pool.workers(model.conn, "SELECT 100000", {})
    assert pool.running() == 2 and all(w.proc.poll() is None for w in started)
    pool.close()
    assert pool.running() == 0 and not workers.started
    assert all(w.proc.returncode is not None for w in started)
    with pytest.raises(RuntimeError, match="pool is closed"):
        pool.workers(model.conn, "SELECT 100000", {})


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FormatPool(0)
