"""Discards local table state after an unclean exit: it may be ahead of the changelogs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

CLEAN_MARKER: Final = "CLEAN-SHUTDOWN"
"""Written in the tables dir when a worker stopped cleanly (Faust's graceful stop: the
producer flushed, the offsets committed, the databases closed); removed at start-up."""


def discard_if_unclean(tables_dir: Path) -> bool:
    """Before a worker opens its tables: keep the local state if the previous worker on
    ``tables_dir`` stopped cleanly, else delete it (the worker then rebuilds it from the
    changelogs). Returns whether state was discarded.

    A worker that was killed, or exited on a stall or a failed send, may have written
    keys to RocksDB whose changelog records never reached Kafka, and recovery replays
    the changelog over them from the last persisted offset: the store can then hold
    values that no changelog has, and a later batch can build on them (found by the
    crash model, tests/unit/test_crash_heal.py). A store rebuilt from the changelogs
    holds exactly what they hold.
    """
    marker = tables_dir / CLEAN_MARKER
    if marker.exists():
        marker.unlink()  # (this worker is unclean until it stops cleanly in turn)
        return False
    if not tables_dir.is_dir() or not any(tables_dir.iterdir()):
        return False
    shutil.rmtree(tables_dir)
    tables_dir.mkdir(parents=True)
    return True


def mark_clean(tables_dir: Path) -> None:
    """Record that the worker on ``tables_dir`` stopped cleanly."""
    tables_dir.mkdir(parents=True, exist_ok=True)
    (tables_dir / CLEAN_MARKER).touch()
