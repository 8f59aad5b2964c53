"""A write-back cache over a key-value store: a batch's writes reach the store once per key."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

_DELETED = None


class WriteBack(MutableMapping[bytes, bytes]):
    """Reads see the batch's own writes; ``flush`` writes each changed key once.

    A Faust table write costs a changelog record; a batch that updates a conversation, an
    agent's bucket or a counter many times produces one record per key instead. A key
    created and deleted within the batch never reaches the store; a key deleted that the
    store holds is deleted there (a tombstone in the changelog).
    Iteration is not supported: code that scans a store (the retention sweep) runs on the
    store itself after a flush.
    """

    __slots__ = ("backing", "forced", "pending")

    def __init__(self, backing: MutableMapping[bytes, bytes]) -> None:
        self.backing = backing
        self.pending: dict[bytes, bytes | None] = {}
        self.forced: set[bytes] = set()

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        pending = self.pending
        if key in pending:
            value = pending[key]
            return default if value is _DELETED else value
        return self.backing.get(key, default)

    def __getitem__(self, key: bytes) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        pending = self.pending
        if key in pending:
            return pending[key] is not _DELETED
        return key in self.backing

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self.pending[key] = _DELETED

    def tombstone(self, key: bytes) -> None:
        """Delete ``key`` and, even when the store does not hold it, write the deletion
        through to a store that can (``backing.tombstone``): re-asserting an absence heals
        a changelog that never received a deletion the local store did."""
        self.pending[key] = _DELETED
        self.forced.add(key)

    def __iter__(self) -> Iterator[bytes]:
        raise TypeError("a write-back store cannot be iterated; flush and scan the store")

    def __len__(self) -> int:
        raise TypeError("a write-back store has no length; flush and measure the store")

    def flush(self) -> int:
        """Write every changed key to the store; returns how many writes that took."""
        backing = self.backing
        writes = 0
        for key, value in self.pending.items():
            if value is _DELETED:
                if key in backing:
                    del backing[key]
                    writes += 1
                elif key in self.forced and hasattr(backing, "tombstone"):
                    backing.tombstone(key)
                    writes += 1
            else:
                backing[key] = value
                writes += 1
        self.pending.clear()
        self.forced.clear()
        return writes
