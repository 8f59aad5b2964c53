"""The Faust tables of the service, declared in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streamproc.settings import Settings


class BytesTable(faust.Table):
    """A table whose keys and values are bytes, stored and changelogged as they are.

    Values are orjson documents encoded by the pure record classes, so the changelog
    topics carry plain JSON that the exporter's read model decodes without Faust.
    """

    def _serializer_from_type(self, typ: Any) -> str:
        return "raw"


@dataclass(frozen=True)
class Tables:
    """Handles to every table."""

    key_ledger: BytesTable
    """Per Kafka key: seen event ids, watermark and accepted counts by type (KeyLedger)."""
    rejections_by_partition: BytesTable
    """Per ``topic/partition/category``: how many records were dead-lettered (JSON int)."""


def _bytes_table(app: faust.App, settings: Settings, name: str, help_text: str) -> BytesTable:
    table = BytesTable(
        app,
        name=name,
        beacon=app.tables.beacon,
        partitions=settings.events_partitions,
        help=help_text,
        key_type=bytes,
        value_type=bytes,
    )
    app.tables.add(table)
    return table


def declare_tables(app: faust.App, settings: Settings) -> Tables:
    """Declare the tables (changelog-backed, compacted, co-partitioned with the inbound topics)."""
    return Tables(
        key_ledger=_bytes_table(app, settings, "key_ledger", "per-key event ledger"),
        rejections_by_partition=_bytes_table(
            app, settings, "rejections_by_partition", "dead-lettered records by partition"
        ),
    )
