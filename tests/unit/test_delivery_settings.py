"""Delivery settings (retention, HTTP port, public URL) and the CLI's fetch decisions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
import pytest

from exporter.cli import fetch
from exporter.urls import export_url
from streamproc.settings import Settings, SettingsError


def test_retention_hours_take_fractions_and_refuse_nonsense() -> None:
    assert Settings.from_env({}).export_retention_hours == 168.0
    env = {"STREAMPROC_EXPORT_RETENTION_HOURS": "0.5"}
    assert Settings.from_env(env).export_retention_hours == 0.5
    for bad in ("0", "-1", "soon", "inf", "nan"):
        with pytest.raises(SettingsError, match="STREAMPROC_EXPORT_RETENTION_HOURS"):
            Settings.from_env({"STREAMPROC_EXPORT_RETENTION_HOURS": bad})


def test_export_urls_follow_the_port_or_the_public_url() -> None:
    assert export_url(Settings.from_env({}), "r-1") == "http://127.0.0.1:8080/api/v1/exports/r-1"
    env = {"STREAMPROC_HTTP_PORT": "9000"}
    assert export_url(Settings.from_env(env), "a b/c") == (
        "http://127.0.0.1:9000/api/v1/exports/a%20b%2Fc"
    )
    env = {"STREAMPROC_PUBLIC_URL": "https://exports.example.com/inbox/"}
    assert export_url(Settings.from_env(env), "x") == (
        "https://exports.example.com/inbox/api/v1/exports/x"
    )


def test_fetch_without_web_service_or_local_file_says_what_to_start(tmp_path: Path) -> None:
    result = {
        "url": "http://127.0.0.1:9/api/v1/exports/r",
        "path": str(tmp_path / "elsewhere" / "teams.csv"),
        "file_name": "teams.csv",
        "sha256": "0" * 64,
        "bytes": 10,
    }
    with pytest.raises(click.ClickException, match="Is `streamproc web` running there"):
        fetch(result, tmp_path / "out.csv", tmp_path / "elsewhere")
    assert not (tmp_path / "out.csv").exists()


def test_fetch_copies_a_local_file_when_no_web_service_answers(tmp_path: Path) -> None:
    local = tmp_path / "exports" / "teams.csv"
    local.parent.mkdir()
    local.write_bytes(b"a,b\r\n")
    result = {"url": "http://127.0.0.1:9/x", "path": str(local), "file_name": "teams.csv",
              "sha256": hashlib.sha256(b"a,b\r\n").hexdigest(), "bytes": 5}  # fmt: skip
    assert fetch(result, tmp_path / "copy.csv", local.parent) == tmp_path / "copy.csv"
    assert (tmp_path / "copy.csv").read_bytes() == b"a,b\r\n"


def test_excel_with_parquet_is_a_usage_error() -> None:
    from click.testing import CliRunner

    from exporter.cli import export_command

    args = ["teams", "--from", "2026-11-02", "--to", "2026-11-02"]
    outcome = CliRunner().invoke(export_command, [*args, "--format", "parquet", "--excel"])
    assert outcome.exit_code == 2
    assert "--excel applies to --format csv and csv.gz only" in outcome.output


def test_fetch_refuses_a_local_copy_from_outside_the_export_directory(tmp_path: Path) -> None:
    local = tmp_path / "teams.csv"
    local.write_bytes(b"a,b\r\n")
    result = {"url": "http://127.0.0.1:9/x", "path": str(local), "file_name": "teams.csv",
              "sha256": hashlib.sha256(b"a,b\r\n").hexdigest(), "bytes": 5}  # fmt: skip
    with pytest.raises(click.ClickException, match="not inside the export directory"):
        fetch(result, tmp_path / "copy.csv", tmp_path / "exports")
    assert not (tmp_path / "copy.csv").exists()


@pytest.mark.parametrize("file_name", ["/etc/cron.d/x.csv", "../../x.csv", "a/../../x.csv"])
def test_fetch_writes_only_into_the_current_directory(
    file_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "exports" / "teams.csv"
    local.parent.mkdir()
    local.write_bytes(b"a,b\r\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = {"url": "http://127.0.0.1:9/x", "path": str(local), "file_name": file_name,
              "sha256": hashlib.sha256(b"a,b\r\n").hexdigest(), "bytes": 5}  # fmt: skip
    assert fetch(result, None, local.parent) == local  # nothing answers: the checked file
    assert not any(p.name == "x.csv" for p in tmp_path.rglob("*"))
    assert not Path("/etc/cron.d/x.csv").exists()
