"""The Faust tables of the service, declared in one place."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

import faust

from streamproc.settings import Settings
from streamproc.state import STORE_NAMES, Stores
from streamproc.tables.writer import PartitionWriter, Write
from streamproc.topics import TABLE_NAMES


class BytesTable(faust.Table):
    """A table whose keys and values are bytes, stored and changelogged as they are.

    Values are orjson documents built by the pure state code, so the changelog topics
    carry plain JSON that the exporter's read model decodes without Faust.
    """

    def _serializer_from_type(self, typ: Any) -> str:
        return "raw"


class PartitionView(MutableMapping[bytes, bytes]):
    """One partition of a table. Reads and writes go through the table (Faust's current
    event must name the partition); iteration reads only that partition's local RocksDB
    database instead of every assigned partition's (other stores: the whole table)."""

    def __init__(self, table: BytesTable, partition: int, write: Write | None = None) -> None:
        self.table = table
        self.partition = partition
        self.write = write

    def __getitem__(self, key: bytes) -> bytes:
        return cast(bytes, self.table[key])

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

    def __contains__(self, key: object) -> bool:
        return key in self.table

    def __iter__(self) -> Iterator[bytes]:
        store: Any = self.table.data
        if hasattr(store, "_visible_keys"):
            yield from store._visible_keys(store._db_for_partition(self.partition))
        else:
            yield from iter(self.table)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> Any:
        """(key, value) pairs of the partition, read in one pass."""
        store: Any = self.table.data
        if hasattr(store, "_visible_items"):
            return store._visible_items(store._db_for_partition(self.partition))
        return self.table.items()


TABLE_HELP: dict[str, str] = {
    "conversations": "conversation id -> its compact event log (the source of its metrics)",
    "messages": "message id -> content, tags now, deletion, last update",
    "presence": "agent id -> recent presence changes (within the lateness bound)",
    "presence_days": "agent|UTC day -> AVAILABLE/AWAY intervals starting that day",
    "directory": "kind|id -> last-write-wins directory record",
    "activity": "dimension|entity|15-min bucket -> {conversation id: contribution}",
    "rejections_by_partition": "topic/partition/category -> records dead-lettered",
}
"""Every table by name. All are co-partitioned with the inbound topics and written only
from the partition of the event being processed."""


@dataclass(frozen=True)
class Tables:
    """Handles to every table."""

    by_name: dict[str, BytesTable]

    @property
    def stores(self) -> Stores:
        """The state tables as the pure update code sees them."""
        t = self.by_name
        return Stores(
            conversations=t["conversations"],
            messages=t["messages"],
            presence=t["presence"],
            presence_days=t["presence_days"],
            directory=t["directory"],
            activity=t["activity"],
        )

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
