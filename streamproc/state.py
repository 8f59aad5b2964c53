"""Applies one admitted event to the state stores (any mapping: Faust tables or dicts)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import MutableMapping
from dataclasses import dataclass, field, fields
from typing import Any, cast

import orjson

from streamproc import keys as tablekeys
from streamproc.events import EVENT_TYPES, Event, PresenceChanged
from streamproc.intake import partition_for_key
from streamproc.metrics import Admission
from streamproc.metrics.buckets import Contribution, contributions
from streamproc.metrics.conversation import fold
from streamproc.metrics.conversation_log import (
    LogEntry,
    StoredEntry,
    decode_log,
    encode,
    log_entry,
    order_key,
)
from streamproc.metrics.directory import apply_directory_event, directory_key
from streamproc.metrics.message import apply_message_event, new_message
from streamproc.metrics.presence import (
    PresenceState,
    Rewrite,
    admit_change,
    current_rewrite,
    merge_day,
)
from streamproc.writeback import WriteBack

Store = MutableMapping[bytes, bytes]


@dataclass(frozen=True)
class Stores:
    """The keyed state, partition-local like the Faust tables that usually back it.

    - ``conversations``: conversation id → ``{"log": [entries in event order], "bk":
      [buckets it ever contributed to]}``, the entries in their compact stored form
      (metrics.conversation_log)
    - ``messages``: message id → the message record (metrics.message)
    - ``presence``: agent id → recent presence changes (metrics.presence)
    - ``presence_days``: ``agent|day-ms`` → ``{"agent", "day", "intervals"}``
    - ``directory``: ``kind|id`` → last-write-wins record (metrics.directory)
    - ``activity``: ``activity_key(partition, bucket, conversation)`` → one conversation's
      contribution (metrics.buckets: 15-minute rolling aggregates per agent, team,
      virtual agent and channel, topic/tag and channel, and contact)
    """

    conversations: Store
    messages: Store
    presence: Store
    presence_days: Store
    directory: Store
    activity: Store


STORE_NAMES = tuple(f.name for f in fields(Stores))


@dataclass
class _OpenConversation:
    """A conversation a batch has touched: its record (as stored: the log's entries keep
    their stored form, so untouched entries are written back byte for byte), its entries
    decoded (same order), and its bucket contributions before the batch."""

    key: bytes
    record: dict[str, Any]
    entries: list[LogEntry]
    before: dict[str, Contribution]
    ids: set[str]
    size: int
    """An upper bound of the record's size once written (bytes)."""
    saw_duplicate: bool = False


ENTRY_SIZE_MARGIN = 512
"""Bytes allowed per log entry beyond its own JSON, for the bucket keys it may add."""


