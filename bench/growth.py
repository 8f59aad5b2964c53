"""Growth: CPU and bytes written per event as a conversation grows and as a bucket fills.

Runs the production state code (``BatchStores``, one event per batch as at low load) on
in-memory stores; no Kafka. ``python -m bench.growth`` prints JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import orjson

from streamproc.events import parse_event
from streamproc.state import BatchStores, Rules, Stores, apply_event

START = datetime(2026, 11, 2, 9, tzinfo=UTC)
RULES = Rules(partitions=1)


class CountingStore(dict[bytes, bytes]):
    """A dict that counts the bytes written to it (keys and values)."""

    written = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.written += len(key) + len(value)
        super().__setitem__(key, value)


def stores() -> Stores:
    return Stores(*(CountingStore() for _ in Stores.__dataclass_fields__))


def written(s: Stores) -> int:
    return sum(getattr(s, name).written for name in Stores.__dataclass_fields__)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def created(conversation: str, at: datetime) -> bytes:
    return orjson.dumps(
        {"event_id": f"{conversation}-c", "type": "conversation.created",
         "occurred_at": stamp(at), "conversation_id": conversation,
         "channel_id": "ch-1", "contact_profile_id": f"p-{conversation}", "url": "u"}
    )  # fmt: skip


def reply(conversation: str, n: int, at: datetime) -> bytes:
    return orjson.dumps(
        {"event_id": f"{conversation}-m{n}", "type": "message.created",
         "occurred_at": stamp(at), "message_id": f"{conversation}-m{n}",
         "conversation_id": conversation, "direction": "OUTBOUND",
         "sender": {"kind": "AGENT", "id": "agent-1"}, "team_id": "team-1",
         "message_type": "TEXT", "origin": "AGENT", "outbound_type": None,
         "system_user_type": None, "content": "ok", "post_url": None}
    )  # fmt: skip


def apply_batch(s: Stores, raws: list[bytes]) -> None:
    batch = BatchStores.over(s, RULES)
    for raw in raws:
        apply_event(batch, parse_event(raw), RULES)
    batch.flush()


def measure(s: Stores, events: Iterator[bytes], count: int) -> dict[str, float]:
    """Apply ``count`` events one batch each; ms and bytes written per event."""
    before = written(s)
    started = time.process_time()
    for _ in range(count):
        apply_batch(s, [next(events)])
    cpu = time.process_time() - started
    return {"ms_per_event": 1000 * cpu / count, "bytes_per_event": (written(s) - before) / count}


def conversation_length(length: int, sample: int) -> dict[str, float]:
    """One conversation of ``length`` events, then ``sample`` more of it."""
    s = stores()
    apply_batch(s, [created("c-long", START)])
    for first in range(0, length, 2_000):
        apply_batch(
            s,
            [
                reply("c-long", n, START + timedelta(seconds=n))
                for n in range(first, min(length, first + 2_000))
            ],
        )
    more = (
        reply("c-long", n, START + timedelta(seconds=n)) for n in range(length, length + sample)
    )
    result = measure(s, more, sample)
    result["largest_record_bytes"] = max(len(v) for v in s.segments.values())
    return result


def bucket_population(conversations: int, sample: int) -> dict[str, float]:
    """``conversations`` sharing one agent/team bucket, then ``sample`` more replies in it."""
    s = stores()
    at = START + timedelta(minutes=1)
    for first in range(0, conversations, 2_000):
        ids = [f"c{i}" for i in range(first, min(conversations, first + 2_000))]
        apply_batch(s, [raw for c in ids for raw in (created(c, START), reply(c, 0, at))])

    def more() -> Iterator[bytes]:
        for i in range(sample):
            yield reply(f"c{i % conversations}", 1 + i, at + timedelta(seconds=1 + i))

    result = measure(s, more(), sample)
    result["largest_record_bytes"] = max(len(v) for v in s.activity.values())
    return result


def ratio(rows: list[dict[str, Any]], field: str) -> float:
    return rows[-1][field] / rows[0][field]


@click.command()
@click.option("--lengths", default="10,1000,5000", show_default=True,
              help="conversation lengths (events) to measure")  # fmt: skip
@click.option("--populations", default="10,1000,100000", show_default=True,
              help="conversations sharing one bucket")  # fmt: skip
@click.option("--sample", default=200, show_default=True, help="events measured at each size")
def main(lengths: str, populations: str, sample: int) -> None:
    by_length = [
        {"events": n, **conversation_length(n, sample)} for n in map(int, lengths.split(","))
    ]
    by_population = [
        {"conversations": n, **bucket_population(n, sample)}
        for n in map(int, populations.split(","))
    ]
    report = {
        "conversation_length": by_length,
        "bucket_population": by_population,
        "growth": {
            "length_cpu": ratio(by_length, "ms_per_event"),
            "length_bytes": ratio(by_length, "bytes_per_event"),
            "population_cpu": ratio(by_population, "ms_per_event"),
            "population_bytes": ratio(by_population, "bytes_per_event"),
        },
    }
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
