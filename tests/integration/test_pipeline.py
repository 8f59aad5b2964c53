"""End to end on the real broker: a simulated day through `produce` and a worker, exactly once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import orjson
import pytest

from streamproc.changelog import read_table, read_to_end
from streamproc.settings import Settings
from streamproc.testing.produce import produce_lines, route_line
from streamproc.topics import group_assignment, inbound_partitions
from tests.expectations import (
    Expected,
    caught_up,
    mismatches,
    snapshot,
    without_write_stamps,
)
from tests.harness import WorkerProcess, run_cli, wait_until

pytestmark = pytest.mark.integration


def test_simulated_day_is_ingested_exactly_once(isolated: Settings, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        isolated, "simulate", "--seed", "11", "--days", "1", "--conversations", "80",
        "--duplicates", "0.05", "--malformed", "0.01", "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    lines = events.read_bytes().splitlines()
    expected = Expected(lines)
    duplicates_in_file = len(lines) - len(expected.invalid_lines) - expected.unique
    assert duplicates_in_file > 0, "the simulated day should contain re-deliveries"
    assert expected.invalid_lines, "the simulated day should contain malformed lines"

    produced = run_cli(isolated, "produce", str(events))
    assert produced.returncode == 0, produced.stderr

    worker = WorkerProcess(isolated, "a").start()
    try:

        def state_complete() -> bool:
            worker.assert_alive()
            return not mismatches(snapshot(isolated), expected)

        try:
            wait_until(state_complete, 180, "the tables to hold every valid event", poll_s=1.0)
        except AssertionError:
            problems = mismatches(snapshot(isolated), expected)
            raise AssertionError(f"{problems}\n{worker.log_tail()}") from None

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
        assert sum(orjson.loads(v)["n"] for v in rejected.values()) == len(expected.invalid_lines)

        # Re-deliver the latest event of 40 keys: nothing may change (the segments they touch
        # are re-written, re-asserted, with a new write stamp), nothing is dead-lettered.
        before = snapshot(isolated)
        rng = random.Random(5)
        keys = sorted(expected.last_event_by_key)
        replay = [expected.last_event_by_key[k][1] for k in rng.sample(keys, min(40, len(keys)))]
        wait_until(lambda: caught_up(isolated), 60, "the worker to commit the first pass")
        asyncio.run(produce_lines(isolated, replay))
        wait_until(lambda: caught_up(isolated), 60, "the worker to process the replay")
        assert without_write_stamps(snapshot(isolated)) == without_write_stamps(before)
        after = asyncio.run(read_to_end(isolated, isolated.topic_deadletter))
        assert len(after) == len(records)

        # The group owns every inbound partition, as the coordinator and the watchdog see it.
        state, owned = asyncio.run(group_assignment(isolated, isolated.app_id))
        assert state == "Stable"
        assert owned >= set(inbound_partitions(isolated))
        total = len(isolated.consumed_topics) * isolated.events_partitions
        seen = f"is Stable: {total} inbound partitions assigned here, {total} of {total} owned"
        wait_until(
            lambda: seen in worker.log_path.read_text(), 30, "the watchdog's view of the group"
        )
        worker.assert_alive()
    finally:
        worker.stop()
