"""The output stream: event envelopes in an arrival-ordered heap, with duplicates and bad lines."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import timedelta
from random import Random
from typing import Any

import orjson

from streamproc.testing.simulate.config import DAY, EPOCH, SEC, SimulationConfig, to_ms
from streamproc.testing.simulate.malformed import malformed_line
from streamproc.testing.simulate.reference import OFFSETS

VALID, DUPLICATE, MALFORMED = 0, 1, 2
"""Kinds of output record: a valid event's first delivery, its duplicate, a bad line."""

Record = tuple[int, int, int, str, int, bytes]  # arrival, seq, kind, type/kind name, occ, line


class EventStream:
    """Emits events at event time into a heap ordered by arrival (event time plus a delay)."""

    def __init__(self, config: SimulationConfig) -> None:
        self.cfg = config
        # The random streams' names keep the module's first path: same seed, same bytes.
        base = f"streamproc.simulate/{config.seed}"
        self.rng = Random(base + "/world")
        self.fmt = Random(base + "/format")
        self.noise = Random(base + "/noise")
        self.start = to_ms(config.start)
        self.end = self.start + config.days * DAY
        self.shuffle_ms = config.shuffle_seconds * SEC
        self.heap: list[Record] = []
        self.seq = 0
        self.floor = self.start
        self.n_event = 0
        self.n_bad = 0

    def _flush(self, horizon: int | None) -> Iterator[Record]:
        heap = self.heap
        while heap and (horizon is None or heap[0][0] < horizon):
            yield heapq.heappop(heap)

    def _push(self, arrival: int, kind: int, name: str, occ: int, line: bytes) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (arrival, self.seq, kind, name, occ, line))

    def _ts(self, t: int) -> str:
        moment = EPOCH + timedelta(milliseconds=t)
        if self.fmt.random() < 0.01:
            return moment.astimezone(self.fmt.choice(OFFSETS)).isoformat(timespec="milliseconds")
        return moment.isoformat(timespec="milliseconds")[:-6] + "Z"

    def _emit(self, t: int, etype: str, body: dict[str, Any]) -> None:
        """One valid event at time ``t`` (dropped at or after the window's end) plus noise."""
        if t < self.floor:
            raise RuntimeError(f"internal error: {etype} at {t} before the flushed horizon")
        self.n_event += 1
        fmt = self.fmt
        event: dict[str, Any] = {
            "event_id": f"evt-{self.cfg.seed}-{self.n_event:08d}",
            "type": etype,
            "occurred_at": self._ts(t),
        }
        if fmt.random() < 0.25:
            event["v"] = 1
        event.update(body)
        extra = fmt.random()
        if extra < 0.02:  # unknown extra fields are ignored by the contract
            event["producer"] = "inbox-events/2.14.3" if extra < 0.01 else "inbox-events/2.15.0-rc1"
        if t >= self.end:
            return
        line = orjson.dumps(event)
        noise = self.noise
        delay = int(noise.random() ** 3 * self.shuffle_ms)
        self._push(t + delay, VALID, etype, t, line)
        if self.cfg.duplicates and noise.random() < self.cfg.duplicates:
            later = delay + int(noise.random() ** 2 * (self.shuffle_ms - delay))
            self._push(t + later, DUPLICATE, etype, t, line)
        if self.cfg.malformed and noise.random() < self.cfg.malformed:
            kind, bad = self._malformed(t)
            self._push(t + delay + noise.randint(0, 2 * SEC), MALFORMED, kind, t, bad)

    def _malformed(self, t: int) -> tuple[str, bytes]:
        """A bad line near time ``t``; its event_id (when any) starts with ``bad-``."""
        self.n_bad += 1
        return malformed_line(self.noise, f"bad-{self.cfg.seed}-{self.n_bad:06d}", t)

    def _dur(self, lo_s: float, hi_s: float, skew: float = 1.0) -> int:
        """A random duration in ms in [lo_s, hi_s] seconds (skew > 1 favours short ones)."""
        return int((lo_s + (hi_s - lo_s) * self.rng.random() ** skew) * SEC) + 1

    def _weighted(self, items: tuple[tuple[Any, float], ...]) -> Any:
        values = [v for v, _ in items]
        return self.rng.choices(values, weights=[w for _, w in items])[0]

    def _text(self, bank: tuple[str, ...]) -> str:
        return self.rng.choice(bank).replace("{n}", str(self.rng.randint(10_000, 99_999)))
