"""The shipped docker-compose stack validates and matches the local broker's settings."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from streamproc.settings import Settings
from streamproc.testing.broker import _write_config
from tests.harness import ROOT


@pytest.fixture(scope="module")
def compose_config() -> str:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is missing: `make tools` installs Debian's package"
    quiet = subprocess.run(
        [exe, "config", "-q"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert quiet.returncode == 0, quiet.stderr
    full = subprocess.run([exe, "config"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert full.returncode == 0, full.stderr
    return full.stdout


def test_compose_has_the_stack(compose_config: str) -> None:
    for service in ("kafka:", "topics:", "worker:", "exporter:", "web:", "live-api:",
                    "prometheus:", "grafana:"):  # fmt: skip
        assert f"\n  {service}" in compose_config
    assert "apache/kafka:4" in compose_config


def test_prometheus_scrapes_the_metrics_ports_of_the_compose_stack(compose_config: str) -> None:
    """The scrape targets are the ports the worker and exporter serve in the stack, the
    config passes promtool, and the dashboard queries only metrics the service defines."""
    config = ROOT / "deploy" / "prometheus" / "prometheus.yml"
    text = config.read_text()
    assert "STREAMPROC_METRICS_PORT: '9464'" in compose_config or \
        'STREAMPROC_METRICS_PORT: "9464"' in compose_config  # fmt: skip
    assert "worker:9464" in text and "exporter:9465" in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make tools` installs Debian's prometheus"
    checked = subprocess.run([promtool, "check", "config", str(config)], capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    from streamproc.live import prom

    defined = {m._name for m in vars(prom).values() if hasattr(m, "_name")}
    dashboard = orjson.loads((ROOT / "deploy" / "grafana" / "dashboards" / "streamproc.json")
                             .read_bytes())  # fmt: skip
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"streamproc_[a-z_]+", e)}
    suffixes = ("_bucket", "_total", "_count", "_sum")
    base = {next((u[: -len(x)] for x in suffixes if u.endswith(x)), u) for u in used}
    assert base <= defined | {d.removesuffix("_total") for d in defined}, base - defined
    assert len(dashboard["panels"]) >= 8


@pytest.mark.parametrize(
    "prop",
    [
        "process.roles",
        "group.initial.rebalance.delay.ms",
        "group.min.session.timeout.ms",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "auto.create.topics.enable",
        "num.partitions",
        "log.retention.ms",
    ],
)
def test_compose_uses_the_local_broker_settings(
    compose_config: str, prop: str, tmp_path: Path
) -> None:
    """Each listed server.properties value of `streamproc kafka up` is in the compose broker."""
    settings = replace(Settings(), data_dir=tmp_path)
    settings.kafka_dir.mkdir(parents=True)
    props = dict(
        line.split("=", 1)
        for line in _write_config(settings).read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    env_name = "KAFKA_" + prop.upper().replace(".", "_")
    values = {
        k.strip(): v.strip().strip("'\"")
        for k, v in (line.split(":", 1) for line in compose_config.splitlines() if ":" in line)
    }
    assert values.get(env_name) == props[prop]


def _service_environment(compose_config: str, service: str) -> dict[str, str]:
    """The environment of one service as `docker-compose config` renders it."""
    block = compose_config.split(f"\n  {service}:\n", 1)[1]
    env: dict[str, str] = {}
    lines = iter(block.splitlines())
    for line in lines:
        if line.strip() == "environment:":
            break
    for line in lines:
        if not line.startswith("      "):
            break
        key, _, value = line.strip().partition(":")
        env[key] = value.strip().strip("'\"")
    return env


def test_compose_passes_the_security_settings_through(compose_config: str) -> None:
    """Every security variable reaches the services; unset, they load as plaintext defaults."""
    for service in ("topics", "worker", "exporter"):
        env = _service_environment(compose_config, service)
        for name in ("SECURITY_PROTOCOL", "SASL_USERNAME", "SASL_PASSWORD", "SSL_CAFILE",
                     "TOPIC_REPLICATION_FACTOR"):  # fmt: skip
            assert f"STREAMPROC_{name}" in env, (service, name)
        settings = Settings.from_env(env)
        assert settings.security_protocol == "PLAINTEXT"
        assert settings.topic_replication_factor == 1


def test_the_image_does_not_run_as_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    users = [i for i, ln in enumerate(lines) if ln.startswith("USER ")]
    assert users, "the Dockerfile has no USER: the service would run as root"
    user = lines[users[-1]].split()[1].split(":")[0]
    assert user not in ("root", "0"), "the image's last USER is root"
    assert f"chown {user}:" in text and "/data" in text, "the user must own its data dir"
