"""Scheduled exports on the real broker and a real OpenSSH server: catch-up, a failed delivery
retried, a kill -9 of the exporter, two exporters, files byte-identical to on-demand exports."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import os
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from exporter.schedules import load_schedules
from streamproc.changelog import read_to_end
from streamproc.settings import Settings
from tests.harness import ExporterProcess, WorkerProcess, free_port, run_cli, wait_until

pytestmark = pytest.mark.integration

SSHD = "/usr/sbin/sshd"


@dataclass
class SftpServer:
    """A throwaway OpenSSH server on a loopback port, started and stopped by the test."""

    root: Path
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited: {self.log.read_text()}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, 20, "sshd to listen", poll_s=0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def sftp_server(tmp_path: Path) -> Iterator[SftpServer]:
    """Host key, user key, authorized_keys, known_hosts and sshd_config in tmp_path; the
    server runs as the current user (StrictModes and PAM off), not started yet."""
    assert Path(SSHD).exists(), "openssh-server is missing: run `make tools`"
    ssh = tmp_path / "ssh"
    ssh.mkdir()
    for key in ("host_key", "user_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", str(ssh / key)],
            check=True,
        )
    (ssh / "authorized_keys").write_bytes((ssh / "user_key.pub").read_bytes())
    port = free_port()
    host_key = (ssh / "host_key.pub").read_text().split()
    (ssh / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    user = getpass.getuser()
    config = ssh / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {ssh / 'host_key'}\n"
        f"PidFile {ssh / 'sshd.pid'}\nAuthorizedKeysFile {ssh / 'authorized_keys'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        f"AllowUsers {user}\nPermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\nLogLevel VERBOSE\n"
    )
    if os.geteuid() == 0:  # sshd started by root needs its privilege-separation directory
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    server = SftpServer(
        root=tmp_path / "sftp-root",
        port=port,
        user=user,
        key_file=ssh / "user_key",
        known_hosts=ssh / "known_hosts",
        config=config,
        log=ssh / "sshd.log",
    )
    try:
        yield server
    finally:
        server.stop()


def send_requests(settings: Settings, requests: list[dict[str, Any]]) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
        await producer.start()
        try:
            for request in requests:
                await producer.send_and_wait(
                    settings.topic_export_requests, value=orjson.dumps(request)
                )
        finally:
            await producer.stop()

    asyncio.run(go())


def read_json(settings: Settings, topic: str) -> list[tuple[bytes | None, dict[str, Any]]]:
    records = asyncio.run(read_to_end(settings, topic))
    return [(r.key, orjson.loads(r.value)) for r in records if r.value is not None]


def results(settings: Settings) -> list[dict[str, Any]]:
    return [value for _, value in read_json(settings, settings.topic_export_results)]


def test_scheduled_exports_arrive_once_each_and_match_on_demand_exports(
    isolated: Settings, tmp_path: Path, sftp_server: SftpServer
) -> None:
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        isolated, "simulate", "--seed", "7", "--days", "1", "--conversations", "40",
        "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    inbox = tmp_path / "inbox"
    schedules_file = tmp_path / "schedules.toml"
    # Periods in the past, so that every run is due at once and is caught up in order:
    # four local hours of Kolkata (+05:30: hours start at :30 UTC) to the SFTP server, and
    # New York's 25-hour 2026-11-01 and 2026-11-02 to a directory.
    schedules_file.write_text(
        f"""
[[schedule]]
name = "hourly-sftp"
exports = ["messages", "responses"]
cadence = "hourly"
timezone = "Asia/Kolkata"
start = 2026-11-02T06:30:00Z
until = 2026-11-02T10:30:00Z
file_name = "{{schedule}}-{{type}}-{{period_start:%Y%m%dT%H%M%z}}.csv"

[schedule.destination]
type = "sftp"
host = "127.0.0.1"
port = {sftp_server.port}
user = "{sftp_server.user}"
key_file = "{sftp_server.key_file}"
known_hosts = "{sftp_server.known_hosts}"
path = "{sftp_server.root}/incoming"
attempts = 2
backoff_s = 0.2
timeout_s = 10

