"""The Prometheus exposition of the worker and exporter passes ``promtool check metrics``."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import REGISTRY, generate_latest

from streamproc.live import prom


def promtool_check(text: bytes) -> subprocess.CompletedProcess[bytes]:
    """``promtool check metrics`` on an exposition (Debian's ``prometheus``; make tools)."""
    return subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, check=False, timeout=60
    )


def sample(name: str, labels: dict[str, str]) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_exposition_is_valid_and_counts_outcomes() -> None:
    before = sample("streamproc_events_total", {"topic": "t", "outcome": "applied", "category": ""})
    # a batch: 3 applied, 2 late (counted where they are dead-lettered instead)
    prom.note_admissions({("t", "accepted"): 3, ("t", "late"): 2})
    prom.note_event("t", "dead_lettered", "invalid")
    prom.note_export({"export_type": "teams", "status": "succeeded"}, 0.3)
    prom.note_export({"export_type": "=HYPERLINK(x)", "status": "failed"}, 0.01)
    prom.note_readmodel_lag({("c", 0): 10, ("c", 1): 5}, {("c", 0): 7})
    prom.BATCH_APPLY_SECONDS.observe(0.02)
    prom.CHANGELOG_BYTES.labels("conversations").inc(1234)
    text = generate_latest(REGISTRY)
    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    after = sample("streamproc_events_total", {"topic": "t", "outcome": "applied", "category": ""})
    assert after - before == 3
    assert sample("streamproc_events_total", {"topic": "t", "outcome": "late", "category": ""}) == 0
    assert sample("streamproc_exports_total", {"type": "invalid", "status": "failed"}) >= 1
    assert sample("streamproc_readmodel_lag_records", {}) == 3 + 5
    assert b"streamproc_batch_apply_seconds_bucket" in text


def test_promtool_rejects_a_bad_exposition() -> None:
    checked = promtool_check(b'# TYPE x counter\nx{a="1" 1\n')
    assert checked.returncode != 0


@pytest.mark.parametrize("port", [0])
def test_port_zero_is_off(port: int) -> None:
    assert prom.serve_metrics(port) is False
