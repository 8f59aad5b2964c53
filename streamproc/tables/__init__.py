"""The Faust tables of the service, declared in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streamproc.settings import Settings
from streamproc.state import Stores
from streamproc.topics import TABLE_NAMES


class BytesTable(faust.Table):
    """A table whose keys and values are bytes, stored and changelogged as they are.

    Values are orjson documents built by the pure state code, so the changelog topics
    carry plain JSON that the exporter's read model decodes without Faust.
    """

    def _serializer_from_type(self, typ: Any) -> str:
        return "raw"


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
