"""Test harness: isolated settings per test, real worker processes, waiting on conditions,
export requests on the command topic."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import orjson

from exporter.schema import EXPORTS
from streamproc.settings import Settings, settings_to_env

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def isolated_settings(base: Settings, tmp: Path, name: str = "t") -> Settings:
    """``base`` with topic names, app id, state dirs and the web service's port unique to
    one test (a `streamproc web` already on the default port must not answer a test's
    download URLs)."""
    ns = f"{name}-{uuid.uuid4().hex[:8]}"
    return replace(base.namespaced(ns, tmp), http_port=free_port())


def wait_until(
    condition: Callable[[], T | None], timeout_s: float, what: str, poll_s: float = 0.2
) -> T:
    """Poll ``condition`` until it returns a truthy value, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


async def await_until(
    condition: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, poll_s: float = 0.3
) -> T:
    """Async ``wait_until``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(poll_s)


def run_cli(
    settings: Settings, *args: str, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m streamproc ARGS`` with ``settings`` in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args],
        env={**os.environ, **settings_to_env(settings)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


class WorkerProcess:
    """A real ``streamproc worker`` (or other long-running command) process with its own
    table state dir and log file."""

    command: tuple[str, ...] = ("worker", "--loglevel", "info")

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = replace(
            settings,
            tables_dir=settings.data_dir / f"tables-{name}",
            worker_id=f"{settings.app_id}-{name}",
        )
        self.name = name
        self.log_path = settings.data_dir / f"{self.command[0]}-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamproc", *self.command],
            env={**os.environ, **settings_to_env(self.settings), "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no final commit."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM and wait; SIGKILL if it does not stop in time."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def assert_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"worker {self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


class ExporterProcess(WorkerProcess):
    """A real ``streamproc exporter`` service process."""

    command = ("exporter", "--loglevel", "info")


def request_export(settings: Settings, request: dict[str, Any]) -> None:
    """Publish one export request on the command topic."""
    from aiokafka import AIOKafkaProducer

    async def go() -> None:
        from streamproc.security import client_kwargs

        producer = AIOKafkaProducer(**client_kwargs(settings))
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic_export_requests, orjson.dumps(request))
        finally:
            await producer.stop()

    asyncio.run(go())


def first_difference(ours: bytes, theirs: bytes) -> str:
    """Where two CSVs first differ, for an assertion message."""
    a, b = ours.decode().split("\r\n"), theirs.decode().split("\r\n")
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return (
        f"{len(a)} vs {len(b)} lines; line {i}:\n  exporter: {a[i] if i < len(a) else '<none>'}"
        f"\n  oracle:   {b[i] if i < len(b) else '<none>'}"
    )


def export_requests(
    days: int, timezones: tuple[str, ...] = ("UTC", "America/New_York"), extra: bool = True
) -> list[dict[str, Any]]:
    """Every export type for the simulated days from 2026-11-02, in each of ``timezones``
    (``extra``: also a channel filter and the Spanish locale)."""
    last = f"2026-11-{1 + days:02d}"
    requests: list[dict[str, Any]] = []
    for export_type, spec in EXPORTS.items():
        for tz in timezones:
            request = {"export_type": export_type, "timezone": tz}
            if spec.needs_range:
                request.update({"from": "2026-11-02", "to": last})
            requests.append(request)
    if extra:
        requests.append({"export_type": "agent_metrics", "timezone": "UTC", "from": "2026-11-02",
                         "to": last, "channels": ["channel-02", "channel-05"]})  # fmt: skip
        requests.append({"export_type": "conversations_resolved", "timezone": "Europe/Madrid",
                         "from": "2026-11-02", "to": last, "locale": "es"})  # fmt: skip
    for request in requests:
        request["request_id"] = f"export-{uuid.uuid4()}"
    return requests
