"""Directory delivery: atomic rename over the final name, stale .part files removed, retries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from exporter import delivery
from exporter.delivery import DeliveryFailed, deliver, part_name
from exporter.schedules import DirectoryDestination


def test_a_file_lands_under_its_final_name_only(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes(b"a,b\r\n1,2\r\n")
    target = tmp_path / "out" / "deep"
    (tmp_path / "out").mkdir()
    location = asyncio.run(deliver(DirectoryDestination(str(target)), source, "r.csv"))
    assert location == str(target / "r.csv")
    assert [p.name for p in target.iterdir()] == ["r.csv"]
    assert (target / "r.csv").read_bytes() == source.read_bytes()


def test_a_repeat_replaces_the_file_and_stale_parts_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "r.csv").write_bytes(b"old")
    (target / part_name("r.csv")).write_bytes(b"half")  # a writer died mid-copy
    (target / part_name("other.csv")).write_bytes(b"someone else's")
    source = tmp_path / "export.csv"
    source.write_bytes(b"new")
    asyncio.run(deliver(DirectoryDestination(str(target)), source, "r.csv"))
    names = sorted(p.name for p in target.iterdir())
    assert names[1:] == ["r.csv"] and names[0].startswith(".other.csv.")
    assert (target / "r.csv").read_bytes() == b"new"


def test_part_names_are_hidden_and_unique() -> None:
    first, second = part_name("r.csv"), part_name("r.csv")
    assert first != second
    assert first.startswith(".r.csv.") and first.endswith(".part")


def test_an_unwritable_destination_fails_after_the_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "DIRECTORY_BACKOFF_S", 0.01)
    (tmp_path / "file").write_text("x")
    source = tmp_path / "export.csv"
    source.write_bytes(b"x")
    with pytest.raises(DeliveryFailed, match=r"NotADirectoryError.*\(after 3 attempts\)"):
        asyncio.run(deliver(DirectoryDestination(str(tmp_path / "file" / "d")), source, "r.csv"))


def test_a_missing_source_is_a_failed_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "DIRECTORY_BACKOFF_S", 0.01)
    with pytest.raises(DeliveryFailed, match="FileNotFoundError"):
        asyncio.run(deliver(DirectoryDestination(str(tmp_path)), tmp_path / "gone.csv", "r.csv"))
    assert list(tmp_path.iterdir()) == []  # no part file left behind
