"""The exporter service: export requests from Kafka to CSV files, results back to Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from exporter.expiry import Sweeper
from exporter.formats import suffix, write_export
from exporter.readmodel import ReadModel
from exporter.request import (
    BadRequest,
    ExportRequest,
    decode_request,
    echo_fields,
    one_line,
    parse_request,
)
from exporter.rows import BUILDERS, Context, Directory, at
from exporter.scheduler import ScheduleRunner
from exporter.sqlrun import FormatPool, default_workers
from exporter.stamps import now, rfc3339
from exporter.sync import ChangelogFollower, FollowerStalled, Offsets
from exporter.urls import delivery_fields
from streamproc import faust_fixes
from streamproc.live import prom
from streamproc.live.feed import emit_after_refresh, feed_for
from streamproc.security import client_kwargs
from streamproc.settings import Settings
from streamproc.topics import committed_offsets, partition_counts

log = logging.getLogger(__name__)

FOLLOWER_STALL_S = 20.0
"""A changelog follower that reads nothing for this long while behind is replaced."""
REFRESH_SLICE_S = 60.0
"""An idle refresh reads the changelogs for at most this long before it looks for
requests again (it resumes where it stopped)."""
FEED_POLL_MS = 100
"""How long the idle loop waits for an export request before it refreshes the read model
(and emits the metrics feed) again: 500 ms made the feed 0.8 s / 1.9 s (p50/p99) behind
(docs/live.md, Benchmarks)."""


class ExportFailed(RuntimeError):
    """An export that could not be completed; the message is the result's ``error``."""


@dataclass(frozen=True)
class Snapshot:
    """The cut an export reflects: inbound offsets waited for, changelog offsets read, and
    the event-time watermark of the read model at that point."""

    as_of_ms: int
    inbound: Offsets
    changelog: Offsets

    def describe(self) -> dict[str, Any]:
        """JSON form for the result message."""
        return {
            "inbound": _offsets_json(self.inbound),
            "changelog": _offsets_json(self.changelog),
        }


def _offsets_json(offsets: Offsets) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted(offsets.items()):
        result.setdefault(topic, {})[str(partition)] = offset
    return result


