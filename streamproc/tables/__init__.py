"""The Faust tables of the service, declared in one place."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

import faust

from streamproc.settings import Settings
from streamproc.state import STORE_NAMES, Stores
from streamproc.tables.writer import PartitionWriter, Write, partition_db
from streamproc.topics import TABLE_NAMES


class BytesTable(faust.Table):
    """A table whose keys and values are bytes, stored and changelogged as they are.

    Values are orjson documents built by the pure state code, so the changelog topics
    carry plain JSON that the exporter's read model decodes without Faust.
    """

    def _serializer_from_type(self, typ: Any) -> str:
        return "raw"


class PartitionView(MutableMapping[bytes, bytes]):
    """One partition of a table.

    With RocksDB, reads and scans go straight to that partition's local database (no
    Faust layers, no scan of the other partitions); writes go to ``write`` when given
    (a PartitionWriter: local store and changelog, in order), else through the table.
    Other stores (memory) read through the table; Faust's current event must name the
    partition.
    """

    def __init__(self, table: BytesTable, partition: int, write: Write | None = None) -> None:
        self.table = table
        self.partition = partition
        self.write = write
        self.db = partition_db(table, partition)

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        if self.db is None:
            return cast(bytes | None, self.table.get(key, default))
        value = self.db.get(key)
        return default if value is None else cast(bytes, value)

    def __getitem__(self, key: bytes) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if self.write is None:
            self.table[key] = value
        else:
            self.write(key, value)

    def __delitem__(self, key: bytes) -> None:
        if self.write is None:
            del self.table[key]
        else:
            self.write(key, None)

    def tombstone(self, key: bytes) -> None:
        """Write a deletion of ``key`` to the changelog even if the local store lacks it
        (only with a writer; Faust's table path cannot)."""
        if self.write is not None:
            self.write(key, None)

    def __contains__(self, key: object) -> bool:
        if self.db is None:
            return key in self.table
        return self.db.get(key) is not None

    def __iter__(self) -> Iterator[bytes]:
        if self.db is None:
            yield from iter(self.table)
        else:
            yield from self.table.data._visible_keys(self.db)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> Any:
        """(key, value) pairs of the partition, read in one pass."""
        if self.db is None:
            return self.table.items()
        return self.table.data._visible_items(self.db)  # type: ignore[attr-defined]


TABLE_HELP: dict[str, str] = {
    "conversations": "conversation id -> the head of its log's segments (tail, next id)",
    "messages": "message id -> content, tags now, deletion, last update",
    "presence": "agent id -> recent presence changes (within the lateness bound)",
    "presence_days": "agent|UTC day -> AVAILABLE/AWAY intervals starting that day",
    "directory": "kind|id -> last-write-wins directory record",
    "activity": "partition|dimension|15-min bucket|[entity, conversation, segment] -> contribution",
    "segments": "[conversation id, n] -> a segment of its compact event log, with the fold's"
    " checkpoint before it",
    "rejections_by_partition": "topic/partition/category -> records dead-lettered",
    "reroutes_by_partition": "topic/partition/reason -> valid events re-routed",
}
"""Every table by name. All are co-partitioned with the inbound topics and written only
from the partition of the event being processed."""


@dataclass(frozen=True)
class Tables:
    """Handles to every table."""

    by_name: dict[str, BytesTable]

    def partition_stores(self, partition: int, writer: PartitionWriter | None = None) -> Stores:
        """The state tables as seen from one partition: scans read only its keys; writes
        go through ``writer`` when given (in order with the batch's other writes)."""
        views = {
            name: PartitionView(
                self.by_name[name],
                partition,
                None if writer is None else writer.writer(self.by_name[name]),
            )
            for name in STORE_NAMES
        }
        return Stores(**views)

    @property
    def rejections_by_partition(self) -> BytesTable:
        """Dead-letter counters."""
        return self.by_name["rejections_by_partition"]

    @property
    def reroutes_by_partition(self) -> BytesTable:
        """Re-route counters (streamproc.intake.REROUTE_REASONS)."""
        return self.by_name["reroutes_by_partition"]


def declare_tables(app: faust.App, settings: Settings) -> Tables:
    """Declare the tables (changelog-backed, compacted, co-partitioned with the inbound topics)."""
    assert tuple(TABLE_HELP) == TABLE_NAMES  # noqa: S101 - topics.py creates their changelogs
    tables = {}
    for name, help_text in TABLE_HELP.items():
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
        tables[name] = table
    return Tables(tables)
