"""Retention of export files and results: old files are removed, their results become tombstones."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import orjson

from exporter.stamps import rfc3339

if TYPE_CHECKING:
    from exporter.readmodel import ReadModel
    from streamproc.settings import Settings

log = logging.getLogger(__name__)

TOMBSTONE_DAYS: Final = 30
"""An expired result is kept (with ``expired_at``, its file gone) this long, so that its
download answers 410 Gone rather than 404; then it is deleted."""
SWEEP_EVERY_S: Final = 600.0
"""Most time between two sweeps; shorter retentions sweep 10 times per retention."""

#: Names the exporter gives its files (exporter.service.Exporter.file_for), with the
#: ``.partial`` of an interrupted write. Nothing else in the directory is touched.
EXPORT_FILE = re.compile(
    r"[a-z_]+-\d{8}T\d{6}-[0-9a-f]{12}\.(csv|csv\.gz|parquet)(\.partial)?", re.ASCII
)


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    expired: int
    files_removed: int
    tombstones_dropped: int


def sweep(model: ReadModel, exports_dir: Path, retention: timedelta, now: datetime) -> SweepReport:
    """Expire what is older than ``retention`` at ``now``.

    - A succeeded result whose ``finished_at`` is older: its file is deleted and the
      result gets ``expired_at`` (it stays, as a tombstone, for ``TOMBSTONE_DAYS``).
    - A tombstone older than ``TOMBSTONE_DAYS``: deleted.
    - A file of the exporter's naming (``EXPORT_FILE``) last modified before the cut and
      belonging to no live result (a result lost, a ``.partial`` of a crash): deleted.

    Idempotent; times are RFC 3339 UTC text, compared as text (same format throughout).
    """
    cut = rfc3339(now - retention)
    stamp = rfc3339(now)
    conn = model.conn
    rows = conn.execute(
        "SELECT request_id, result FROM export_results"
        " WHERE json_extract(result, '$.expired_at') IS NULL"
        " AND json_extract(result, '$.finished_at') < ?",
        (cut,),
    ).fetchall()
    removed = 0
    for request_id, text in rows:
        result = orjson.loads(text)
        if result.get("path"):
            target = exports_dir / Path(result["path"]).name
            if target.exists():
                target.unlink(missing_ok=True)
                removed += 1
        result["expired_at"] = stamp
        conn.execute(
            "UPDATE export_results SET result = ? WHERE request_id = ?",
            (orjson.dumps(result).decode(), request_id),
        )
    dropped = conn.execute(
        "DELETE FROM export_results WHERE json_extract(result, '$.expired_at') < ?",
        (rfc3339(now - timedelta(days=TOMBSTONE_DAYS)),),
    ).rowcount
    live = {
        Path(name).name
        for (name,) in conn.execute(
            "SELECT json_extract(result, '$.path') FROM export_results"
            " WHERE json_extract(result, '$.expired_at') IS NULL"
        )
        if name
    }
    cut_s = (now - retention).timestamp()
    if exports_dir.is_dir():
        for entry in exports_dir.iterdir():
            if entry.name in live or not EXPORT_FILE.fullmatch(entry.name):
                continue
            try:
                if entry.is_file() and entry.stat().st_mtime < cut_s:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return SweepReport(expired=len(rows), files_removed=removed, tombstones_dropped=dropped)


class Sweeper:
    """Runs ``sweep`` from the exporter's loop every ``interval_s`` (monotonic clock)."""

    def __init__(self, settings: Settings, model: ReadModel) -> None:
        self.settings = settings
        self.model = model
        self.retention = timedelta(hours=settings.export_retention_hours)
        self.interval_s = max(1.0, min(SWEEP_EVERY_S, self.retention.total_seconds() / 10))
        self._next = 0.0

    def maybe_sweep(self) -> SweepReport | None:
        """Sweep when due; never raises (a failed sweep is logged and retried later)."""
        if time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + self.interval_s
        try:
            report = sweep(self.model, self.settings.exports_dir, self.retention, datetime.now(UTC))
        except Exception:
            log.exception("export retention sweep failed; retrying in %.0f s", self.interval_s)
            return None
        if report.expired or report.files_removed or report.tombstones_dropped:
            log.info(
                "retention: %d export(s) expired, %d file(s) removed, %d tombstone(s) dropped",
                report.expired,
                report.files_removed,
                report.tombstones_dropped,
            )
        return report