class Exporter:
    """Owns the read model and its changelog follower; takes snapshots and renders CSVs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = ReadModel(settings.readmodel_file, settings.lock_max_s * 1000)
        self.follower = ChangelogFollower(settings, self.model)
        self.inbound_reader: AIOKafkaConsumer | None = None
        # Scheduled exports (exporter.scheduler); its ``counters`` count deliveries/failures.
        self.scheduler: ScheduleRunner | None = None
        # The formatting worker processes exports may use (exporter.sqlrun): this service
        # owns them, from start() to stop(); until start() exports format in-process.
        self.pool: FormatPool | None = None

    async def start(self) -> None:
        """Connect to Kafka; allow exports ``default_workers()`` formatting processes."""
        self.pool = FormatPool(default_workers())
        await self.follower.start()
        self.inbound_reader = AIOKafkaConsumer(**client_kwargs(self.settings), group_id=None)
        await self.inbound_reader.start()

    async def stop(self) -> None:
        """Disconnect, stop any formatting process and close the read model."""
        if self.pool is not None:
            self.pool.close()
        await self.follower.stop()
        if self.inbound_reader is not None:
            await self.inbound_reader.stop()
        self.model.close()

    async def refresh(self) -> int:
        """Bring the read model to the changelogs' current ends (dashboards read it)."""
        await self._ensure_all_changelogs()
        targets = await self.follower.end_offsets()
        prom.note_readmodel_lag(targets, self.model.next_offsets())
        try:
            return await self._catch_up(targets, time.monotonic() + REFRESH_SLICE_S)
        except TimeoutError:
            return 0  # what was read is kept; requests are served before the next slice

    async def _catch_up(self, targets: Offsets, deadline: float | None = None) -> int:
        """``ChangelogFollower.catch_up``, replacing a follower that reads nothing for
        ``FOLLOWER_STALL_S`` while behind, or does not follow every partition of
        ``targets`` (a new consumer reads on from the read model's offsets). Twice in 12
        chaos runs the exporter answered nothing for 1 to 2.5 minutes after the broker
        restart (cause not pinned down; aiokafka consumers can sit on metadata the
        restarting broker served): this bounds any stall of the follower to 20 s.
        Raises TimeoutError past ``deadline``."""
        while True:
            try:
                return await self.follower.catch_up(targets, deadline, FOLLOWER_STALL_S)
            except FollowerStalled as exc:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(str(exc)) from None
                log.warning("%s: reconnecting the changelog follower", exc)
                await self.reset_follower()
                await asyncio.sleep(1.0)  # e.g. the broker is still loading its topics
                await self._ensure_all_changelogs()

    async def _ensure_all_changelogs(self) -> None:
        """Follow every changelog (topics.ensure_topics creates them; an older deployment
        may get them from its workers later).

        A follower that failed (e.g. the broker restarted under it) is replaced too.
        """
        expected = len(self.follower.topic_table) * self.settings.events_partitions
        if len(self.follower.partitions) < expected or self.follower.consumer is None:
            old, self.follower = self.follower, ChangelogFollower(self.settings, self.model)
            await old.stop()
            await self.follower.start()

    async def reset_follower(self) -> None:
        """Drop the changelog consumer; the next refresh starts a fresh one."""
        await self.follower.stop()
        self.follower = ChangelogFollower(self.settings, self.model)

    async def snapshot(self, timeout_s: float) -> Snapshot:
        """Wait until the workers have processed everything published to the inbound topics
        so far, then bring the read model to the changelogs' ends."""
        deadline = time.monotonic() + timeout_s
        # Two cuts: events re-routed from before the inbound cut are in the re-route topic
        # once the inbound offsets are committed (a forward is flushed before its source
        # offset is committed), so its cut is taken after the first is processed.
        cut = await self._processed_cut(list(self.settings.inbound_topics), deadline, timeout_s)
        cut.update(await self._processed_cut([self.settings.topic_reroute], deadline, timeout_s))
        await self._ensure_all_changelogs()
        changelog = await self.follower.end_offsets()
        try:
            await self._catch_up(changelog, deadline=max(deadline, time.monotonic() + 30))
        except TimeoutError as exc:
            raise ExportFailed(str(exc)) from None
        watermark = self.model.watermark_ms()
        as_of = watermark if watermark is not None else 0
        return Snapshot(as_of, cut, changelog)

    async def _processed_cut(self, topics: list[str], deadline: float, timeout_s: float) -> Offsets:
        """The end offsets of ``topics`` now, once the workers have committed them."""
        assert self.inbound_reader is not None  # noqa: S101 - start() first
        counts = await partition_counts(self.settings, topics)
        tps = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
        cut = {
            (tp.topic, tp.partition): o
            for tp, o in (await self.inbound_reader.end_offsets(tps)).items()
        }
        # One admin client for the whole wait (not one per poll): it reconnects by itself.
        admin = AIOKafkaAdminClient(**client_kwargs(self.settings))
        try:
            await admin.start()  # inside: a broker that is down must not leak the client
            while True:
                lag = await self._lag(admin, cut)
                if lag == 0:
                    return cut
                if time.monotonic() > deadline:
                    raise ExportFailed(
                        f"the workers did not process the events published before the request "
                        f"within {timeout_s:.0f} s ({lag} still pending); is a worker running?"
                    )
                await asyncio.sleep(0.2)
        finally:
            await admin.close()

    async def _lag(self, admin: AIOKafkaAdminClient, cut: Offsets) -> int:
        """Records before the cut that the workers have not committed yet."""
        if not cut:
            return 0
        tps = [TopicPartition(t, p) for t, p in cut]
        committed = await committed_offsets(admin, self.settings.app_id, tps)
        return sum(max(0, cut[(tp.topic, tp.partition)] - committed[tp]) for tp in tps)

    def render(self, request: ExportRequest, snapshot: Snapshot, path: Path) -> dict[str, Any]:
        """Write the file of ``request`` from the read model to ``path`` (atomically, in
        the request's format: exporter.formats), with the service's formatting processes."""
        context = Context(
            self.model.conn, request, Directory.load(self.model.conn), snapshot.as_of_ms
        )
        rows = BUILDERS[request.export_type](context)
        written = write_export(path, request, rows, as_of_ms=snapshot.as_of_ms, workers=self.pool)
        return {
            "path": str(path),
            "rows": written.rows,
            "bytes": written.bytes,
            "sha256": written.sha256,
            **delivery_fields(self.settings, request, path),
        }

    def file_for(self, request: ExportRequest, started: datetime) -> Path:
        """The service chooses file names: type, time and a digest of the request id."""
        digest = hashlib.sha256(request.request_id.encode()).hexdigest()[:12]
        stamp = started.strftime("%Y%m%dT%H%M%S")
        name = f"{request.export_type}-{stamp}-{digest}{suffix(request.format)}"
        return self.settings.exports_dir / name

    async def handle(self, raw: bytes | None) -> dict[str, Any]:
        """Serve one request message; always returns a result (``succeeded`` or ``failed``).

        The request is validated before anything of it is echoed: a result echoes
        ``request_id``/``export_type`` only as bounded strings (exporter.request.echo_fields),
        and a failure of any kind (bad field, out-of-range date, a bug) becomes a ``failed``
        result with a one-line ``error`` of at most MAX_REASON_LEN characters."""
        started = now()
        base: dict[str, Any] = {
            "request_id": None,
            "export_type": None,
            "started_at": rfc3339(started),
        }
        obj: Any = None
        try:
            obj = decode_request(raw)
            request = parse_request(obj)
            base.update(request_id=request.request_id, export_type=request.export_type)
            earlier = self.model.earlier_result(request.request_id)
            if earlier is not None and earlier.get("expired_at") is None:
                return earlier  # an expired one (its file removed) is run again

            snapshot = await self.snapshot(self.settings.export_timeout_s)
            written = self.render(request, snapshot, self.file_for(request, started))
            result = {
                **base,
                "status": "succeeded",
                **written,
                "as_of": rfc3339(at(snapshot.as_of_ms) or started),
                "cut": snapshot.describe(),
                "finished_at": rfc3339(now()),
            }
            self.model.remember_result(request.request_id, result)
        except (BadRequest, ExportFailed) as exc:
            if isinstance(exc, BadRequest) and base["request_id"] is None:
                base.update(echo_fields(obj))
            result = failed(base, str(exc))
        except Exception as exc:  # an export must always answer
            log.exception("export failed")
            result = failed(base, f"internal error: {type(exc).__name__}: {exc}")
        return result


