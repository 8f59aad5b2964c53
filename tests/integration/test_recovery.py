"""A worker with empty local state rebuilds every table from the changelogs, exactly."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from rocksdict import AccessType, Options, Rdict

from streamproc.changelog import read_table
from streamproc.events import InvalidEvent, parse_event
from streamproc.settings import Settings
from streamproc.testing.produce import produce_lines
from streamproc.topics import TABLE_NAMES, consumer_lag, ensure_topics
from tests.harness import WorkerProcess, run_cli, wait_until

pytestmark = pytest.mark.integration

OFFSET_KEY = b"__faust\0offset__"
"""Faust's persisted changelog offset, kept in each partition's database."""


def local_tables(tables_dir: Path) -> dict[str, dict[bytes, bytes]]:
    """Every key and value of a stopped worker's RocksDB databases, by database path
    (table and partition) relative to its tables dir; Faust's offset key left out."""
    found: dict[str, dict[bytes, bytes]] = {}
    for path in sorted(tables_dir.rglob("*.db")):
        db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            found[str(path.relative_to(tables_dir))] = {
                key: value for key, value in db.items() if key != OFFSET_KEY
            }
        finally:
            db.close()
    return found


def merged(databases: dict[str, dict[bytes, bytes]], table: str) -> dict[bytes, bytes]:
    """The keys of every partition database of ``table``."""
    keys: dict[bytes, bytes] = {}
    for path, contents in databases.items():
        if Path(path).name.rsplit("-", 1)[0] == table:
            keys.update(contents)
    return keys


def drained(settings: Settings, *workers: WorkerProcess) -> bool:
    for worker in workers:
        worker.assert_alive()
    lag = asyncio.run(consumer_lag(settings, settings.app_id, list(settings.consumed_topics)))
    return lag == 0


def test_a_worker_with_empty_state_rebuilds_the_same_tables(
    isolated: Settings, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        isolated, "simulate", "--seed", "31", "--days", "1", "--conversations", "200",
        "--malformed", "0.01", "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    lines = events.read_bytes().splitlines()
    asyncio.run(ensure_topics(isolated))
    asyncio.run(produce_lines(isolated, lines))

    first = WorkerProcess(isolated, "first").start()
    try:
        wait_until(lambda: drained(isolated, first), 180, "the first worker to drain")
    finally:
        first.stop()
    before = local_tables(first.settings.tables_dir)  # type: ignore[arg-type]
    assert {Path(p).name.rsplit("-", 1)[0] for p in before} == set(TABLE_NAMES)
    assert sum(len(keys) for keys in before.values()) > 1000
    for table in TABLE_NAMES:  # the first worker's state is what its changelogs hold
        assert merged(before, table) == asyncio.run(read_table(isolated, table)), table

    # A directory event processed already: a duplicate changes no table, and a worker
    # commits it only after its tables are recovered.
    probe = next(
        line
        for line in lines
        if _valid(line) and orjson.loads(line)["type"] in ("team.upserted", "agent.upserted")
    )
    for name, recovery_apply in (("batch", "batch"), ("faust", "faust")):
        settings = replace(isolated, recovery_apply=recovery_apply)
        rebuilt = WorkerProcess(settings, f"rebuilt-{name}").start()  # empty tables dir
        try:
            asyncio.run(produce_lines(isolated, [probe]))
            wait_until(
                lambda rebuilt=rebuilt: drained(isolated, rebuilt),  # type: ignore[misc]
                180,
                f"the worker rebuilding with {name} recovery to process the probe",
            )
        finally:
            rebuilt.stop()
        after = local_tables(rebuilt.settings.tables_dir)  # type: ignore[arg-type]
        for table in TABLE_NAMES:
            assert merged(after, table) == merged(before, table), f"{name}: {table}"
        assert after == before, name  # every partition's database, key for key


def _valid(line: bytes) -> bool:
    try:
        parse_event(line)
    except InvalidEvent:
        return False
    return True
