"""Exports reach their users on the real broker: `streamproc export` downloads over HTTP."""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from streamproc.settings import Settings
from tests.harness import ExporterProcess, WorkerProcess, free_port, run_cli, wait_until

pytestmark = pytest.mark.integration


class WebProcess(WorkerProcess):
    """A real ``streamproc web`` process."""

    command = ("web", "--loglevel", "info")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - test URL
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def export(settings: Settings, out: Path, *args: str) -> dict[str, Any]:
    cli = run_cli(
        settings, "export", "messages", "--from", "2026-11-02", "--to", "2026-11-02",
        "--timezone", "Europe/Madrid", "--locale", "es", "--out", str(out), "--timeout", "240",
        *args,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == str(out)
    return {"stderr": cli.stderr}


def test_the_cli_downloads_from_the_web_service_without_the_exporters_disk(
    isolated: Settings, tmp_path: Path
) -> None:
    port = free_port()
    # The service side: exporter and web share one data dir (as one docker volume).
    service = replace(
        isolated,
        data_dir=tmp_path / "service",
        export_dir=tmp_path / "service" / "exports",
        readmodel_path=tmp_path / "service" / "readmodel.sqlite",
        http_port=port,
        export_retention_hours=0.015,  # 54 s: the expiry is checked at the end
    )
    # The user's side: another data dir, export dir and read model; it only knows Kafka
    # (for the request) and gets the URL from the result.
    user = replace(
        isolated,
        data_dir=tmp_path / "user",
        export_dir=tmp_path / "user" / "exports",
        readmodel_path=tmp_path / "user" / "rm.sqlite",
        http_port=free_port(),
    )
    service.data_dir.mkdir()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    events = tmp_path / "events.jsonl"
    simulated = run_cli(
        isolated, "simulate", "--seed", "8", "--days", "1", "--conversations", "50",
        "--out", str(events),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    worker = WorkerProcess(service, "w").start()
    exporter = ExporterProcess(service, "x").start()
    web = WebProcess(service, "web").start()
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_until(lambda: get(f"{base}/health")[0] == 200, 60, "streamproc web to answer")
        produced = run_cli(isolated, "produce", str(events))
        assert produced.returncode == 0, produced.stderr

        plain = downloads / "messages.csv"
        ran = export(user, plain)
        assert "copying the exporter's local file" not in ran["stderr"]
        listed = orjson.loads(get(f"{base}/exports")[1])["exports"]
        result = next(r for r in listed if r["format"] == "csv")
        assert result["url"] == f"{base}/exports/{result['request_id']}"
        assert result["rows"] > 50
        assert hashlib.sha256(plain.read_bytes()).hexdigest() == result["sha256"]
        served = service.exports_dir / result["file_name"]
        assert plain.read_bytes() == served.read_bytes()
        assert not user.exports_dir.exists()  # nothing went through the user's dirs
        assert f'GET /api/v1/exports/{result["request_id"]} HTTP/1.1" 200' in web.log_tail(200)

        excel = downloads / "messages-excel.csv"
        export(user, excel, "--excel")
        assert excel.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
        assert (
            excel.read_bytes()
            .decode("utf-8-sig")
            .startswith("Identificador de mensaje,Creado en,ID de conversación,")
        )

        zipped = downloads / "messages.csv.gz"
        export(user, zipped, "--format", "csv.gz")
        assert gzip.decompress(zipped.read_bytes()) == plain.read_bytes()

        parquet = downloads / "messages.parquet"
        export(user, parquet, "--format", "parquet")
        table = pq.read_table(parquet)
        assert table.num_rows == result["rows"]
        assert table.schema.metadata[b"streamproc.timezone"] == b"Europe/Madrid"
        ids = plain.read_text().splitlines()[1:]
        assert table.column("message_id").to_pylist() == [line.split(",")[0] for line in ids]

        # Without the web service, on the exporter's machine: the local file is copied.
        web.stop()
        fallback = downloads / "fallback.csv"
        ran = export(service, fallback)
        assert "copying the exporter's local file" in ran["stderr"]
        assert fallback.read_bytes() == plain.read_bytes()
        web = WebProcess(service, "web2").start()
        wait_until(lambda: get(f"{base}/health")[0] == 200, 60, "streamproc web to answer")

        # Retention: the first file is removed and its URL answers 410 Gone (JSON).
        _, body = wait_until(
            lambda: (r := get(result["url"]))[0] == 410 and r,
            150,
            "the first export to expire",
            poll_s=1.0,
        )
        assert orjson.loads(body)["error"]["code"] == "gone"
        assert not served.exists()
        unknown = get(f"{base}/exports/no-such-request")
        assert unknown[0] == 404 and orjson.loads(unknown[1])["error"]["code"] == "not_found"
    finally:
        for process in (web, exporter, worker):
            process.stop()
