"""Write-back batches: one write per key, and the same state whatever the batch size."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest

from streamproc.events import InvalidEvent, parse_event
from streamproc.state import BatchStores, _write_buckets, apply_event, conversation_log
from streamproc.testing.simulate import SimulationConfig, simulate
from streamproc.writeback import WriteBack
from tests.offline import RULES, ingest, new_stores, per_conversation


class CountingStore(dict[bytes, bytes]):
    """A dict that counts writes and deletes (what a Faust table turns into changelog records)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.writes: list[tuple[bytes, bytes | None]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes.append((key, value))
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.writes.append((key, None))
        super().__delitem__(key)


@pytest.mark.parametrize(
    ("operations", "expected_store", "expected_writes"),
    [
        (
            [("set", b"a", b"1"), ("set", b"a", b"2"), ("set", b"a", b"3")],
            {b"k": b"0", b"a": b"3"},
            [(b"a", b"3")],
        ),
        ([("set", b"n", b"1"), ("del", b"n", None)], {b"k": b"0"}, []),
        ([("del", b"k", None)], {}, [(b"k", None)]),
        ([("del", b"k", None), ("set", b"k", b"9")], {b"k": b"9"}, [(b"k", b"9")]),
        ([("set", b"k", b"0")], {b"k": b"0"}, [(b"k", b"0")]),
    ],
    ids=["last-write-wins", "created-and-deleted", "delete-existing", "delete-then-set", "rewrite"],
)
def test_flush_writes_each_changed_key_once(
    operations: list[tuple[str, bytes, bytes | None]],
    expected_store: dict[bytes, bytes],
    expected_writes: list[tuple[bytes, bytes | None]],
) -> None:
    store = CountingStore({b"k": b"0"})
    batch = WriteBack(store)
    for op, key, value in operations:
        if op == "set":
            assert value is not None
            batch[key] = value
        else:
            del batch[key]
    assert store.writes == []  # nothing reaches the store before the flush
    assert batch.flush() == len(expected_writes)
    assert dict(store) == expected_store
    assert store.writes == expected_writes


def test_reads_see_the_batch_writes() -> None:
    batch = WriteBack(CountingStore({b"k": b"0", b"gone": b"x"}))
    batch[b"k"] = b"1"
    del batch[b"gone"]
    assert batch.get(b"k") == b"1"
    assert batch[b"k"] == b"1"
    assert b"gone" not in batch
    assert batch.get(b"gone") is None
    assert batch.get(b"missing", b"d") == b"d"
    with pytest.raises(KeyError):
        del batch[b"gone"]
    with pytest.raises(KeyError):
        batch[b"missing"]
    with pytest.raises(TypeError, match="flush"):
        list(batch)


def _events(seed: int) -> list[Any]:
    events = []
    for line in simulate(SimulationConfig(seed=seed, days=2, conversations=60)):
        try:
            events.append(parse_event(line))
        except InvalidEvent:
            continue
    return events


@pytest.mark.parametrize("batch_size", [7, 500, 100_000])
@pytest.mark.parametrize("seed", [3, 17])
def test_batches_leave_the_same_state_as_batches_of_one(seed: int, batch_size: int) -> None:
    events = _events(seed)
    reference, _ = ingest(  # each event a batch of one
        simulate(SimulationConfig(seed=seed, days=2, conversations=60))
    )
    stores = new_stores()
    counting = {name: CountingStore() for name in ("segments", "activity")}
    stores = type(stores)(
        **{name: counting.get(name, getattr(stores, name)) for name in stores.__dataclass_fields__}
    )
    for start in range(0, len(events), batch_size):
        batch = BatchStores.over(stores, RULES)
        for event in events[start : start + batch_size]:
            apply_event(batch, event, RULES)
        batch.flush()
    for name in stores.__dataclass_fields__:
        ours: MutableMapping[bytes, bytes] = getattr(stores, name)
        theirs: MutableMapping[bytes, bytes] = getattr(reference, name)
        if name == "conversations":
            # Where a batch cuts a log into segments may differ from batches of one (a
            # segment that late events grew is split once per batch); the logs and each
            # conversation's contributions are identical.
            assert set(ours) == set(theirs)
            for k in theirs:
                assert conversation_log(ours, stores.segments, k.decode()) == conversation_log(
                    theirs, reference.segments, k.decode()
                )
        elif name == "activity":
            assert per_conversation(ours) == per_conversation(theirs)
        elif name != "segments":
            assert dict(ours) == dict(theirs), name
    if batch_size >= 500:
        # Many events per conversation and bucket per batch: far fewer writes than events.
        assert len(counting["segments"].writes) < len(events) / 2


class ChangelogStore(CountingStore):
    """A store that, like a partition view with a writer, can write a deletion of a key it
    does not hold (the changelog may still have it)."""

    def tombstone(self, key: bytes) -> None:
        self.writes.append((key, None))


def test_a_forced_tombstone_reaches_a_store_that_can_write_one() -> None:
    store = ChangelogStore()
    batch = WriteBack(store)
    batch.tombstone(b"gone-locally")
    assert batch.flush() == 1
    assert store.writes == [(b"gone-locally", None)]
    plain = CountingStore()
    batch = WriteBack(plain)
    batch.tombstone(b"gone-locally")
    assert batch.flush() == 0 and plain.writes == []


@pytest.mark.parametrize(("changed", "tombstones"), [(False, 1), (True, 0)])
def test_re_asserting_an_empty_bucket_writes_its_tombstone(changed: bool, tombstones: int) -> None:
    # A crash after the local store deleted bucket B but before the changelog got the
    # deletion: the duplicate's re-assert (changed=False) must delete B in the changelog.
    store = ChangelogStore()
    batch = WriteBack(store)
    _write_buckets(batch, 3, "conv-1", 2, {"agent|a1|0"}, {}, {}, changed)
    batch.flush()
    assert store.writes == [(b'3|agent|0|["a1","conv-1",2]', None)] * tombstones
