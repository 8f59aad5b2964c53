"""A worker's local table state survives a clean stop and is discarded after an unclean exit."""

from __future__ import annotations

from pathlib import Path

from streamproc.tables.unclean import CLEAN_MARKER, discard_if_unclean, mark_clean


def with_state(tables_dir: Path) -> Path:
    table = tables_dir / "conversations-0.db"
    table.mkdir(parents=True)
    (table / "000001.sst").write_bytes(b"rocksdb")
    return table


def test_state_after_a_clean_stop_is_kept_and_the_marker_consumed(tmp_path: Path) -> None:
    table = with_state(tmp_path)
    mark_clean(tmp_path)
    assert discard_if_unclean(tmp_path) is False
    assert (table / "000001.sst").read_bytes() == b"rocksdb"
    assert not (tmp_path / CLEAN_MARKER).exists()  # unclean until it stops cleanly again
    assert discard_if_unclean(tmp_path) is True  # (the same dir, no clean stop since)
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []


def test_state_without_a_clean_stop_is_discarded(tmp_path: Path) -> None:
    with_state(tmp_path)
    assert discard_if_unclean(tmp_path) is True
    assert list(tmp_path.iterdir()) == []


def test_a_new_or_empty_dir_has_nothing_to_discard(tmp_path: Path) -> None:
    assert discard_if_unclean(tmp_path / "absent") is False
    assert not (tmp_path / "absent").exists()
    assert discard_if_unclean(tmp_path) is False
