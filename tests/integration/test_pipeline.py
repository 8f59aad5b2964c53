"""End to end on the real broker: a simulated day through `produce` and a worker, exactly once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from streamproc.changelog import read_table, read_to_end
from streamproc.dedupe import KeyLedger, ledger_key_of
from streamproc.events import EVENT_TYPES, Event, InvalidEvent, parse_event
from streamproc.produce import produce_lines, route_line
from streamproc.settings import Settings
from streamproc.topics import consumer_lag
from tests.harness import WorkerProcess, run_cli, wait_until

pytestmark = pytest.mark.integration


class Expected:
    """What a correct worker must end with, computed from the event file alone."""

    def __init__(self, lines: list[bytes]) -> None:
        self.counts_by_key: dict[bytes, Counter[str]] = defaultdict(Counter)
        self.invalid_lines: list[bytes] = []
        self.last_event_by_key: dict[bytes, tuple[Event, bytes]] = {}
        seen: set[str] = set()
        for line in lines:
            try:
                event = parse_event(line)
            except InvalidEvent:
                self.invalid_lines.append(line)
                continue
            key = ledger_key_of(EVENT_TYPES[event.type].stream, event.key)
            latest = self.last_event_by_key.get(key)
            if latest is None or event.occurred_at >= latest[0].occurred_at:
                self.last_event_by_key[key] = (event, line)
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
            self.counts_by_key[key][event.type] += 1


def ledger_counts(settings: Settings) -> dict[bytes, Counter[str]]:
    table = asyncio.run(read_table(settings, "key_ledger"))
    return {k: Counter(KeyLedger.from_bytes(v).count_by_type) for k, v in table.items()}


def caught_up(settings: Settings) -> bool:
    lag = asyncio.run(consumer_lag(settings, settings.app_id, list(settings.inbound_topics)))
    return lag == 0


def test_simulated_day_is_ingested_exactly_once(isolated: Settings, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        isolated, "simulate", "--seed", "11", "--days", "1", "--conversations", "80",
        "--duplicates", "0.05", "--malformed", "0.01", "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    lines = events.read_bytes().splitlines()
    expected = Expected(lines)
    duplicates_in_file = (
        len(lines)
        - len(expected.invalid_lines)
        - sum(sum(c.values()) for c in expected.counts_by_key.values())
    )
    assert duplicates_in_file > 0, "the simulated day should contain re-deliveries"
    assert expected.invalid_lines, "the simulated day should contain malformed lines"

    produced = run_cli(isolated, "produce", str(events))
    assert produced.returncode == 0, produced.stderr

    worker = WorkerProcess(isolated, "a").start()
    try:

        def ledger_complete() -> dict[bytes, Counter[str]] | None:
            worker.assert_alive()
            counts = ledger_counts(isolated)
            return counts if counts == expected.counts_by_key else None

        try:
            wait_until(ledger_complete, 180, "the ledger to hold every valid event", poll_s=1.0)
        except AssertionError:
            got = ledger_counts(isolated)
            diff = {
                k: (got.get(k), v) for k, v in expected.counts_by_key.items() if got.get(k) != v
            }
            extra = set(got) - set(expected.counts_by_key)
            raise AssertionError(
                f"{len(diff)} keys differ (got, expected), e.g. {list(diff.items())[:3]}; "
                f"unexpected keys {sorted(extra)[:5]}\n{worker.log_tail()}"
            ) from None

        # Every malformed line is dead-lettered once, as it was, with its source and reason.
        def all_dead_lettered() -> list | None:
            records = asyncio.run(read_to_end(isolated, isolated.topic_deadletter))
            return records if len(records) >= len(expected.invalid_lines) else None

        records = wait_until(all_dead_lettered, 60, "the dead letters")
        assert Counter(r.value for r in records) == Counter(expected.invalid_lines)
        for record in records:
            headers = {k: v.decode() for k, v in record.headers}
            assert headers["category"] == "invalid"
            assert headers["reason"] and "\n" not in headers["reason"]
            assert headers["source_topic"] == route_line(isolated, record.value)[0]
            assert int(headers["source_partition"]) >= 0
            assert int(headers["source_offset"]) >= 0
        rejected = asyncio.run(read_table(isolated, "rejections_by_partition"))
        assert sum(orjson.loads(v) for v in rejected.values()) == len(expected.invalid_lines)

        # Re-deliver the latest event of 40 keys: nothing may change, nothing is dead-lettered.
        rng = random.Random(5)
        keys = sorted(expected.last_event_by_key)
        replay = [expected.last_event_by_key[k][1] for k in rng.sample(keys, min(40, len(keys)))]
        wait_until(lambda: caught_up(isolated), 60, "the worker to commit the first pass")
        asyncio.run(produce_lines(isolated, replay))
        wait_until(lambda: caught_up(isolated), 60, "the worker to process the replay")
        assert ledger_counts(isolated) == expected.counts_by_key
        after = asyncio.run(read_to_end(isolated, isolated.topic_deadletter))
        assert len(after) == len(records)
        worker.assert_alive()
    finally:
        worker.stop()
