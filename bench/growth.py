"""Growth: CPU and bytes written per event as a conversation grows and as a bucket fills.

Runs the production state code (``BatchStores``, one event per batch as at low load) on
in-memory stores; no Kafka. At each size the state is first built untimed (batches of
2,000 events), then windows of ``--sample`` events are timed one event per batch: the
steady-state cost of the next event at that size. Each size runs in a fresh interpreter
(nothing inherited from an earlier size's heap). ``python -m bench.growth`` prints JSON
and writes it to ``bench/results/<time>-growth.json``.
"""

from __future__ import annotations

import gc
import json
import math
import multiprocessing
import statistics
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from streamproc.events import parse_event
from streamproc.metrics import Admission
from streamproc.state import (
    BatchStores,
    RecordTooLarge,
    Rules,
    Stores,
    apply_event,
    forget_folds,
)
from streamproc.testing import long_conversation as lc

RESULTS = Path(__file__).resolve().parent / "results"
RULES = Rules(partitions=1)
"""The production defaults (lateness, lock maximum, the 900,000-byte record bound)."""
BUILD_BATCH = 2_000
RATIO_TARGET = 1.5
LARGEST_RECORD_TARGET = 64 * 1024
BUCKET_WINDOW_MS = 13 * 60 * 1000
"""Timed replies of the bucket runs fall in 09:01-09:14, inside the 09:00 bucket."""
WORKER_GC_THRESHOLD = (50_000, 20, 20)
"""The worker's ``gc.set_threshold`` (streamproc/cli.py)."""


class CountingStore(dict[bytes, bytes]):
    """A dict that counts the bytes written to it (keys and values; a deletion writes
    its key, as a changelog tombstone) and the largest record written."""

    written = 0
    largest = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        size = len(key) + len(value)
        self.written += size
        self.largest = max(self.largest, size)
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.written += len(key)
        super().__delitem__(key)


def stores() -> Stores:
    """Empty counting stores, one per field of ``Stores`` (however many it has)."""
    return Stores(**{f.name: CountingStore() for f in fields(Stores)})


def counting(s: Stores) -> list[CountingStore]:
    return [getattr(s, f.name) for f in fields(Stores)]


def written(s: Stores) -> int:
    return sum(store.written for store in counting(s))


def largest(s: Stores) -> int:
    return max(store.largest for store in counting(s))


class Budget(Exception):
    """A size did not finish within its time budget."""


