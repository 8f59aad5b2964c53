"""Command-line behaviour that needs no broker: help, and bad arguments that say how to fix them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exporter import cli as exporter_cli
from streamproc.cli import main


@pytest.mark.parametrize(
    "args", [[], ["kafka"], ["topics"], ["produce"], ["worker"], ["stats"], ["simulate"]]
)
def test_help(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_main_help_names_the_environment() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "STREAMPROC_BOOTSTRAP_SERVERS" in result.output
    for command in ("kafka", "topics", "simulate", "produce", "worker", "stats"):
        assert command in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["produce", "no-such-file.jsonl"], {}, "does not exist"),
        (["produce", "--rate", "0", "{file}"], {}, "not in the range x>0"),
        (["stats"], {"STREAMPROC_EVENTS_PARTITIONS": "eight"}, "STREAMPROC_EVENTS_PARTITIONS"),
        (["stats"], {"STREAMPROC_LATENESS_S": "-5"}, "must be positive"),
        (["no-such-command"], {}, "No such command"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_fix(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n")
    args = [a.replace("{file}", str(events)) for a in args]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code != 0
    assert message in result.output


# -- `streamproc export` trusts a result only for a file inside the export directory whose
#    size and sha256 match it ---------------------------------------------------------------


def _result(path: Path, data: bytes) -> dict[str, Any]:
    return {
        "request_id": "r",
        "status": "succeeded",
        "path": str(path),
        "rows": 1,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "as_of": "2026-11-03T00:00:00.000Z",
    }


@pytest.fixture
def export_env(tmp_path: Path) -> dict[str, str]:
    exports = tmp_path / "data" / "exports"
    exports.mkdir(parents=True)
    return {"STREAMPROC_DATA_DIR": str(tmp_path / "data"), "STREAMPROC_EXPORT_DIR": str(exports)}


def _export(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], result: dict[str, Any], *args: str
) -> Any:
    async def answered(*_a: Any) -> dict[str, Any]:  # the Kafka round trip is not under test
        return result

    monkeypatch.setattr(exporter_cli, "_request_and_wait", answered)
    argv = ["export", "teams", "--from", "2026-11-02", "--to", "2026-11-02", *args]
    return CliRunner().invoke(main, argv, env=env)


def test_export_copies_a_verified_csv(
    monkeypatch: pytest.MonkeyPatch, export_env: dict[str, str], tmp_path: Path
) -> None:
    data = b"Created at,Team ID\r\n"
    csv = Path(export_env["STREAMPROC_EXPORT_DIR"]) / "teams.csv"
    csv.write_bytes(data)
    out = tmp_path / "copy.csv"
    result = _export(monkeypatch, export_env, _result(csv, data), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == data
    assert not (tmp_path / "copy.csv.partial").exists()


@pytest.mark.parametrize("where", ["outside", "traversal", "symlink"])
def test_export_refuses_a_path_outside_the_export_directory(
    monkeypatch: pytest.MonkeyPatch, export_env: dict[str, str], tmp_path: Path, where: str
) -> None:
    exports = Path(export_env["STREAMPROC_EXPORT_DIR"])
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not yours")
    named = {
        "outside": secret,
        "traversal": exports / ".." / ".." / "secret.txt",
        "symlink": exports / "link.csv",
    }[where]
    if where == "symlink":
        named.symlink_to(secret)
    out = tmp_path / "copy.csv"
    result = _export(monkeypatch, export_env, _result(named, b"not yours"), "--out", str(out))
    assert result.exit_code != 0
    assert "not inside the export directory" in result.output
    assert not out.exists()


@pytest.mark.parametrize("out_given", [True, False])
def test_export_refuses_a_csv_that_does_not_match_the_checksum(
    monkeypatch: pytest.MonkeyPatch, export_env: dict[str, str], tmp_path: Path, out_given: bool
) -> None:
    csv = Path(export_env["STREAMPROC_EXPORT_DIR"]) / "teams.csv"
    csv.write_bytes(b"changed afterwards\r\n")
    out = tmp_path / "copy.csv"
    args = ("--out", str(out)) if out_given else ()
    result = _export(monkeypatch, export_env, _result(csv, b"what was exported\r\n"), *args)
    assert result.exit_code != 0
    assert "does not match the exporter's result" in result.output
    assert not out.exists() and not (tmp_path / "copy.csv.partial").exists()


def test_export_refuses_a_missing_csv(
    monkeypatch: pytest.MonkeyPatch, export_env: dict[str, str]
) -> None:
    missing = Path(export_env["STREAMPROC_EXPORT_DIR"]) / "gone.csv"
    result = _export(monkeypatch, export_env, _result(missing, b""))
    assert result.exit_code != 0
    assert "does not exist" in result.output