def failed(base: dict[str, Any], reason: str) -> dict[str, Any]:
    """A ``failed`` result with ``base``'s fields and a one-line, bounded ``error``."""
    return {**base, "status": "failed", "error": one_line(reason), "finished_at": rfc3339(now())}


def result_message(result: dict[str, Any]) -> tuple[bytes, bytes | None]:
    """(value, key) of a result on the results topic: the key is its request id."""
    request_id = result.get("request_id")
    key = request_id.encode("utf-8", "replace") if isinstance(request_id, str) else None
    return orjson.dumps(result), key or None


async def publish(producer: AIOKafkaProducer, topic: str, result: dict[str, Any]) -> bool:
    """Send ``result``; when that fails (too large, broker error) send a small ``failed``
    result for the same request instead, and when even that fails log it. Whether
    anything was published."""
    try:
        value, key = result_message(result)
        await producer.send_and_wait(topic, value=value, key=key)
        return True
    except Exception as exc:
        log.warning("could not publish the result of %r: %s", result.get("request_id"), exc)
        reason = one_line(f"the result could not be published: {type(exc).__name__}: {exc}")
    small = {**echo_fields(result), "started_at": result.get("started_at")}  # (bounded)
    try:
        value, key = result_message(failed(small, reason))
        await producer.send_and_wait(topic, value=value, key=key)
        return True
    except Exception as exc:
        log.error("could not publish a failed result for %r either: %s", small["request_id"], exc)
        return False


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Consume export requests and publish results until ``stop`` is set."""
    faust_fixes.apply()
    exporter = Exporter(settings)
    await exporter.start()
    requests = AIOKafkaConsumer(
        settings.topic_export_requests,
        **client_kwargs(settings),
        group_id=f"{settings.app_id}-exporter",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await requests.start()
    await producer.start()
    feed = feed_for(settings, producer)
    stop = stop or asyncio.Event()
    sweeper = Sweeper(settings, exporter.model)
    exporter.scheduler = ScheduleRunner.from_settings(
        settings, producer, owner=lambda: bool(requests.assignment())
    )
    schedule_task = exporter.scheduler and asyncio.create_task(exporter.scheduler.run(stop))
    serving = prom.serve_metrics(settings.exporter_metrics_port)
    lag_watch = asyncio.create_task(prom.watch_consumer_lag(settings, stop)) if serving else None
    try:
        while not stop.is_set():
            sweeper.maybe_sweep()
            batch = await requests.getmany(timeout_ms=FEED_POLL_MS, max_records=1)
            if not batch:
                try:
                    await exporter.refresh()
                except Exception as exc:  # the broker may be restarting: retry shortly
                    log.warning("read model refresh failed, retrying: %s", exc)
                    await exporter.reset_follower()
                    await asyncio.sleep(1.0)
                    continue
                await emit_after_refresh(feed, exporter.model)
                continue
            for tp, messages in batch.items():
                for message in messages:
                    started = time.monotonic()
                    result = await exporter.handle(message.value)
                    prom.note_export(result, time.monotonic() - started)
                    if not await publish(producer, settings.topic_export_results, result):
                        # Nothing could be published (the broker is away): read the request
                        # again shortly; a repeat is answered from export_results or re-run.
                        requests.seek(tp, message.offset)
                        await asyncio.sleep(1.0)
                        break
                    try:  # answered or failed: never read again
                        await requests.commit({tp: message.offset + 1})
                    except Exception as exc:  # (a repeat is answered from export_results)
                        log.warning(
                            "could not commit past request offset %s: %s", message.offset, exc
                        )
                    if exporter.scheduler is not None:
                        exporter.scheduler.on_result(result)
    finally:
        if schedule_task:
            schedule_task.cancel()
            await asyncio.gather(schedule_task, return_exceptions=True)
        if lag_watch is not None:
            lag_watch.cancel()
        await requests.stop()
        await producer.stop()
        await exporter.stop()