class Applier:
    """Applies batches as the worker does (check the record bound, then flush) and
    counts what the worker would dead-letter as ``too_large``."""

    def __init__(self, s: Stores, deadline: float) -> None:
        self.s = s
        self.deadline = deadline
        self.accepted = 0
        self.too_large = 0

    def batch(self, raws: Iterable[bytes]) -> list[bytes]:
        """Apply one batch; returns the events the record bound refused (all of the
        batch's events when a record it would write is over the bound)."""
        batch = BatchStores.over(self.s, RULES)
        taken: list[bytes] = []
        refused: list[bytes] = []
        for raw in raws:
            admission = apply_event(batch, parse_event(raw), RULES)
            (refused if admission is Admission.TOO_LARGE else taken).append(raw)
        try:
            batch.check_sizes(RULES.max_record_bytes)
        except RecordTooLarge:
            return refused + taken
        batch.flush()
        self.accepted += len(taken)
        return refused

    def build(self, raws: Iterable[bytes]) -> None:
        """Apply ``raws`` untimed in large batches. The record bound's check is an upper
        bound per batch, so events a large batch refuses are applied again in batches
        ten times smaller, down to one; an event refused alone ends the build (the size
        is not reached: the worker would dead-letter it as too_large)."""
        chunk: list[bytes] = []
        for raw in raws:
            chunk.append(raw)
            if len(chunk) == BUILD_BATCH:
                self._apply_all(chunk, BUILD_BATCH)
                chunk = []
        if chunk:
            self._apply_all(chunk, BUILD_BATCH)

    def _apply_all(self, raws: list[bytes], size: int) -> None:
        for first in range(0, len(raws), size):
            refused = self.batch(raws[first : first + size])
            if refused and size == 1:
                self.too_large += 1
                raise Budget(
                    f"the record bound refused an event after {self.accepted:,} events "
                    "(the worker dead-letters it as too_large)"
                )
            if refused:
                self._apply_all(refused, max(1, size // 10))
            if time.monotonic() > self.deadline:
                raise Budget(f"time budget spent while building ({self.accepted:,} events applied)")

    def timed(self, raws: Iterable[bytes]) -> tuple[float, int]:
        """Apply ``raws`` one event per batch: CPU seconds and bytes written."""
        before = written(self.s)
        refused = 0
        started = time.process_time()
        for raw in raws:
            refused += len(self.batch([raw]))
        cpu = time.process_time() - started
        if time.monotonic() > self.deadline:
            raise Budget("time budget spent while measuring")
        if refused:
            self.too_large += refused
            raise Budget(f"{refused:,} timed events refused by the record bound (too_large)")
        return cpu, written(self.s) - before


def summary(values: list[float]) -> dict[str, float]:
    """Median, min and max of a size's runs."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


class Size:
    """The runs at one size: states built untimed, timed events applied on them."""

    def __init__(self, budget_s: float) -> None:
        self.deadline = time.monotonic() + budget_s
        self.started = time.monotonic()
        self.appliers: list[Applier] = []
        self.build_s = 0.0
        self.runs: list[dict[str, float]] = []
        self.stopped: str | None = None

    def build(self, raws: Iterable[bytes]) -> Applier:
        """A fresh state holding ``raws`` (applied untimed, in large batches)."""
        applier = Applier(stores(), self.deadline)
        self.appliers.append(applier)
        started = time.monotonic()
        try:
            applier.build(raws)
        finally:
            self.build_s += time.monotonic() - started
        gc.collect()  # the build's garbage is not the timed events' cost
        return applier

    def add_run(self, cpu_s: float, written_bytes: int, events: int) -> None:
        self.runs.append(
            {"ms_per_event": 1000 * cpu_s / events, "bytes_per_event": written_bytes / events}
        )

    def report(self) -> dict[str, Any]:
        reached = self.stopped is None
        result: dict[str, Any] = {"reached": reached}
        if self.stopped is not None:
            result["not_reached"] = self.stopped
        result["events_applied"] = sum(a.accepted for a in self.appliers)
        result["too_large"] = sum(a.too_large for a in self.appliers)
        result["runs"] = len(self.runs)
        if self.runs and reached:
            result["ms_per_event"] = summary([r["ms_per_event"] for r in self.runs])
            result["bytes_per_event"] = summary([r["bytes_per_event"] for r in self.runs])
        result["largest_record_bytes"] = max((largest(a.s) for a in self.appliers), default=0)
        result["build_s"] = round(self.build_s, 2)
        result["seconds"] = round(time.monotonic() - self.started, 2)
        return result


def conversation_length(length: int, sample: int, runs: int, budget_s: float) -> dict[str, Any]:
    """Conversations of ``length`` events, then ``runs`` windows of ``sample`` messages
    (contact and agent in turn), one event per batch. The timed messages are spread over
    as many conversations of that length as keeps each within 10% of it (one for the
    longest), so every timed event meets a conversation of about ``length`` events."""
    per_conversation = max(1, length // 10)
    count = math.ceil(sample * runs / per_conversation)
    ids = [f"c{i}" for i in range(count)]
    size = Size(budget_s)

    def history() -> Iterable[bytes]:
        for n in range(length):
            for conversation in ids:
                yield lc.event(conversation, n)

    def window(run: int) -> list[bytes]:
        raws = []
        for j in range(run * sample, (run + 1) * sample):
            n = length + j // count
            at = lc.START + timedelta(seconds=n)
            raws.append(lc.message(ids[j % count], n, at, inbound=j % 2 == 0))
        return raws

    try:
        state = size.build(history())
        for run in range(runs):
            size.add_run(*state.timed(window(run)), sample)
    except Budget as stop:
        size.stopped = str(stop)
    return {"conversations": count, **size.report()}


def bucket_population(
    conversations: int,
    sample: int,
    runs: int,
    budget_s: float,
    state_conversations: int | None = None,
) -> dict[str, Any]:
    """Buckets of ``conversations`` each (an agent's reply in one team's and agent's
    15-minute bucket), then ``runs`` windows of ``sample`` more replies in them, one event
    per batch.

    Every size is measured on a state of the same number of conversations
    (``state_conversations``, at least ``conversations``): ``conversations`` per team,
    as many teams as that takes, so that what differs between sizes is how many
    conversations share a bucket, not how large the state is or how often it is rebuilt.
    Each timed reply is the second reply of a conversation that had one (so what grows
    is the bucket, not the conversation); when every conversation of the state had its
    second reply, the next ones go to a fresh state built the same way."""
    at = lc.START + timedelta(minutes=1)
    step_ms = min(1000, BUCKET_WINDOW_MS // max(1, sample * runs))
    teams = max(1, math.ceil((state_conversations or conversations) / conversations))
    total = teams * conversations
    size = Size(budget_s)

    def reply(i: int, n: int, moment: datetime) -> bytes:
        team = i // conversations
        return lc.message(f"c{i}", n, moment, False, f"team-{team}", f"agent-{team}")

    def population() -> Iterable[bytes]:
        for i in range(total):
            yield lc.created(f"c{i}", lc.START)
            yield reply(i, 1, at)

    untouched: list[int] = []
    state: Applier | None = None
    try:
        for run in range(runs):
            cpu_s, written_bytes = 0.0, 0
            for j in range(run * sample, (run + 1) * sample):
                if not untouched or state is None:
                    state = size.build(population())
                    # Every size meets cold segments: the build's memoised folds (up to
                    # the memo's size) would favour whichever conversations it kept.
                    forget_folds()
                    # one conversation of each team in turn: every timed reply meets a
                    # bucket of ``conversations``
                    untouched = sorted(range(total), key=lambda i: (-(i % conversations), -i))
                i = untouched.pop()
                moment = at + timedelta(milliseconds=step_ms * (1 + j))
                cpu, wrote = state.timed([reply(i, 2, moment)])
                cpu_s += cpu
                written_bytes += wrote
            size.add_run(cpu_s, written_bytes, sample)
    except Budget as stop:
        size.stopped = str(stop)
    return {
        "state_conversations": total,
        "teams": teams,
        "states_built": len(size.appliers),
        **size.report(),
    }


def ratios(rows: dict[str, dict[str, Any]], field: str) -> float | None:
    """Largest over smallest median of ``field`` across the sizes measured."""
    medians = [row[field]["median"] for row in rows.values() if field in row]
    if len(medians) < 2 or min(medians) <= 0:
        return None
    return max(medians) / min(medians)


def growth(
    lengths: list[int],
    populations: list[int],
    sample: int = 2000,
    runs: int = 3,
    budget_s: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The growth report: per size, the ratios across sizes and the targets.

    Runs with the worker's garbage collector setting (streamproc/cli.py: the young
    generation collected every 50,000 allocations), restored afterwards."""
    thresholds = gc.get_threshold()
    gc.set_threshold(*WORKER_GC_THRESHOLD)
    try:
        return _growth(lengths, populations, sample, runs, budget_s, progress)
    finally:
        gc.set_threshold(*thresholds)


def _in_worker_conditions(measure: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    gc.set_threshold(*WORKER_GC_THRESHOLD)
    return measure(*args)


def isolated(measure: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one size's measurement in a fresh interpreter (with the worker's garbage
    collector setting), so that no size inherits the heap, or the memoised folds, that
    an earlier size left behind."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_in_worker_conditions, measure, *args).result()


def _growth(
    lengths: list[int],
    populations: list[int],
    sample: int,
    runs: int,
    budget_s: float,
    progress: Callable[[str], None] | None,
) -> dict[str, Any]:
    by_length: dict[str, dict[str, Any]] = {}
    for n in lengths:
        if progress:
            progress(f"conversation length {n:,}")
        by_length[str(n)] = isolated(conversation_length, n, sample, runs, budget_s)
    by_population: dict[str, dict[str, Any]] = {}
    for n in populations:
        if progress:
            progress(f"bucket population {n:,}")
        by_population[str(n)] = isolated(
            bucket_population, n, sample, runs, budget_s, max(populations)
        )
    found = {
        "conversation_length_cpu": ratios(by_length, "ms_per_event"),
        "conversation_length_bytes": ratios(by_length, "bytes_per_event"),
        "bucket_population_cpu": ratios(by_population, "ms_per_event"),
        "bucket_population_bytes": ratios(by_population, "bytes_per_event"),
    }
    rows = [*by_length.values(), *by_population.values()]
    largest_record = max((row["largest_record_bytes"] for row in rows), default=0)
    all_length = all(row["reached"] for row in by_length.values())
    all_population = all(row["reached"] for row in by_population.values())
    met: dict[str, bool] = {
        key: value is not None
        and value <= RATIO_TARGET
        and (all_length if key.startswith("conversation") else all_population)
        for key, value in found.items()
    }
    met["largest_record"] = largest_record <= LARGEST_RECORD_TARGET
    met["all_sizes_reached"] = all_length and all_population
    return {
        "conditions": {
            "sample_events": sample,
            "runs": runs,
            "budget_s_per_size": budget_s,
            "record_bound_bytes": RULES.max_record_bytes,
            "gc_threshold": list(WORKER_GC_THRESHOLD),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "conversation_length": by_length,
        "bucket_population": by_population,
        "largest_record_bytes": largest_record,
        "ratios": found,
        "targets": {"ratio_max": RATIO_TARGET, "largest_record_max_bytes": LARGEST_RECORD_TARGET},
        "targets_met": met,
    }


def sizes(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise click.BadParameter(
            f"{text!r}: give positive integers separated by commas, e.g. 10,1000"
        )
    return values


@click.command()
@click.option("--lengths", default="10,1000,100000", show_default=True,
              help="Conversation lengths (events), comma-separated.")  # fmt: skip
@click.option("--populations", default="10,1000,100000", show_default=True,
              help="Conversations sharing one team/agent 15-minute bucket, "
                   "comma-separated.")  # fmt: skip
@click.option("--sample", type=click.IntRange(1), default=2000, show_default=True,
              help="Events timed in each run at each size (one event per batch).")  # fmt: skip
@click.option("--runs", type=click.IntRange(1, 9), default=3, show_default=True,
              help="Timed runs per size (figures: median, min, max).")  # fmt: skip
@click.option("--budget", "budget_s", type=click.FloatRange(min=1), default=60.0,
              show_default=True,
              help="Seconds allowed per size; a size not done in time is reported "
                   "as not reached.")  # fmt: skip
@click.option("--save/--no-save", default=True, show_default=True,
              help="Also write the JSON to bench/results/<time>-growth.json.")  # fmt: skip
def main(
    lengths: str, populations: str, sample: int, runs: int, budget_s: float, save: bool
) -> None:
    """Per-event CPU and bytes written against conversation length and bucket population."""
    report = growth(
        sizes(lengths),
        sizes(populations),
        sample,
        runs,
        budget_s,
        progress=lambda what: click.echo(what, err=True),
    )
    text = json.dumps(report, indent=2)
    if save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = report["conditions"]["started"].replace(":", "")
        (RESULTS / f"{name}-growth.json").write_text(text + "\n")
    click.echo(text)


if __name__ == "__main__":
    main()
