"""Scheduled exports at run time: sends due runs as export requests, delivers their files, and
keeps each schedule's progress in a compacted Kafka topic."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from exporter.delivery import DeliveryFailed, deliver
from exporter.schedules import (
    Period,
    Schedule,
    ScheduleError,
    SftpDestination,
    load_schedules,
    parse_request_id,
)
from exporter.stamps import now, rfc3339
from streamproc.security import client_kwargs
from streamproc.settings import Settings

log = logging.getLogger(__name__)

MAX_RETRY_S = 900.0
"""Longest wait before a failed run is sent again."""
PROGRESS_READ_S = 30.0
"""Reading the progress topic to its end taking longer than this replaces the consumer."""


def progress_key(schedule: str, export_type: str) -> str:
    """Key of a schedule's export type in the progress topic."""
    return f"{schedule}:{export_type}"


def read_schedule_file(path: Path) -> list[Schedule]:
    """Load the schedule file; ScheduleError (with the path) when missing or invalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleError(f"cannot read the schedule file {path}: {exc}") from None
    return load_schedules(text, origin=str(path))


def fold_progress(
    progress: dict[str, dict[str, Any]], key: bytes | None, value: bytes | None, topic: str
) -> None:
    """Fold one record of the progress topic into ``progress`` (per key, the latest
    delivered period wins, whatever order instances wrote in); a malformed record
    (not JSON, no aware ``period_end``) is logged and ignored, never raised."""
    if key is None or value is None:
        return
    try:
        entry = orjson.loads(value)
        end = datetime.fromisoformat(entry["period_end"])
        if end.utcoffset() is None:
            raise ValueError("period_end without a zone")
        name = key.decode(errors="replace")
        known = progress.get(name)
        if known is None or datetime.fromisoformat(known["period_end"]) <= end:
            progress[name] = entry
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("ignoring a malformed record in %s: %r", topic, value[:200])


@dataclass
class _Pending:
    request_id: str
    not_before: float  # monotonic: do not send this key's next run before
    failures: int = 0


@dataclass
class ScheduleRunner:
    """Runs the schedules of one exporter process.

    Only the process that currently serves the command topic (``owner()``) sends runs.
    Per schedule and type one run is in flight at a time, oldest due period first; its
    result comes back through ``on_result`` (called by the service loop for every result
    it publishes); the file is delivered, then progress is recorded, then the next period
    is sent. ``clock`` is injectable (tests).
    """

    settings: Settings
    schedules: list[Schedule]
    producer: AIOKafkaProducer
    owner: Callable[[], bool] = lambda: True
    clock: Callable[[], datetime] = now
    tick_s: float = 5.0
    export_retry_s: float = 60.0
    resend_after_s: float | None = None
    counters: dict[str, int] = field(
        default_factory=lambda: {
            "runs_requested": 0,
            "delivered": 0,
            "delivery_failures": 0,
            "export_failures": 0,
        }
    )
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name = {s.name: s for s in self.schedules}
        self._pending: dict[str, _Pending] = {}
        self._results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._consumer: AIOKafkaConsumer | None = None
        self._tp = TopicPartition(self.settings.topic_export_schedules, 0)
        if self.resend_after_s is None:
            self.resend_after_s = self.settings.export_timeout_s + 60.0

    @classmethod
    def from_settings(
        cls, settings: Settings, producer: AIOKafkaProducer, **kwargs: Any
    ) -> ScheduleRunner | None:
        """A runner for STREAMPROC_SCHEDULES, or None when it is unset or invalid (the
        error is logged; the exporter keeps serving on-demand requests)."""
        if settings.schedules is None:
            return None
        try:
            schedules = read_schedule_file(settings.schedules)
        except ScheduleError as exc:
            log.error("scheduled exports are OFF: %s", exc)
            return None
        log.info(
            "scheduled exports: %s",
            ", ".join(f"{s.name} ({s.cadence.describe()}, {s.tz_name})" for s in schedules)
            or "none",
        )
        return cls(settings, schedules, producer, **kwargs)

    # -- progress topic --------------------------------------------------------------------
    async def _read_progress(self) -> None:
        """Fold new records of the progress topic into ``progress`` (per key, the latest
        delivered period wins, whatever order two instances wrote in)."""
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **client_kwargs(self.settings),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            await consumer.start()
            consumer.assign([self._tp])
            await consumer.seek_to_beginning(self._tp)
            self._consumer = consumer
        consumer = self._consumer
        try:
            end = (await consumer.end_offsets([self._tp]))[self._tp]
            deadline = time.monotonic() + PROGRESS_READ_S
            while await consumer.position(self._tp) < end:
                if time.monotonic() > deadline:  # a consumer stuck after a broker restart
                    raise TimeoutError(f"{self._tp.topic} not read within {PROGRESS_READ_S} s")
                batch = await consumer.getmany(self._tp, timeout_ms=1000)
                for record in batch.get(self._tp, []):
                    self._fold(record.key, record.value)
        except Exception:
            self._consumer = None
            await consumer.stop()
            raise

    def _fold(self, key: bytes | None, value: bytes | None) -> None:
        fold_progress(self.progress, key, value, self._tp.topic)

    def _delivered_until(self, key: str) -> datetime | None:
        entry = self.progress.get(key)
        return None if entry is None else datetime.fromisoformat(entry["period_end"])

    async def _record_progress(self, key: str, entry: dict[str, Any]) -> None:
        for attempt in range(5):
            try:
                await self.producer.send_and_wait(
                    self.settings.topic_export_schedules,
                    key=key.encode(),
                    value=orjson.dumps(entry),
                    partition=0,
                )
                break
            except Exception as exc:
                if attempt == 4:
                    raise
                log.warning("recording progress of %s failed, retrying: %s", key, exc)
                await asyncio.sleep(2**attempt)
        self._fold(key.encode(), orjson.dumps(entry))

    # -- the loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Tick and deliver until ``stop`` is set."""
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception as exc:  # e.g. the broker is restarting
                    log.warning("schedule tick failed, retrying: %s", exc)
                try:
                    result = await asyncio.wait_for(self._results.get(), self.tick_s)
                except TimeoutError:
                    continue
                try:
                    await self.deliver_run(result)
                except Exception as exc:
                    log.exception("delivering %s failed", result.get("request_id"))
                    self._retry_later(result.get("request_id") or "", self.export_retry_s, exc)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop the progress topic's consumer."""
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    def on_result(self, result: dict[str, Any]) -> None:
        """The service published ``result``; queue it when it is one of our runs."""
        run = parse_request_id(result.get("request_id") or "")
        if run is not None and run.schedule in self._by_name:
            self._results.put_nowait(result)

    async def tick(self) -> list[str]:
        """Send the next due run of every schedule and type that has none in flight.
        Returns the request ids sent."""
        if not self.owner():
            return []
        await self._read_progress()
        moment = self.clock()
        sent: list[str] = []
        for schedule in self.schedules:
            for export_type in schedule.exports:
                key = progress_key(schedule.name, export_type)
                pending = self._pending.get(key)
                if pending is not None and time.monotonic() < pending.not_before:
                    continue
                after = self._delivered_until(key)
                period = next(iter(schedule.due_periods(after, moment, limit=1)), None)
                if period is None:
                    continue
                request = schedule.request(export_type, period)
                await self.producer.send_and_wait(
                    self.settings.topic_export_requests,
                    value=orjson.dumps(request),
                    key=request["request_id"].encode(),
                )
                assert self.resend_after_s is not None  # noqa: S101 - set in __post_init__
                failures = pending.failures if pending is not None else 0
                self._pending[key] = _Pending(
                    request["request_id"], time.monotonic() + self.resend_after_s, failures
                )
                self.counters["runs_requested"] += 1
                log.info("scheduled run requested: %s", request["request_id"])
                sent.append(request["request_id"])
        return sent

    def _settled(self, key: str, request_id: str) -> None:
        """The run is done: its key may send its next period (unless a later run of the
        key is already in flight)."""
        pending = self._pending.get(key)
        if pending is not None and pending.request_id == request_id:
            del self._pending[key]

    def _retry_later(self, request_id: str, delay_s: float, reason: object) -> None:
        run = parse_request_id(request_id)
        if run is None:
            return
        key = progress_key(run.schedule, run.export_type)
        pending = self._pending.get(key) or _Pending(request_id, 0.0)
        pending.failures += 1
        pending.not_before = time.monotonic() + delay_s
        self._pending[key] = pending
        log.info("%s will be retried in %.0f s (%s)", request_id, delay_s, reason)

    def _retry_delay(self, schedule: Schedule, failures: int) -> float:
        base = (
            schedule.destination.backoff_s
            if isinstance(schedule.destination, SftpDestination)
            else 1.0
        )
        return min(MAX_RETRY_S, max(1.0, base) * 2 ** min(failures, 10))

    async def deliver_run(self, result: dict[str, Any]) -> str:
        """Deliver the file of one scheduled run's result, record progress, publish a
        ``delivered`` or ``delivery_failed`` result. Returns what happened."""
        request_id = result["request_id"]
        run = parse_request_id(request_id)
        assert run is not None  # noqa: S101 - on_result only queues scheduled runs
        schedule = self._by_name[run.schedule]
        key = progress_key(run.schedule, run.export_type)
        if run.export_type not in schedule.exports:
            return "unknown type"
        period = schedule.period_containing(run.period_start)
        if period.start != run.period_start:
            log.warning("%s: not a period of schedule %s; ignored", request_id, schedule.name)
            return "not a period"
        await self._read_progress()  # another instance may have delivered it meanwhile
        done = self._delivered_until(key)
        if done is not None and done >= period.end:
            log.info("%s was delivered already", request_id)
            self._settled(key, request_id)
            return "already delivered"
        first = self._first_undelivered(schedule, done)
        if first is not None and first.start != period.start:
            log.info("%s is not the next period of %s (%s is); ignored", request_id, key, first.key)
            return "out of order"
        if result.get("status") != "succeeded":  # the failed result is on the topic already
            self.counters["export_failures"] += 1
            self._retry_later(request_id, self.export_retry_s, result.get("error"))
            return "export failed"
        name = schedule.file_name_for(run.export_type, period)
        started = now()
        report: dict[str, Any] = {
            "request_id": request_id,
            "export_type": run.export_type,
            "schedule": schedule.name,
            "period_start": period.key,
            "period_end": period.local_end.isoformat(),
            "destination": schedule.destination.describe(),
            "file": name,
            "sha256": result.get("sha256"),
            "bytes": result.get("bytes"),
            "rows": result.get("rows"),
            "started_at": rfc3339(started),
        }
        try:
            location = await deliver(schedule.destination, Path(result["path"]), name)
        except DeliveryFailed as exc:
            self.counters["delivery_failures"] += 1
            pending = self._pending.get(key)
            failures = (pending.failures if pending else 0) + 1
            log.error(
                "scheduled delivery failed (%d in total): %s: %s",
                self.counters["delivery_failures"], request_id, exc,
            )  # fmt: skip
            await self._publish(
                {**report, "status": "delivery_failed", "error": str(exc), "failures": failures,
                 "finished_at": rfc3339(now())}
            )  # fmt: skip
            self._retry_later(request_id, self._retry_delay(schedule, failures), "delivery failed")
            return "delivery failed"
        finished = now()
        await self._record_progress(
            key,
            {
                **{k: report[k] for k in ("schedule", "export_type", "period_start", "period_end",
                                          "request_id", "file", "sha256", "bytes", "rows")},
                "location": location,
                "delivered_at": rfc3339(finished),
            },
        )  # fmt: skip
        self.counters["delivered"] += 1
        self._settled(key, request_id)
        log.info("scheduled export delivered: %s -> %s", request_id, location)
        await self._publish(
            {**report, "status": "delivered", "location": location,
             "finished_at": rfc3339(finished)}
        )  # fmt: skip
        return "delivered"

    def _first_undelivered(self, schedule: Schedule, done: datetime | None) -> Period | None:
        if done is not None:
            return schedule.first_period_from(max(done, schedule.start) if schedule.start else done)
        if schedule.start is not None:
            return schedule.first_period_from(schedule.start)
        return None

    async def _publish(self, report: dict[str, Any]) -> None:
        try:
            await self.producer.send_and_wait(
                self.settings.topic_export_results,
                value=orjson.dumps(report),
                key=report["request_id"].encode(),
            )
        except Exception as exc:  # the delivery itself is done (or retried) either way
            log.warning(
                "could not publish %s of %s: %s", report["status"], report["request_id"], exc
            )
