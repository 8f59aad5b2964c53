"""Shared fixtures: the real local Kafka broker for integration tests (never skipped)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from streamproc.settings import Settings
from streamproc.testing import broker
from tests.harness import ROOT, isolated_settings

TEST_KAFKA_PORT = int(os.environ.get("STREAMPROC_TEST_KAFKA_PORT", "19092"))


@pytest.fixture(scope="session")
def kafka() -> Iterator[Settings]:
    """A running local broker for the test session, started by the project itself.

    Uses its own port (STREAMPROC_TEST_KAFKA_PORT, default 19092) and data dir so that a
    developer's broker is left alone. Stopped at the end if this session started it.
    """
    base = Settings.from_env()
    settings = replace(
        base,
        kafka_port=TEST_KAFKA_PORT,
        bootstrap_servers=f"127.0.0.1:{TEST_KAFKA_PORT}",
        data_dir=ROOT / ".data" / "test",
        # The simulated traffic is dated from 2026-11-02: keep it inside the accepted
        # event-time window whenever the tests run (the window has tests of its own).
        event_max_age_days=36_500,
    )
    was_running = broker.status(settings).running
    broker.up(settings, timeout_s=120)
    yield settings
    if not was_running:
        broker.down(settings)


@pytest.fixture
def isolated(kafka: Settings, tmp_path: Path) -> Settings:
    """Settings with topics and app id of this test only, on the session broker."""
    return isolated_settings(kafka, tmp_path)
