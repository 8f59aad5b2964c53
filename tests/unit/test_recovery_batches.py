"""Batch-applied recovery: which changelog records are applied, in what order, at what offsets."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from streamproc.app import create_app
from streamproc.settings import Settings, SettingsError
from streamproc.tables.recovery import (
    ChangelogEntry,
    apply_recovered,
    check_recovery_state,
    recovery_for_batches,
)

SETTINGS = Settings(store="memory://", app_id="recovery-test", bootstrap_servers="127.0.0.1:1")


def record(offset: int, key: bytes, value: bytes | None) -> Any:
    return SimpleNamespace(offset=offset, key=key, value=value)


@pytest.fixture
def app_and_table() -> tuple[Any, Any]:
    app, tables = create_app(SETTINGS)
    return app, tables.by_name["directory"]


def changelog_tp(table: Any, partition: int = 0) -> TP:
    return TP(table.changelog_topic.get_topic_name(), partition)


def test_records_of_an_active_partition_are_applied_in_one_batch(
    app_and_table: tuple[Any, Any],
) -> None:
    app, table = app_and_table
    recovery = app.tables.recovery
    tp = changelog_tp(table)
    recovery.add_active(table, tp)
    records = [record(0, b"a", b"1"), record(1, b"b", b"2"), record(2, b"a", b"3")]
    last = apply_recovered(recovery, tp, records)
    assert last is records[-1]
    assert recovery.active_offsets[tp] == 2
    assert dict(table.data.data) == {b"a": b"3", b"b": b"2"}  # the later value of a wins


def test_a_tombstone_deletes_the_key(app_and_table: tuple[Any, Any]) -> None:
    app, table = app_and_table
    recovery = app.tables.recovery
    tp = changelog_tp(table)
    recovery.add_active(table, tp)
    apply_recovered(recovery, tp, [record(0, b"a", b"1"), record(1, b"b", b"2")])
    apply_recovered(recovery, tp, [record(2, b"a", None)])
    assert dict(table.data.data) == {b"b": b"2"}


def test_records_already_applied_are_skipped_and_none_left_is_faust_s_path(
    app_and_table: tuple[Any, Any],
) -> None:
    app, table = app_and_table
    recovery = app.tables.recovery
    tp = changelog_tp(table)
    recovery.add_active(table, tp)
    apply_recovered(recovery, tp, [record(5, b"a", b"new")])
    assert apply_recovered(recovery, tp, [record(4, b"a", b"old"), record(5, b"a", b"x")]) is None
    last = apply_recovered(recovery, tp, [record(5, b"a", b"x"), record(6, b"b", b"2")])
    assert last is not None and last.offset == 6
    assert dict(table.data.data) == {b"a": b"new", b"b": b"2"}
    assert recovery.active_offsets[tp] == 6


def test_a_standby_partition_advances_the_standby_offsets(
    app_and_table: tuple[Any, Any],
) -> None:
    app, table = app_and_table
    recovery = app.tables.recovery
    tp = changelog_tp(table, 3)
    recovery.add_standby(table, tp)
    assert apply_recovered(recovery, tp, [record(7, b"k", b"v")]) is not None
    assert recovery.standby_offsets[tp] == 7
    assert tp not in recovery.active_offsets


def test_a_partition_not_being_recovered_is_left_to_faust(
    app_and_table: tuple[Any, Any],
) -> None:
    app, table = app_and_table
    tp = changelog_tp(table, 1)
    assert apply_recovered(app.tables.recovery, tp, [record(0, b"a", b"1")]) is None
    assert dict(table.data.data) == {}


def test_records_buffered_by_faust_s_path_are_applied_first(
    app_and_table: tuple[Any, Any],
) -> None:
    app, table = app_and_table
    recovery = app.tables.recovery
    tp = changelog_tp(table)
    recovery.add_active(table, tp)
    recovery.active_offsets[tp] = 3
    recovery.buffers[table].append(ChangelogEntry(tp, record(3, b"a", b"buffered")))
    recovery.buffers[table].append(ChangelogEntry(tp, record(2, b"c", b"kept")))
    apply_recovered(recovery, tp, [record(4, b"a", b"newer")])
    assert dict(table.data.data) == {b"a": b"newer", b"c": b"kept"}
    assert recovery.buffers[table] == []


def test_a_table_with_a_changelog_callback_gets_every_event_from_faust(
    app_and_table: tuple[Any, Any],
) -> None:
    app, table = app_and_table
    recovery = app.tables.recovery
    tp = changelog_tp(table)
    recovery.add_active(table, tp)

    async def on_event(event: Any) -> None:  # pragma: no cover - never called here
        pass

    table._on_changelog_event = on_event
    assert apply_recovered(recovery, tp, [record(0, b"a", b"1")]) is None
    assert dict(table.data.data) == {}


def test_the_entry_reads_as_a_faust_event() -> None:
    tp = TP("t-changelog", 2)
    entry = ChangelogEntry(tp, record(9, b"k", b"v"))
    assert entry.message is entry
    assert (entry.message.tp, entry.message.partition, entry.message.offset) == (tp, 2, 9)
    assert (entry.key, entry.value, entry.message.key, entry.message.value) == (
        b"k",
        b"v",
        b"k",
        b"v",
    )


def test_missing_recovery_state_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="active_offsets, standby_offsets"):
        check_recovery_state(SimpleNamespace(active_tps=set(), standby_tps=set()))


def test_the_setting_selects_the_recovery_path() -> None:
    batch, _ = create_app(SETTINGS)
    faust_path, _ = create_app(replace(SETTINGS, recovery_apply="faust"))
    assert recovery_for_batches(batch) is batch.tables.recovery
    assert recovery_for_batches(faust_path) is None


def test_recovery_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {"STREAMPROC_RECOVERY_APPLY": "faust", "STREAMPROC_STANDBY_REPLICAS": "0"}
    )
    assert (settings.recovery_apply, settings.standby_replicas) == ("faust", 0)
    assert Settings.from_env({"STREAMPROC_STANDBY_REPLICAS": "1"}).standby_replicas == 1
    with pytest.raises(SettingsError, match="STREAMPROC_RECOVERY_APPLY='slow' is not one of"):
        Settings.from_env({"STREAMPROC_RECOVERY_APPLY": "slow"})
    with pytest.raises(SettingsError, match="STREAMPROC_STANDBY_REPLICAS='-1' must be a whole"):
        Settings.from_env({"STREAMPROC_STANDBY_REPLICAS": "-1"})