[[schedule]]
name = "daily-dir"
exports = ["agent_metrics"]
cadence = "daily at 06:00"
timezone = "America/New_York"
start = 2026-11-01
until = 2026-11-03
destination = {{ type = "directory", path = "{inbox}" }}
"""
    )
    hourly, daily = load_schedules(schedules_file.read_text())
    expected: dict[str, tuple[Any, Any, Path]] = {}  # request id -> (schedule, period, file)
    for s, folder in ((hourly, sftp_server.root / "incoming"), (daily, inbox)):
        for period in s.due_periods(None, datetime.now(UTC)):
            for export_type in s.exports:
                rid = s.request_id(export_type, period)
                expected[rid] = (s, period, folder / s.file_name_for(export_type, period))
    assert len(expected) == 10

    settings = replace(isolated, schedules=schedules_file)
    second = replace(
        settings,
        readmodel_path=tmp_path / "readmodel-y.sqlite",
        export_dir=tmp_path / "exports-y",
    )
    worker = WorkerProcess(settings, "a").start()
    exporters = [ExporterProcess(settings, "x").start()]
    try:
        produced = run_cli(settings, "produce", str(events))
        assert produced.returncode == 0, produced.stderr

        def statuses() -> list[dict[str, Any]]:
            for exporter in exporters:
                exporter.assert_alive()
            return [r for r in results(settings) if r.get("request_id") in expected]

        # The SFTP server is down: deliveries fail, are reported, and are retried.
        failed = wait_until(
            lambda: [r for r in statuses() if r["status"] == "delivery_failed"],
            60,
            "a delivery_failed result",
        )
        assert failed[0]["schedule"] == "hourly-sftp"
        assert "after 2 attempts" in failed[0]["error"], failed[0]
        assert "scheduled delivery failed (1 in total)" in exporters[0].log_path.read_text()
        sftp_server.start()

        # kill -9 the exporter after a few deliveries, between (or during) runs.
        wait_until(
            lambda: sum(r["status"] == "delivered" for r in statuses()) >= 4,
            60,
            "four deliveries",
        )
        exporters[0].kill()
        # Two exporters now: the restarted one and a second instance with its own read model.
        exporters = [
            ExporterProcess(settings, "x").start(),
            ExporterProcess(second, "y").start(),
        ]

        def all_delivered() -> list[dict[str, Any]] | None:
            got = statuses()
            done = {r["request_id"] for r in got if r["status"] == "delivered"}
            return got if done == set(expected) else None

        got = wait_until(all_delivered, 120, "every period delivered")

        # On-demand exports of the same periods, for comparison: the request path ...
        on_demand = []
        for rid, (s, period, _file) in expected.items():
            request = s.request(rid.split(":")[2], period)
            on_demand.append({**request, "request_id": f"on-demand-{rid}"})
        send_requests(settings, on_demand)
        ids = {r["request_id"] for r in on_demand}

        def answered() -> list[dict[str, Any]] | None:
            for exporter in exporters:
                exporter.assert_alive()
            got = [r for r in results(settings) if r.get("request_id") in ids]
            return got if len(got) == len(ids) else None

        answers = wait_until(answered, 120, "the on-demand exports")
        # ... and `streamproc export` for New York's 25-hour day.
        cli_out = tmp_path / "agent_metrics-20261101.csv"
        # Either exporter may answer: the CLI may copy from both export directories.
        both_dirs = replace(settings, export_dir=tmp_path)
        cli = run_cli(
            both_dirs, "export", "agent_metrics", "--from", "2026-11-01", "--to", "2026-11-01",
            "--timezone", "America/New_York", "--out", str(cli_out), "--timeout", "120",
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
    finally:
        for exporter in exporters:
            exporter.stop()
            print(f"--- exporter {exporter.name}:\n{exporter.log_tail(200)}")
        worker.stop()

    # Exactly the expected files, nothing half-written left behind.
    assert sorted(p.name for p in (sftp_server.root / "incoming").iterdir()) == sorted(
        f.name for s, _, f in expected.values() if s is hourly
    )
    assert sorted(p.name for p in inbox.iterdir()) == sorted(
        f.name for s, _, f in expected.values() if s is daily
    )

    # Each period delivered once: every `delivered` report of a run names the same bytes
    # (a run in flight at the kill may be delivered again under the same name, same bytes).
    delivered = [r for r in got if r["status"] == "delivered"]
    by_run = Counter(r["request_id"] for r in delivered)
    assert sum(n - 1 for n in by_run.values()) <= 1, by_run
    for r in delivered:
        _, _, file = expected[r["request_id"]]
        assert hashlib.sha256(file.read_bytes()).hexdigest() == r["sha256"]
    # ...in period order per schedule and type (catch-up in order).
    for s in (hourly, daily):
        for export_type in s.exports:
            order = [
                r["period_start"]
                for r in delivered
                if r["schedule"] == s.name and r["export_type"] == export_type
            ]
            firsts = list(dict.fromkeys(order))
            assert firsts == sorted(firsts, key=datetime.fromisoformat), order

    # Progress topic: the last period of every schedule and type.
    progress = {
        key.decode(): value
        for key, value in read_json(settings, settings.topic_export_schedules)
        if key is not None
    }
    assert progress["hourly-sftp:messages"]["period_end"] == "2026-11-02T16:00:00+05:30"
    assert progress["daily-dir:agent_metrics"]["period_end"] == "2026-11-03T00:00:00-05:00"

    # Byte-identical to the on-demand exports.
    for answer in answers:
        assert answer["status"] == "succeeded", answer
        _, _, file = expected[answer["request_id"].removeprefix("on-demand-")]
        assert Path(answer["path"]).read_bytes() == file.read_bytes(), file.name
    assert cli_out.read_bytes() == (inbox / "daily-dir-agent_metrics-20261101.csv").read_bytes()
    rows = [r["rows"] for r in answers]
    assert sum(rows) > 50, rows  # the periods hold real data
