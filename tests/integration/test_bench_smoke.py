"""The benchmarks still run (a tiny smoke run on the test broker; real numbers: make bench)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamproc.settings import Settings, settings_to_env
from tests.harness import ROOT

pytestmark = pytest.mark.integration


def test_bench_smoke(kafka: Settings, tmp_path: Path) -> None:
    before = set((ROOT / "bench" / "results").glob("*-smoke.json"))
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--size", "smoke", "--runs", "1"],
        cwd=ROOT,
        env={**os.environ, **settings_to_env(kafka)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["baseline_events_per_s"]["median"] > 0
    assert report["ingest_1_worker_events_per_s"]["median"] > 0
    assert report["ingest_2_workers_events_per_s"]["median"] > 0
    assert report["freshness_at_half_load"]["samples"] > 0
    assert all(e["rows"] > 0 for e in report["export"].values())
    assert report["recovery"]["rebuild_keys_per_s"]["median"] > 0
    growth = report["growth"]
    for dimension in ("conversation_length", "bucket_population"):
        for row in growth[dimension].values():
            assert row["reached"], row
            assert row["ms_per_event"]["median"] > 0
            assert row["bytes_per_event"]["median"] > 0
    assert set(growth["targets_met"]) >= {"conversation_length_cpu", "largest_record"}
    long = report["long_conversation"]
    assert long["events"] == {"one": 400, "spread": 400}
    assert long["ratio_one_to_spread"]["median"] > 0
    assert isinstance(long["targets_met"]["ratio"], bool)
    for path in set((ROOT / "bench" / "results").glob("*-smoke.json")) - before:
        path.unlink()  # a smoke run's numbers mean nothing
