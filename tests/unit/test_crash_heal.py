"""Crashes that lose some of a batch's changelog writes: the changelogs still equal the oracle."""

from __future__ import annotations

import io
import random
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from exporter.formats import write_csv
from exporter.request import parse_request
from exporter.rows import at
from exporter.schema import EXPORTS
from streamproc.events import Event, InvalidEvent, parse_event
from streamproc.state import BatchStores, Stores, apply_event, forget_folds
from streamproc.testing.oracle import oracle_rows
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import RULES, export_csv, load_model

NAMES = [f.name for f in fields(Stores)]


class LocalStore(dict[bytes, bytes]):
    """A partition's local store (RocksDB in the worker) that remembers what the batch
    wrote since its changelog records were last sent (``written``: None is a deletion)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.written: dict[bytes, bytes | None] = {}

    def __setitem__(self, key: bytes, value: bytes) -> None:
        super().__setitem__(key, value)
        self.written[key] = value

    def __delitem__(self, key: bytes) -> None:
        super().__delitem__(key)
        self.written[key] = None

    def tombstone(self, key: bytes) -> None:
        self.written[key] = None


def run_with_crashes(
    events: list[Event], seed: int, restart: str, crash_share: float, sizes: list[int]
) -> tuple[dict[str, dict[bytes, bytes]], int]:
    """Apply ``events`` in batches, as the worker does; after a share of the batches the
    worker dies: each table's changelog records of that batch arrive or not (one record
    batch per table and partition: all or nothing), the offsets go back to the last
    commit and the events from there are delivered again. The worker that resumes keeps
    its local store, ahead of the changelogs (``same_worker``: a restart with its RocksDB),
    or rebuilds it from the changelogs (``other_worker``: the partition moved). Returns
    the changelogs (latest value per key) and the number of crashes."""
    rng = random.Random(seed)
    forget_folds()  # (a new process remembers no folds)
    local = {name: LocalStore() for name in NAMES}
    changelogs: dict[str, dict[bytes, bytes]] = {name: {} for name in NAMES}
    committed = position = crashes = 0
    while position < len(events):
        size = rng.choice(sizes)
        batch = BatchStores.over(Stores(**local), RULES)  # type: ignore[arg-type]
        for event in events[position : position + size]:
            apply_event(batch, event, RULES)
        batch.flush()
        crashed = rng.random() < crash_share
        for name in NAMES:
            if not crashed or rng.random() < 0.5:
                for key, value in local[name].written.items():
                    if value is None:
                        changelogs[name].pop(key, None)
                    else:
                        changelogs[name][key] = value
            local[name].written = {}
        if crashed:
            crashes += 1
            forget_folds()
            if restart == "other_worker":
                local = {name: LocalStore(changelogs[name]) for name in NAMES}
            position = committed
            if restart == "away_and_back":
                position = committed = _elsewhere(events, position, rng, sizes, changelogs, local)
        else:
            position += size
            if rng.random() < 0.5:  # (Faust commits now and then, after a flush)
                committed = position
    return changelogs, crashes


def _elsewhere(
    events: list[Event],
    position: int,
    rng: random.Random,
    sizes: list[int],
    changelogs: dict[str, dict[bytes, bytes]],
    local: dict[str, LocalStore],
) -> int:
    """Another worker applies a few batches from the changelogs (delivered, committed);
    then the partition comes back to the crashed worker, whose store keeps what it had
    (ahead of the changelogs) with the other worker's writes replayed over it (Faust's
    recovery from the persisted offset). Returns the new committed position."""
    other = {name: LocalStore(changelogs[name]) for name in NAMES}
    for _ in range(rng.choice([1, 2, 5])):
        size = rng.choice(sizes)
        batch = BatchStores.over(Stores(**other), RULES)  # type: ignore[arg-type]
        for event in events[position : position + size]:
            apply_event(batch, event, RULES)
        batch.flush()
        for name in NAMES:
            for key, value in other[name].written.items():
                if value is None:
                    changelogs[name].pop(key, None)
                    dict.pop(local[name], key, None)
                else:
                    changelogs[name][key] = value
                    dict.__setitem__(local[name], key, value)
            other[name].written = {}
        position += size
    forget_folds()
    return position


def exports_differing(
    lines: list[bytes], changelogs: dict[str, dict[bytes, bytes]], tmp: Path
) -> list[str]:
    """The export types whose CSV from the changelogs differs from the oracle's."""
    model = load_model(Stores(**changelogs), tmp / "readmodel.sqlite")  # type: ignore[arg-type]
    as_of = at(model.watermark_ms())
    differing = []
    for export_type, spec in EXPORTS.items():
        fields_ = {"request_id": "t", "export_type": export_type, "timezone": "UTC"}
        if spec.needs_range:
            fields_ |= {"from": "2026-11-02", "to": "2026-11-03"}
        request = parse_request(fields_)
        reference = io.BytesIO()
        write_csv(
            reference,
            request.spec,
            oracle_rows(lines, request, as_of),
            locale=request.locale,
            tz=request.tz,
        )
        if export_csv(model, request, as_of) != reference.getvalue():
            differing.append(export_type)
    model.close()
    return differing


