"""Applies one admitted event to the state stores (any mapping: Faust tables or dicts)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, cast

import orjson

from streamproc import keys as tablekeys
from streamproc.events import EVENT_TYPES, Event, PresenceChanged
from streamproc.intake import partition_for_key
from streamproc.metrics import Admission
from streamproc.metrics import segments as segments_of
from streamproc.metrics.buckets import Contribution, contributions
from streamproc.metrics.conversation import (
    Carry,
    ConversationFacts,
    fold_segment,
    repeated_creations,
)
from streamproc.metrics.conversation_log import (
    LogEntry,
    MessageCreatedEntry,
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
from streamproc.metrics.segments import carry_from_json, carry_to_json
from streamproc.writeback import WriteBack

Store = MutableMapping[bytes, bytes]


@dataclass(frozen=True)
class Stores:
    """The keyed state, partition-local like the Faust tables that usually back it.

    - ``conversations``: conversation id → the head of its log (metrics.segments)
    - ``messages``: message id → the message record (metrics.message)
    - ``presence``: agent id → recent presence changes (metrics.presence)
    - ``presence_days``: ``agent|day-ms`` → ``{"agent", "day", "intervals"}``
    - ``directory``: ``kind|id`` → last-write-wins record (metrics.directory)
    - ``activity``: ``activity_key(partition, bucket, conversation, segment)`` → one
      conversation segment's contribution (metrics.buckets: 15-minute rolling aggregates
      per agent, team, virtual agent and channel, topic/tag and channel, and contact)
    - ``segments``: ``segment_key(conversation, n)`` → one segment of a conversation's log
      with the fold's checkpoint before it (metrics.segments)
    """

    conversations: Store
    messages: Store
    presence: Store
    presence_days: Store
    directory: Store
    activity: Store
    segments: Store


STORE_NAMES = tuple(f.name for f in fields(Stores))

MAX_ENTRY_SHARE = 4
"""An entry may take at most this fraction (1/4) of the record bound: its segment's record
also holds the carry (which may repeat some of its texts), links and bucket keys. A larger
one is refused ``too_large``; ``check_sizes`` is the final guard on every record."""

_END: Final = (1 << 62, "")
"""An order key after every entry."""


@dataclass(eq=False)
class _Segment:
    """A segment a batch has loaded: its record (to be written), its entries decoded (same
    order as the record's log) and its stored bytes."""

    sid: int
    key: bytes
    record: dict[str, Any]
    entries: list[LogEntry]
    raw: bytes | None
    """As loaded (None: new in this batch)."""
    size: int = 0
    """About the stored size of its entries (bytes): as loaded, plus each entry added."""
    changed: bool = False
    """The batch added to it (or changed its repeated creations)."""


@dataclass(eq=False)
class _OpenConversation:
    """A conversation a batch has touched: its head, the segments loaded, and the span of
    order keys whose segments must be refolded."""

    conversation_id: str
    key: bytes
    head: dict[str, Any]
    head_raw: bytes | None
    segments: dict[int, _Segment] = field(default_factory=dict)
    refold_from: tuple[int, str] | None = None
    refold_segment: _Segment | None = None
    """The segment holding ``refold_from`` (where the refold starts)."""
    refold_through: tuple[int, str] | None = None
    forced: bool = False
    """A duplicate was seen: re-assert every record from ``refold_from`` to the tail."""
    legacy_buckets: list[str] = field(default_factory=list)
    """Buckets of a record in the format before segments (their keys are deleted)."""
    relinked: set[int] = field(default_factory=set)
    """Segments whose links changed (a new tail, a split): written even if not refolded."""
    refolded: set[int] = field(default_factory=set)
    """Segments refolded (and so written) by this batch."""
    head_changed: bool = False
    """The head was reconciled with its segments (``BatchStores._tail``)."""

    def note(
        self, key: tuple[int, str], seg: _Segment, through: tuple[int, str] | None = None
    ) -> None:
        """The segments from ``key`` (in ``seg``) through ``through`` (default: ``key``)
        must refold."""
        last = key if through is None else through
        if self.refold_from is None or key < self.refold_from:
            self.refold_from = key
            self.refold_segment = seg
        if self.refold_through is None or last > self.refold_through:
            self.refold_through = last


@dataclass(frozen=True)
class BatchStores(Stores):
    """Stores whose writes are held until ``flush``: one write per key and batch.

    Conversations are settled once per batch: each event goes into the segment of the
    conversation's log that holds its order key, then the touched segments are refolded
    from their checkpoints (metrics.segments) and only the buckets whose contribution
    differs from before the batch are written.
    """

    rules: Rules = field(default_factory=lambda: Rules())
    open_conversations: dict[str, _OpenConversation] = field(default_factory=dict)
    stamp: int = field(default_factory=lambda: next_stamp())
    """This batch's write stamp: on every segment it writes (``"w"``) and every log entry
    it adds (``"at"``), so that re-asserting a duplicate finds what its batch wrote."""

    @classmethod
    def over(cls, stores: Stores, rules: Rules, stamp: int | None = None) -> BatchStores:
        """Write-back caches over ``stores`` (``stamp``: default, the next of this
        process's stamps)."""
        caches = {name: WriteBack(getattr(stores, name)) for name in STORE_NAMES}
        if stamp is None:
            return cls(**caches, rules=rules)  # type: ignore[arg-type]
        return cls(**caches, rules=rules, stamp=stamp)  # type: ignore[arg-type]

    # -- loading ------------------------------------------------------------------------
    def _open(self, conversation_id: str) -> _OpenConversation:
        conv = self.open_conversations.get(conversation_id)
        if conv is not None:
            return conv
        key = conversation_id.encode()
        raw = self.conversations.get(key)
        record = orjson.loads(raw) if raw is not None else None
        if record is None or "log" in record:
            conv = _OpenConversation(conversation_id, key, segments_of.new_head(), None)
            if record is None and self._stored(conv, 0) is not None:
                conv.head_changed = True  # a head a crash lost: ``_tail`` finds the tail
            else:
                self._new_segment(conv, 0, None)
            if record is not None:
                self._migrate(conv, record)
        else:
            conv = _OpenConversation(conversation_id, key, record, raw)
        self.open_conversations[conversation_id] = conv
        return conv

    def _segment(self, conv: _OpenConversation, sid: int) -> _Segment:
        seg = self._loaded(conv, sid)
        if seg is None:
            raise ValueError(f"conversation {conv.conversation_id!r} lacks segment {sid}")
        return seg

    def _loaded(self, conv: _OpenConversation, sid: int) -> _Segment | None:
        """Segment ``sid``, loaded if the batch has not yet (None: not stored)."""
        seg = conv.segments.get(sid)
        if seg is not None:
            return seg
        key = tablekeys.segment_key(conv.conversation_id, sid)
        raw = self.segments.get(key)
        if raw is None:
            return None
        record = orjson.loads(raw)
        entries = decode_log(record["log"])
        seg = _Segment(sid, key, record, entries, raw, len(raw))
        conv.segments[sid] = seg
        return seg

    def _stored(self, conv: _OpenConversation, sid: int) -> bytes | None:
        return self.segments.get(tablekeys.segment_key(conv.conversation_id, sid))

    def _tail(self, conv: _OpenConversation) -> _Segment:
        """The conversation's last segment. The head names it; a head and segments that
        a crash left from different batches (each table's changelog got some of a
        batch's writes) are reconciled here, the segments' links deciding, and the head
        is rewritten: a head behind its segments is followed along their links, a head
        naming a segment the changelog lost falls back to the last segment stored."""
        seg = self._loaded(conv, conv.head["tail"])
        if seg is not None and seg.record["n"] is None:
            return seg  # (the usual case)
        if seg is None:
            seg = self._last_stored(conv)
        while seg.record["n"] is not None:
            following = self._loaded(conv, seg.record["n"])
            if following is None:
                break
            seg = following
        if seg.record["n"] is not None:  # (its successor was lost too)
            seg.record["n"] = None
            conv.relinked.add(seg.sid)
        conv.head["tail"] = seg.sid
        conv.head_changed = True
        return seg

    def _last_stored(self, conv: _OpenConversation) -> _Segment:
        """A segment of the stored chain (probing sids down from the head's next: only
        after a crash lost the segment the head names; ``_tail`` follows its links); a
        new first segment if the changelog lost them all."""
        for sid in range(conv.head["next"] - 1, -1, -1):
            seg = self._loaded(conv, sid)
            if seg is not None:
                return seg
        return self._new_segment(conv, 0, None)  # (none: the log starts again)

    def _new_segment(self, conv: _OpenConversation, sid: int, prev: int | None) -> _Segment:
        record = segments_of.new_segment(prev, Carry())
        seg = _Segment(sid, tablekeys.segment_key(conv.conversation_id, sid), record, [], None)
        conv.segments[sid] = seg
        return seg

    def _append_segment(self, conv: _OpenConversation, after: _Segment) -> _Segment:
        """A new empty segment linked after ``after`` (the new tail if that was it)."""
        head = conv.head
        sid = head["next"]
        while sid in conv.segments or self._stored(conv, sid) is not None:
            sid += 1  # (a head the changelog lost: its segments are there)
        head["next"] = sid + 1
        seg = self._new_segment(conv, sid, after.sid)
        following = after.record["n"]
        seg.record["n"] = following
        after.record["n"] = sid
        conv.relinked |= {after.sid, sid}
        if following is None:
            head["tail"] = sid
        else:
            self._segment(conv, following).record["p"] = sid
            conv.relinked.add(following)
        return seg

    def _migrate(self, conv: _OpenConversation, legacy: dict[str, Any]) -> None:
        """Move a record of the format before segments (one whole log) into segments."""
        conv.legacy_buckets = list(legacy.get("bk", []))
        stored_log = legacy["log"]
        if not stored_log:
            return
        entries = decode_log(stored_log)
        seg = conv.segments[0]
        repeated = sorted(repeated_creations(entries))  # (each segment keeps its own)
        for at in range(0, len(entries), segments_of.SEGMENT_ENTRIES):
            if at:
                seg = self._append_segment(conv, seg)
            seg.record["r"] = list(repeated)
            seg.entries[:] = entries[at : at + segments_of.SEGMENT_ENTRIES]
            seg.record["log"][:] = stored_log[at : at + segments_of.SEGMENT_ENTRIES]
        conv.note(order_key(entries[0]), conv.segments[0], order_key(entries[-1]))
        conv.forced = True

    def _locate(self, conv: _OpenConversation, key: tuple[int, str]) -> _Segment:
        """The segment whose entries' order keys span ``key``: the last segment whose first
        entry is at or before it (walking back from the tail: cost grows with lateness)."""
        seg = self._tail(conv)
        while seg.entries and key < order_key(seg.entries[0]) and seg.record["p"] is not None:
            seg = self._segment(conv, seg.record["p"])
        return seg

    # -- admitting ----------------------------------------------------------------------
    def add_to_log(
        self, conversation_id: str, entry: LogEntry, repeated: bool = False
    ) -> Admission:
        """Add ``entry`` to the conversation's log: ACCEPTED, DUPLICATE if it was there
        already (same order key), TOO_LARGE (nothing added) if no record could hold it.
        ``repeated``: a ``message.created`` that is not its message's first creation."""
        conv = self.open_conversations.get(conversation_id) or self._open(conversation_id)
        key = order_key(entry)
        seg = conv.segments.get(conv.head["tail"]) or self._tail(conv)
        if seg.entries and key <= order_key(seg.entries[-1]):  # not after all: find it
            seg = self._locate(conv, key)
            at = bisect_left(seg.entries, key, key=order_key)
            if at < len(seg.entries) and order_key(seg.entries[at]) == key:
                start = self._reassert_from(conv, seg, seg.record["log"][at].get(ADDED, 0))
                conv.note(key if start is seg else order_key(start.entries[0]), start, _END)
                conv.forced = True
                return Admission.DUPLICATE
        else:  # in order (the usual case): after the tail's last entry
            at = len(seg.entries)
        stored = encode(entry)
        stored[ADDED] = self.stamp
        size = len(orjson.dumps(stored))
        if size * MAX_ENTRY_SHARE > self.rules.max_record_bytes:
            return Admission.TOO_LARGE
        if (
            seg.record["n"] is None
            and at == len(seg.entries)
            and len(seg.entries) >= segments_of.SEGMENT_ENTRIES
        ):
            carry_after = self._carry_after(conv, seg)
            if carry_after is None:
                conv.note(order_key(seg.entries[0]), seg)  # the new tail's carry comes from it
            seg = self._append_segment(conv, seg)
            if carry_after is not None:
                seg.record["c"] = carry_after
            at = 0
        seg.entries.insert(at, entry)
        seg.record["log"].insert(at, stored)
        seg.size += size + 1
        seg.changed = True
        if repeated:
            seg.record["r"].append(entry.event_id)
        if conv.refold_from is None:  # (conv.note, inlined for the usual case)
            conv.refold_from = conv.refold_through = key
            conv.refold_segment = seg
        else:
            conv.note(key, seg)
        return Admission.ACCEPTED

    def _reassert_from(self, conv: _OpenConversation, seg: _Segment, added: int) -> _Segment:
        """Where re-asserting a duplicate added at stamp ``added`` starts: its segment
        ``seg``, or the earliest of the segments before it written since (a batch that
        added the entry may have split or relinked them and lost their changelog writes
        in a crash, while the local store kept them: the re-assertion heals them too)."""
        while seg.record["p"] is not None:
            previous = self._segment(conv, seg.record["p"])
            if previous.record.get(WRITTEN, 0) < added or not previous.entries:
                break
            seg = previous
        return seg

    def _folded(self, conv: _OpenConversation, seg: _Segment) -> _Folded | None:
        """What this process remembers of folding ``seg`` as it is stored (None: nothing,
        or the segment changed since)."""
        if seg.raw is None:
            return None
        folded = _FOLDED.get((conv.conversation_id, seg.sid, self.rules.lock_max_ms))
        return folded if folded is not None and folded.raw == seg.raw else None

    def _carry_after(self, conv: _OpenConversation, seg: _Segment) -> list[Any] | None:
        """The stored carry after ``seg`` if this process folded it as it is stored and
        the batch has not changed it (else None: it is refolded)."""
        folded = None if seg.changed else self._folded(conv, seg)
        return None if folded is None else carry_to_json(folded.carry_after)

    def _carry_before(self, conv: _OpenConversation, seg: _Segment) -> Carry:
        """The carry ``seg`` stores (remembered if this process folded it)."""
        folded = self._folded(conv, seg)
        return carry_from_json(seg.record["c"]) if folded is None else folded.carry_before

    def creation_repeated(self, conversation_id: str, entry_key: tuple[int, str]) -> None:
        """The ``message.created`` entry at ``entry_key`` is no longer its message's first
        creation (an earlier one arrived): its segment refolds without it."""
        conv = self._open(conversation_id)
        seg = self._locate(conv, entry_key)
        if entry_key[1] not in seg.record["r"]:
            seg.record["r"].append(entry_key[1])
            seg.changed = True
        conv.note(entry_key, seg)

    # -- settling -----------------------------------------------------------------------
    def settle(self) -> None:
        """Refold each touched conversation's changed segments and write them, their
        changed buckets and the head if it changed.

        A batch holding a duplicate re-writes every record from the duplicate's segment to
        the tail (and every bucket those segments ever touched), so that a changelog write
        lost in a crash is healed by the re-delivery.
        """
        for conv in self.open_conversations.values():
            self._settle(conv)
        self.open_conversations.clear()

    def _settle(self, conv: _OpenConversation) -> None:
        if conv.refold_from is None and not conv.forced:
            return  # nothing was added (a refused event)
        rules = self.rules
        partition = partition_for_key(conv.key, rules.partitions)
        cid = conv.conversation_id
        if conv.legacy_buckets:  # every record of the earlier format goes (tombstones too)
            legacy = set(conv.legacy_buckets)
            _write_buckets(self.activity, partition, cid, None, legacy, {}, {}, changed=False)
        if conv.refold_from is not None:
            through = _END if conv.forced else conv.refold_through or _END
            seg = conv.refold_segment or self._locate(conv, conv.refold_from)
            carry = self._carry_before(conv, seg)
            carry_json: list[Any] | None = None  # (None: as the segment stores it)
            while True:
                self._split_if_large(conv, seg)
                facts = self._refold(conv, seg, carry, carry_json, partition)
                following = seg.record["n"]
                if following is None:
                    break
                seg = self._segment(conv, following)
                assert facts.end is not None  # noqa: S101 - set by every fold
                carry = facts.end
                carry_json = carry_to_json(carry)
                if order_key(seg.entries[0]) > through and seg.record["c"] == carry_json:
                    break
        for seg in conv.segments.values():
            if seg.sid in conv.refolded:
                continue  # (written by its refold)
            if seg.sid in conv.relinked or (conv.forced and seg.raw is not None):
                seg.record[WRITTEN] = self.stamp
                raw = orjson.dumps(seg.record)
                self.segments[seg.key] = raw
                seg.raw = raw
        if conv.head_raw is None or conv.forced or conv.relinked or conv.head_changed:
            self.conversations[conv.key] = orjson.dumps(conv.head)

    def _refold(
        self,
        conv: _OpenConversation,
        seg: _Segment,
        carry: Carry,
        carry_json: list[Any] | None,
        partition: int,
    ) -> ConversationFacts:
        """Fold ``seg`` from ``carry`` (``carry_json``: its stored form, None if the
        segment has it already), store it, write the segment and its changed buckets."""
        rules, cid = self.rules, conv.conversation_id
        before = self._contributions_before(conv, seg)
        record = seg.record
        if carry_json is not None:
            record["c"] = carry_json
        if record["r"]:
            present = {e.event_id for e in seg.entries}
            record["r"] = sorted(i for i in set(record["r"]) if i in present)
        facts = fold_segment(
            cid, carry, seg.entries, rules.lock_max_ms, frozenset(record["r"]),
            last=record["n"] is None,
        )  # fmt: skip
        after = contributions(facts)
        touched, written = set(record["bk"]), set(after)
        # (not remembered, or a duplicate: every bucket the segment ever wrote)
        keys = touched | written if before is None or conv.forced else set(before) | written
        if not written <= touched:
            record["bk"] = sorted(touched | written)
        _write_buckets(
            self.activity, partition, cid, seg.sid, keys, before, after, changed=not conv.forced
        )
        raw = orjson.dumps(record)
        if raw != seg.raw or conv.forced:
            record[WRITTEN] = self.stamp
            raw = orjson.dumps(record)
            self.segments[seg.key] = raw
            seg.raw = raw
        conv.refolded.add(seg.sid)
        assert facts.end is not None  # noqa: S101 - set by every fold
        _remember((cid, seg.sid, rules.lock_max_ms), _Folded(raw, after, carry, facts.end))
        return facts

    def _contributions_before(
        self, conv: _OpenConversation, seg: _Segment
    ) -> dict[str, Any] | None:
        """The segment's contributions as the stores have them (before this batch): {} for
        a new segment, None when this process does not remember them (the bucket records
        the segment ever wrote are then compared with the store, not refolded)."""
        if seg.raw is None:
            return {}
        folded = self._folded(conv, seg)
        return None if folded is None else folded.contributions

    def _split_if_large(self, conv: _OpenConversation, seg: _Segment) -> None:
        """Split a segment that late events grew past the segment bounds (its upper half
        goes to a new segment linked after it)."""
        log = seg.record["log"]
        while len(seg.entries) > segments_of.SEGMENT_SPLIT_ENTRIES or (
            len(seg.entries) > 1
            and seg.size > segments_of.SEGMENT_SPLIT_BYTES
            and len(orjson.dumps(log)) > segments_of.SEGMENT_SPLIT_BYTES
        ):
            half = len(seg.entries) // 2
            upper = self._append_segment(conv, seg)
            upper.entries[:] = seg.entries[half:]
            upper.record["log"][:] = log[half:]
            upper.record["r"] = list(seg.record["r"])
            del seg.entries[half:]
            del log[half:]
            seg.size = len(orjson.dumps(log))
            upper.size = len(orjson.dumps(upper.record["log"]))
            conv.note(order_key(upper.entries[0]), upper)

    def check_sizes(self, max_record_bytes: int) -> None:
        """Settle, then raise RecordTooLarge if any record the batch would write (key and
        value) is larger than ``max_record_bytes``; nothing has been written then."""
        self.settle()
        for name in STORE_NAMES:
            for key, value in cast(WriteBack, getattr(self, name)).pending.items():
                if value is not None and len(key) + len(value) > max_record_bytes:
                    raise RecordTooLarge(name, key, len(key) + len(value), max_record_bytes)

    def flush(self) -> int:
        """Settle the conversations, then write the batch's changes to the stores
        underneath; returns the writes."""
        self.settle()
        return sum(cast(WriteBack, getattr(self, name)).flush() for name in STORE_NAMES)


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
    message: dict[str, Any] | None = None
    first_creation: list[Any] | None = None
    if event.type.startswith("message."):
        message_id: str = getattr(event, "message_id")  # noqa: B009 - every message.* has it
        message_key = message_id.encode()
        message = _load(stores.messages, message_key) or new_message(conversation_id)
        created = message["created"]
        first_creation = None if created is None else created["stamp"]
    if entry is not None:
        stamp: list[Any] | None = None
        repeated = False
        if first_creation is not None and type(entry) is MessageCreatedEntry:
            stamp = [entry.occurred_at_ms, entry.event_id]  # a repeated creation
            repeated = stamp > first_creation
        admission = stores.add_to_log(conversation_id, entry, repeated)
        if admission is Admission.TOO_LARGE:
            return admission  # before the message record changes: nothing of it applies
        changed = admission is Admission.ACCEPTED
        if changed and stamp is not None and first_creation and stamp < first_creation:
            # The creation counted so far is now a repeat.
            stores.creation_repeated(conversation_id, (first_creation[0], first_creation[1]))
    if message is not None:
        changed = apply_message_event(message, event) or changed
        _save(stores.messages, message_key, message)
    return Admission.ACCEPTED if changed else Admission.DUPLICATE


@dataclass(frozen=True, slots=True)
class _Folded:
    """A segment as this process last folded and wrote it: its stored bytes, its bucket
    contributions and the carries before and after it (all depend on nothing else but
    the lock maximum, which is in the key)."""

    raw: bytes
    contributions: dict[str, Contribution]
    carry_before: Carry
    carry_after: Carry


ADDED: Final = "at"
"""A stored log entry's key for the stamp of the batch that added it."""
WRITTEN: Final = "w"
"""A segment record's key for the stamp of the batch that last wrote it."""
_LAST_STAMP = [0]


def next_stamp() -> int:
    """A batch's write stamp: wall-clock milliseconds, strictly increasing in a process
    (a restarted worker on the same host continues after its predecessor's)."""
    stamp = max(_LAST_STAMP[0] + 1, time.time_ns() // 1_000_000)
    _LAST_STAMP[0] = stamp
    return stamp


_FOLDED: dict[tuple[str, int, int], _Folded] = {}
_FOLDED_SIZE = 50_000


def forget_folds() -> None:
    """Empty the process's memo of folded segments (benchmarks: a state built untimed
    leaves no memo that only some of the timed events would find)."""
    _FOLDED.clear()


def _remember(key: tuple[str, int, int], folded: _Folded) -> None:
    """Memoise a segment's fold by its stored bytes, so the next event on it need not
    fold it twice (nor decode its carry), and sealing it need not fold it at all."""
    if len(_FOLDED) >= _FOLDED_SIZE:
        _FOLDED.clear()
    _FOLDED[key] = folded


def _write_buckets(
    store: Store,
    partition: int,
    conversation_id: str,
    segment: int | None,
    keys: set[str],
    before: dict[str, Contribution] | None,
    after: dict[str, Contribution],
    changed: bool,
) -> None:
    """Write the conversation segment's contribution to each bucket whose share changed
    (``before`` None: not known, so each record is compared with the store's).

    One record per (bucket, entity, conversation, segment) (``activity_key``): a write
    costs one contribution, not the bucket's whole population, and no record is ever
    written from two partitions (a conversation lives on one).
    """
    for bucket in sorted(keys):
        new = after.get(bucket)
        if changed and before is not None and before.get(bucket) == new:
            continue
        key = tablekeys.activity_key(partition, bucket, conversation_id, segment)
        value = None if new is None else orjson.dumps(new, option=orjson.OPT_SORT_KEYS)
        if changed and before is None and store.get(key) == value:
            continue
        if value is not None:
            store[key] = value
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


def conversation_log(
    conversations: Mapping[bytes, bytes], segments: Mapping[bytes, bytes], conversation_id: str
) -> list[LogEntry]:
    """A conversation's whole log in event order (from its head and segments; a record
    of the format before segments holds it itself): for tools and tests."""
    raw = conversations.get(conversation_id.encode())
    if raw is None:
        return []
    head = orjson.loads(raw)
    if "log" in head:
        return decode_log(head["log"])
    parts: list[list[LogEntry]] = []
    sid: int | None = head["tail"]
    while sid is not None:
        record = orjson.loads(segments[tablekeys.segment_key(conversation_id, sid)])
        parts.append(decode_log(record["log"]))
        sid = record["p"]
    return [entry for part in reversed(parts) for entry in part]
