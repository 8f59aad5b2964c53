"""Prometheus metric objects of the worker and the exporter, and the metrics HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Final

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from exporter.schema import EXPORTS as EXPORT_TYPES

log = logging.getLogger(__name__)

# -- worker ------------------------------------------------------------------------------
EVENTS: Final = Counter(
    "streamproc_events_total",
    "Inbound events by topic and outcome (applied, duplicate, dead_lettered, rerouted).",
    ["topic", "outcome", "category"],
)
BATCH_APPLY_SECONDS: Final = Histogram(
    "streamproc_batch_apply_seconds",
    "Time to apply one fetched batch of one partition to the tables.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CHANGELOG_BYTES: Final = Counter(
    "streamproc_changelog_bytes_total",
    "Bytes (key + value) of table records written, by table.",
    ["table"],
)
# -- exporter ----------------------------------------------------------------------------
EXPORTS: Final = Counter(
    "streamproc_exports_total", "Export requests answered, by type and status.", ["type", "status"]
)
EXPORT_SECONDS: Final = Histogram(
    "streamproc_export_duration_seconds",
    "Time from an export request's arrival to its result, by type.",
    ["type"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
READMODEL_LAG: Final = Gauge(
    "streamproc_readmodel_lag_records",
    "Changelog records not yet in the read model at the last refresh.",
)
READMODEL_WATERMARK: Final = Gauge(
    "streamproc_readmodel_watermark_seconds",
    "Event time (Unix seconds) of the latest event reflected in the read model.",
)
FEED_EMIT_SECONDS: Final = Histogram(
    "streamproc_feed_emit_seconds",
    "Time to compute the live figures and send the changed feed records.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CONSUMER_LAG: Final = Gauge(
    "streamproc_consumer_lag_records",
    "Inbound records not yet committed by the workers' consumer group, per partition"
    " (measured by the exporter every CONSUMER_LAG_EVERY_S).",
    ["topic", "partition"],
)
FEED_RECORDS: Final = Counter(
    "streamproc_feed_records_total", "Metrics feed records sent (changed keys)."
)


def serve_metrics(port: int) -> bool:
    """Serve /metrics on ``port`` (all interfaces) in a background thread (0 = off);
    whether it started."""
    if port == 0:
        return False
    start_http_server(port)
    return True


def note_readmodel_lag(
    ends: Mapping[tuple[str, int], int], reached: Mapping[tuple[str, int], int]
) -> None:
    """Set the read-model lag: changelog records between the offsets reached and the ends."""
    READMODEL_LAG.set(sum(max(0, end - reached.get(tp, 0)) for tp, end in ends.items()))


def note_export(result: Mapping[str, Any], seconds: float) -> None:
    """Count one export result and its duration (type ``invalid`` when it had none)."""
    kind = result.get("export_type")
    kind = kind if isinstance(kind, str) and kind in EXPORT_TYPES else "invalid"
    EXPORTS.labels(kind, str(result.get("status"))).inc()
    EXPORT_SECONDS.labels(kind).observe(seconds)


_ADMISSIONS: Final = {"accepted": "applied", "duplicate": "duplicate"}


def note_event(topic: str, outcome: str, category: str = "") -> None:
    """Count one inbound event's outcome (``category``: the dead-letter category)."""
    EVENTS.labels(topic, outcome, category).inc()


def note_admissions(admitted: Mapping[tuple[str, str], int]) -> None:
    """Count a batch's applied and duplicate events by (topic, admission) (a late one is
    counted as dead-lettered)."""
    for (topic, admission), count in admitted.items():
        outcome = _ADMISSIONS.get(admission)
        if outcome is not None:
            EVENTS.labels(topic, outcome, "").inc(count)


CONSUMER_LAG_EVERY_S: Final = 5.0


async def watch_consumer_lag(settings: Any, stop: asyncio.Event) -> None:
    """Keep CONSUMER_LAG up to date (every partition, 0 when caught up) until ``stop``;
    a failed measurement (broker restarting) is retried at the next turn."""
    from streamproc.topics import committed_and_end, inbound_partitions

    while not stop.is_set():
        try:
            offsets = await committed_and_end(
                settings, settings.app_id, inbound_partitions(settings)
            )
            for tp, (done, end) in offsets.items():
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - done))
        except Exception as exc:  # the next turn retries
            log.debug("consumer lag not measured: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CONSUMER_LAG_EVERY_S)