# Each case failed before the fix it names (found by running this model over 100 seeds).
CASES = [
    # a lost batch had appended a segment: its predecessor's new link was lost too, and
    # re-asserting from the duplicate's own segment missed it
    pytest.param("same_worker", 3, [1, 1, 2, 5, 20], 0.1, 26, id="same-worker-relink-26"),
    pytest.param("same_worker", 3, [1, 1, 2, 5, 20], 0.1, 91, id="same-worker-relink-91"),
    # the head's changelog lost, its segments there (or the reverse): the new owner
    # follows the segments' links instead of starting the log again
    pytest.param("other_worker", 17, [1, 3, 50, 200], 0.3, 10, id="other-worker-head-10"),
    pytest.param("other_worker", 3, [1, 1, 2, 5, 20], 0.1, 0, id="other-worker-segments-0"),
    # splits by big batches of late events, both ways of resuming
    pytest.param("same_worker", 17, [1, 3, 50, 200], 0.3, 1, id="same-worker-splits-1"),
    pytest.param("other_worker", 17, [1, 3, 50, 200], 0.3, 25, id="other-worker-splits-25"),
]


# Why a worker discards its local state after an unclean exit (streamproc.tables.unclean):
# had it kept it, a partition that moves away after a crash and comes back would find
# keys its lost batch wrote and the other worker never did. With the state discarded
# this is the other_worker case. Strict: if the state code ever heals this too, the
# suite says so.
CASES.append(
    pytest.param(
        "away_and_back", 3, [1, 1, 2, 5, 20], 0.1, 33,
        id="away-and-back-33-known-hole",
        marks=pytest.mark.xfail(strict=True, reason="a kept store after a crash and a move back"),
    )
)  # fmt: skip


@pytest.fixture(scope="module")
def simulated() -> dict[int, tuple[list[bytes], list[Event]]]:
    days: dict[int, tuple[list[bytes], list[Event]]] = {}
    for sim_seed in (3, 17):
        lines = list(simulate(SimulationConfig(seed=sim_seed, days=2, conversations=60)))
        events = []
        for line in lines:
            try:
                events.append(parse_event(line))
            except InvalidEvent:
                continue
        days[sim_seed] = (lines, events)
    return days


@pytest.mark.parametrize(("restart", "sim_seed", "sizes", "crash_share", "seed"), CASES)
def test_crashes_losing_changelog_writes_heal_to_the_oracle(
    simulated: dict[int, tuple[list[bytes], list[Event]]],
    tmp_path: Path,
    restart: str,
    sim_seed: int,
    sizes: list[int],
    crash_share: float,
    seed: int,
) -> None:
    lines, events = simulated[sim_seed]
    changelogs, crashes = run_with_crashes(events, seed, restart, crash_share, sizes)
    assert crashes >= 3
    assert exports_differing(lines, changelogs, tmp_path) == []
