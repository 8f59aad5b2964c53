"""The exporter service owns the formatting processes of its exports (exporter.sqlrun)."""

from __future__ import annotations

import asyncio

import pytest

from exporter import sqlrun
from exporter.service import Exporter
from streamproc.settings import Settings

pytestmark = pytest.mark.integration


def test_the_service_owns_its_pool_from_start_to_stop(isolated: Settings) -> None:
    service = Exporter(isolated)
    assert service.pool is None  # before start(): an export would format in-process

    async def lifetime() -> sqlrun.FormatPool:
        await service.start()
        try:
            pool = service.pool
            assert pool is not None and not pool.closed
            assert pool.size == sqlrun.default_workers() and pool.running() == 0
            return pool
        finally:
            await service.stop()

    pool = asyncio.run(lifetime())
    assert pool.closed and pool.running() == 0
