"""The benchmark's drains restart a worker that exits on a stall (75), as a supervisor would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench import run as bench_run
from streamproc.settings import Settings


def finished(code: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["sh", "-c", f"exit {code}"])
    proc.wait(timeout=30)
    return proc


@pytest.mark.parametrize(
    ("code", "gone", "restarts"), [(75, False, 1), (1, True, 0), (70, True, 0)]
)
def test_only_a_stall_exit_is_restarted(
    code: int, gone: bool, restarts: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    monkeypatch.setattr(bench_run, "RESTARTS", [])
    worker = bench_run.Worker(Settings(data_dir=tmp_path, bootstrap_servers="127.0.0.1:1"), "w0")
    monkeypatch.setattr(worker, "start", lambda: started.append("again") or worker)
    worker.proc = finished(code)
    assert worker.exited() is gone
    assert len(started) == len(bench_run.RESTARTS) == restarts


def test_a_running_worker_has_not_exited(tmp_path: Path) -> None:
    worker = bench_run.Worker(Settings(data_dir=tmp_path, bootstrap_servers="127.0.0.1:1"), "w0")
    worker.proc = subprocess.Popen(["sleep", "30"])
    try:
        assert worker.exited() is False
    finally:
        worker.proc.kill()
        worker.proc.wait(timeout=30)