@dataclass(frozen=True)
class BatchStores(Stores):
    """Stores whose writes are held until ``flush``: one write per key and batch.

    Conversations are settled once per batch: their logs take every event of the batch,
    then the log is folded once and only the buckets whose contribution differs from
    before the batch are written (per event, the fold would run for every event).
    """

    rules: Rules = field(default_factory=lambda: Rules())
    open_conversations: dict[str, _OpenConversation] = field(default_factory=dict)

    @classmethod
    def over(cls, stores: Stores, rules: Rules) -> BatchStores:
        """Write-back caches over ``stores``."""
        caches = {f.name: WriteBack(getattr(stores, f.name)) for f in fields(Stores)}
        return cls(**caches, rules=rules)  # type: ignore[arg-type]

    def add_to_log(self, conversation_id: str, entry: LogEntry) -> Admission:
        """Add ``entry`` to the conversation's log: ACCEPTED, DUPLICATE if it was there
        already, TOO_LARGE (nothing added) if the record could outgrow the record bound.

        The size check is an upper bound kept per batch (the record as loaded plus each
        added entry and a margin for its bucket keys), so a conversation at the bound
        costs one check per event, not a re-run of its batch.
        """
        current = self.open_conversations.get(conversation_id)
        if current is None:
            key = conversation_id.encode()
            raw = self.conversations.get(key)
            record = orjson.loads(raw) if raw is not None else {"log": [], "bk": []}
            entries = decode_log(record["log"])
            before = _contributions(conversation_id, entries, self.rules)
            ids = {e.event_id for e in entries}
            size = len(key) + (len(raw) if raw is not None else 16)
            current = _OpenConversation(key, record, entries, before, ids, size)
            self.open_conversations[conversation_id] = current
        if entry.event_id in current.ids:
            current.saw_duplicate = True
            return Admission.DUPLICATE
        stored = encode(entry)
        grown = current.size + len(orjson.dumps(stored)) + ENTRY_SIZE_MARGIN
        if grown > self.rules.max_record_bytes:
            return Admission.TOO_LARGE
        current.size = grown
        current.ids.add(entry.event_id)
        _insert_in_order(current.entries, current.record["log"], entry, stored)
        return Admission.ACCEPTED

    def settle(self) -> None:
        """Fold each touched conversation once and write its record and changed buckets.

        A batch holding a duplicate re-writes every bucket the conversation ever touched
        (not only those whose contribution changed), so that a changelog write lost in a crash is
        healed by the re-delivery.
        """
        rules = self.rules
        for conversation_id, current in self.open_conversations.items():
            record = current.record
            after = _contributions(conversation_id, current.entries, rules)
            touched = set(record.get("bk", []))
            keys = set(current.before) | set(after)
            if current.saw_duplicate:
                keys |= touched
            record["bk"] = sorted(touched | set(after))
            partition = partition_for_key(current.key, rules.partitions)
            _write_buckets(
                self.activity,
                partition,
                conversation_id,
                keys,
                current.before,
                after,
                changed=not current.saw_duplicate,
            )
            _save(self.conversations, current.key, record)
        self.open_conversations.clear()

    def check_sizes(self, max_record_bytes: int) -> None:
        """Settle, then raise RecordTooLarge if any record the batch would write (key and
        value) is larger than ``max_record_bytes``; nothing has been written then."""
        self.settle()
        for f in fields(Stores):
            for key, value in cast(WriteBack, getattr(self, f.name)).pending.items():
                if value is not None and len(key) + len(value) > max_record_bytes:
                    raise RecordTooLarge(f.name, key, len(key) + len(value), max_record_bytes)

    def flush(self) -> int:
        """Settle the conversations, then write the batch's changes to the stores
        underneath; returns the writes."""
        self.settle()
        return sum(cast(WriteBack, getattr(self, f.name)).flush() for f in fields(Stores))


class RecordTooLarge(Exception):
    """Applying an event would write a table record larger than the configured bound."""

    def __init__(self, table: str, key: bytes, size: int, limit: int) -> None:
        shown_key = key[:60].decode(errors="replace")
        super().__init__(
            f"applying it would make {table} record {shown_key!r} {size:,} bytes, over the "
            f"{limit:,}-byte bound (STREAMPROC_MAX_RECORD_BYTES)"
        )


@dataclass(frozen=True)
class Rules:
    """The event-time rules the updates follow (from settings)."""

    lateness_ms: int = 3_600_000
    lock_max_ms: int = 7_200_000
    partitions: int = 8
    max_record_bytes: int = 900_000


def _load(store: Store, key: bytes) -> Any:
    raw = store.get(key)
    return None if raw is None else orjson.loads(raw)


def _save(store: Store, key: bytes, value: Any) -> None:
    store[key] = orjson.dumps(value)


def apply_event(
    stores: BatchStores,
    event: Event,
    rules: Rules,
    offset: int | None = None,
    rerouted: bool = False,
) -> Admission:
    """Apply ``event`` to a batch's write-back stores; ACCEPTED if it changed anything.

    There is one update path: a single event is a batch of one (``BatchStores.over``,
    ``apply_event``, ``flush``), as the worker applies each fetch of a partition.

    A DUPLICATE re-writes the records the event touches with their current values, so a
    worker that died after updating its local store but before the changelog got the
    write heals the changelog when the event is delivered again (at-least-once).
    ``offset`` is the record's source offset: presence uses it to tell a re-delivery from
    a late event (``rerouted``: an offset of the re-route topic, another sequence).
    """
    if isinstance(event, PresenceChanged):
        return _apply_presence(stores, event, rules.lateness_ms, offset, rerouted)
    if EVENT_TYPES[event.type].stream == "conversation":
        return _apply_conversation_event(stores, event)
    return _apply_directory(stores, event)


