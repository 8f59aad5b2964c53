"""streamproc's table store: Faust's RocksDB store with the revoke fix (faust_fixes 5).

Faust picks a table's store class by the scheme of the store URL from its store
registry (the ``faust.stores`` entry point; ``streamproc-rocksdb`` is declared in
pyproject.toml). The configured ``rocksdb://`` URL is mapped to it (:func:`store_url`);
the local databases' paths do not depend on the scheme, so existing state is kept.
"""

from __future__ import annotations

from typing import Any

from faust import stores
from faust.stores.rocksdb import Store as RocksDBStore
from yarl import URL

from streamproc.faust_fixes import RevokeClosesEachDatabase

SCHEME = "streamproc-rocksdb"
"""The store URL scheme that selects :class:`Store`."""


class Store(RevokeClosesEachDatabase, RocksDBStore):
    """Faust's RocksDB store whose revoked partitions' databases are closed at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(getattr(self, "_dbs", None), dict):
            raise RuntimeError(
                "Faust's RocksDB store keeps no _dbs dict: port streamproc/faust_fixes.py "
                "(fix 5) to the installed faust-streaming."
            )


def store_url(configured: str) -> str:
    """The store URL Faust gets: ``rocksdb://...`` becomes ``streamproc-rocksdb://...``
    (:class:`Store`); any other store is used as configured."""
    if URL(configured).scheme == "rocksdb":
        return SCHEME + configured[len("rocksdb") :]
    return configured


def check_registered() -> None:
    """Fail loudly when Faust's store registry does not map ``streamproc-rocksdb://`` to
    :class:`Store` (the package was not installed, so its entry point is missing)."""
    try:
        found = stores.by_name(SCHEME)
    except ModuleNotFoundError:
        found = None
    if found is not Store:
        raise RuntimeError(
            f"Faust's store registry maps {SCHEME!r} to {found!r}, not "
            "streamproc.tables.store.Store: install the project (pip install -e . or make "
            "install) so that its faust.stores entry point is registered."
        )