def _apply_conversation_event(stores: BatchStores, event: Event) -> Admission:
    changed = False
    conversation_id = event.key
    entry = log_entry(event)
    if entry is not None:
        admission = stores.add_to_log(conversation_id, entry)
        if admission is Admission.TOO_LARGE:
            return admission  # before the message record changes: nothing of it applies
        changed = admission is Admission.ACCEPTED
    if event.type.startswith("message."):
        message_id: str = getattr(event, "message_id")  # noqa: B009 - every message.* has it
        key = message_id.encode()
        message = _load(stores.messages, key) or new_message(conversation_id)
        changed = apply_message_event(message, event) or changed
        _save(stores.messages, key, message)
    return Admission.ACCEPTED if changed else Admission.DUPLICATE


def _insert_in_order(
    entries: list[LogEntry], stored_log: list[StoredEntry], entry: LogEntry, stored: StoredEntry
) -> None:
    """Insert ``entry`` in event order (after any with the same order key), and its stored
    form at the same place of ``stored_log`` (the same log, stored form)."""
    key = order_key(entry)
    if not entries or key >= order_key(entries[-1]):
        entries.append(entry)
        stored_log.append(stored)
    else:
        at = bisect_right(entries, key, key=order_key)
        entries.insert(at, entry)
        stored_log.insert(at, stored)


_FACTS_CACHE: dict[tuple[str, int], tuple[tuple[str, ...], dict[str, Contribution]]] = {}
_FACTS_CACHE_SIZE = 50_000


def _contributions(conversation_id: str, log: list[LogEntry], rules: Rules) -> dict[str, Any]:
    """Bucket contributions of a conversation's log (a pure function, memoised per log)."""
    signature = tuple(e.event_id for e in log)
    cache_key = (conversation_id, rules.lock_max_ms)  # the fold depends on both
    cached = _FACTS_CACHE.get(cache_key)
    if cached is not None and cached[0] == signature:
        return cached[1]
    result = contributions(fold(conversation_id, log, rules.lock_max_ms))
    if len(_FACTS_CACHE) >= _FACTS_CACHE_SIZE:
        _FACTS_CACHE.clear()
    _FACTS_CACHE[cache_key] = (signature, result)
    return result


def _write_buckets(
    store: Store,
    partition: int,
    conversation_id: str,
    keys: set[str],
    before: dict[str, Contribution],
    after: dict[str, Contribution],
    changed: bool,
) -> None:
    """Write the conversation's contribution to each bucket whose share changed.

    One record per (bucket, entity, conversation) (``activity_key``): a write costs one
    contribution, not the bucket's whole population, and no record is ever written from
    two partitions (a conversation lives on one).
    """
    for bucket in sorted(keys):
        new = after.get(bucket)
        if changed and before.get(bucket) == new:
            continue
        key = tablekeys.activity_key(partition, bucket, conversation_id)
        if new is not None:
            store[key] = orjson.dumps(new, option=orjson.OPT_SORT_KEYS)
        elif key in store:
            del store[key]  # a tombstone in the changelog
        elif not changed and hasattr(store, "tombstone"):
            # Re-asserting: the local store already lost the record, but a crash may have
            # kept its deletion from the changelog.
            store.tombstone(key)


def _apply_presence(
    stores: Stores,
    event: PresenceChanged,
    lateness_ms: int,
    offset: int | None,
    rerouted: bool = False,
) -> Admission:
    key = event.agent_id.encode()
    state = PresenceState.from_json(_load(stores.presence, key))
    change = [event.occurred_at_ms, event.event_id, event.presence, event.away_status]
    admission, rewrite = admit_change(state, change, lateness_ms, offset, rerouted)
    if admission is Admission.LATE:
        return admission
    if rewrite is None:  # duplicate: re-assert what the state knows
        rewrite = current_rewrite(state)
    _save(stores.presence, key, state.to_json())
    _write_days(stores, event.agent_id, rewrite)
    return admission


def _write_days(stores: Stores, agent_id: str, rewrite: Rewrite) -> None:
    for day in rewrite.days:
        key = tablekeys.presence_day_key(agent_id, day)
        record = _load(stores.presence_days, key) or {
            "agent": agent_id,
            "day": day,
            "intervals": [],
        }
        record["intervals"] = merge_day(record["intervals"], day, rewrite)
        _save(stores.presence_days, key, record)


def _apply_directory(stores: Stores, event: Event) -> Admission:
    kind, entity_id = directory_key(event)
    key = tablekeys.directory_key(kind, entity_id)
    before = _load(stores.directory, key)
    after = apply_directory_event(before, event)
    _save(stores.directory, key, after)
    return Admission.DUPLICATE if after == before else Admission.ACCEPTED
