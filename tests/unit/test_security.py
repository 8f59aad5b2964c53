"""Security settings: validation, the hidden password, and the one helper every client uses."""

from __future__ import annotations

import shutil
import ssl
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import AuthProtocol, SASLMechanism

from streamproc.app import create_app
from streamproc.cli import main
from streamproc.security import client_kwargs, faust_credentials
from streamproc.settings import Settings, SettingsError
from streamproc.testing.broker import (
    SCRAM_MARKER,
    BrokerError,
    _scram_arguments,
    _scram_fingerprint,
    _scram_warning,
    _write_config,
)

SASL_ENV = {
    "STREAMPROC_SECURITY_PROTOCOL": "sasl_plaintext",
    "STREAMPROC_SASL_MECHANISM": "scram-sha-256",
    "STREAMPROC_SASL_USERNAME": "svc",
    "STREAMPROC_SASL_PASSWORD": "hunter2-secret",
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed CA certificate and a client certificate + key made by openssl."""
    openssl = shutil.which("openssl")
    assert openssl, "openssl is missing: `make tools` installs Debian's package"
    out = tmp_path_factory.mktemp("certs")
    cert, key = out / "client.pem", out / "client.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=streamproc-test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return {"cafile": cert, "certfile": cert, "keyfile": key}


def test_defaults_are_plaintext_with_one_replica() -> None:
    settings = Settings.from_env({})
    assert settings.security_protocol == "PLAINTEXT"
    assert settings.topic_replication_factor == 1
    assert client_kwargs(settings) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(settings) is None


def test_sasl_settings_reach_every_aiokafka_client_and_faust_identically() -> None:
    settings = Settings.from_env({**SASL_ENV, "STREAMPROC_BOOTSTRAP_SERVERS": "k1:9096,k2:9096"})
    assert (settings.security_protocol, settings.sasl_mechanism) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-256",
    )
    kwargs = client_kwargs(settings)
    assert kwargs == {
        "bootstrap_servers": "k1:9096,k2:9096",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "svc",
        "sasl_plain_password": "hunter2-secret",
    }
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_PLAINTEXT
    assert credentials.mechanism is SASLMechanism.SCRAM_SHA_256
    # What Faust's transport hands its own consumers and producers is the same.
    faust_args = credentials_to_aiokafka_auth(credentials)
    assert {k: v for k, v in faust_args.items() if v is not None} == {
        k: v for k, v in kwargs.items() if k != "bootstrap_servers"
    }


def test_the_password_is_never_in_repr_or_str() -> None:
    settings = Settings.from_env(SASL_ENV)
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)
    assert "svc" in repr(settings)
    credentials = faust_credentials(settings)
    assert "hunter2" not in repr(credentials)


def test_sasl_ssl_builds_a_verifying_tls_context(certs: dict[str, Path]) -> None:
    env = {**SASL_ENV, "STREAMPROC_SECURITY_PROTOCOL": "SASL_SSL"}
    env["STREAMPROC_SSL_CAFILE"] = str(certs["cafile"])
    settings = Settings.from_env(env)
    kwargs = client_kwargs(settings)
    context = kwargs["ssl_context"]
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    # Trusts exactly the CA file given (not the system store).
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "streamproc-test"),),)
    ]
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_SSL
    assert credentials.ssl_context is not None


def test_ssl_with_a_client_certificate(certs: dict[str, Path]) -> None:
    env = {
        "STREAMPROC_SECURITY_PROTOCOL": "SSL",
        "STREAMPROC_SSL_CAFILE": str(certs["cafile"]),
        "STREAMPROC_SSL_CERTFILE": str(certs["certfile"]),
        "STREAMPROC_SSL_KEYFILE": str(certs["keyfile"]),
    }
    settings = Settings.from_env(env)
    kwargs = client_kwargs(settings)
    assert kwargs["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in kwargs
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SSLCredentials)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SSL"
    # A key that does not belong to the certificate is refused when the context is built.
    wrong = replace(settings, ssl_keyfile=certs["cafile"])
    with pytest.raises(ssl.SSLError):
        client_kwargs(wrong)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STREAMPROC_SECURITY_PROTOCOL": "TLS"}, "not one of PLAINTEXT, SASL_PLAINTEXT"),
        ({"STREAMPROC_SECURITY_PROTOCOL": "SASL_SSL"}, "needs STREAMPROC_SASL_USERNAME and"),
        (
            {**SASL_ENV, "STREAMPROC_SASL_PASSWORD": ""},
            "SASL_PLAINTEXT needs STREAMPROC_SASL_PASSWORD",
        ),
        ({**SASL_ENV, "STREAMPROC_SASL_MECHANISM": "GSSAPI"}, "is not one of PLAIN, SCRAM"),
        ({"STREAMPROC_SASL_USERNAME": "svc"}, "only apply to SASL: set STREAMPROC_SECURITY"),
        ({"STREAMPROC_SSL_CAFILE": "/etc/hosts"}, "only apply to TLS"),
        ({**SASL_ENV, "STREAMPROC_SSL_CAFILE": "/etc/hosts"}, "only apply to TLS"),
        (
            {"STREAMPROC_SECURITY_PROTOCOL": "SSL", "STREAMPROC_SSL_CAFILE": "/nonexistent/ca"},
            "STREAMPROC_SSL_CAFILE='/nonexistent/ca': no such file",
        ),
        (
            {"STREAMPROC_SECURITY_PROTOCOL": "SSL", "STREAMPROC_SSL_KEYFILE": "/etc/hosts"},
            "STREAMPROC_SSL_KEYFILE is set without STREAMPROC_SSL_CERTFILE",
        ),
        ({"STREAMPROC_TOPIC_REPLICATION_FACTOR": "0"}, "must be positive"),
        ({"STREAMPROC_TOPIC_REPLICATION_FACTOR": "three"}, "is not a whole number"),
    ],
)
def test_incoherent_security_settings_are_refused_with_a_fix(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=None) as raised:
        Settings.from_env(env)
    assert message in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_the_faust_app_gets_the_credentials_and_the_replication_factor() -> None:
    settings = replace(
        Settings.from_env({**SASL_ENV, "STREAMPROC_TOPIC_REPLICATION_FACTOR": "3"}),
        store="memory://",
        app_id="security-test",
        bootstrap_servers="127.0.0.1:1",
    )
    app, _tables = create_app(settings)
    assert app.conf.topic_replication_factor == 3
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, SASLCredentials)
    assert (credentials.username, credentials.password) == ("svc", "hunter2-secret")
    assert credentials.mechanism is SASLMechanism.SCRAM_SHA_256


def test_local_broker_sasl_mode_config(tmp_path: Path) -> None:
    settings = replace(Settings.from_env(SASL_ENV), data_dir=tmp_path, kafka_port=29300)
    settings.kafka_dir.mkdir(parents=True)
    path = _write_config(settings)
    props = dict(
        line.split("=", 1) for line in path.read_text().splitlines() if not line.startswith("#")
    )
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:29300,CONTROLLER://127.0.0.1:29301"
    assert props["listener.security.protocol.map"] == (
        "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"
    )
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    assert (
        'user_svc="hunter2-secret"' in props["listener.name.sasl_plaintext.plain.sasl.jaas.config"]
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the password
    assert _scram_arguments(settings) == [
        "--add-scram", "SCRAM-SHA-256=[name=svc,password=hunter2-secret]",
        "--add-scram", "SCRAM-SHA-512=[name=svc,password=hunter2-secret]",
    ]  # fmt: skip

    plain = replace(Settings(), data_dir=tmp_path, kafka_port=29300)
    props = _write_config(plain).read_text()
    assert "listeners=PLAINTEXT://127.0.0.1:29300," in props
    assert "sasl." not in props and "SASL" not in props
    assert _scram_arguments(plain) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "serves PLAINTEXT or SASL_PLAINTEXT, not SASL_SSL"),
        ({"sasl_password": 'a"b'}, "STREAMPROC_SASL_PASSWORD set, made of letters"),
        ({"sasl_username": "a b"}, "STREAMPROC_SASL_USERNAME set, made of letters"),
    ],
)
def test_local_broker_refuses_what_it_cannot_serve(
    tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    settings = replace(Settings.from_env(SASL_ENV), data_dir=tmp_path, **changes)  # type: ignore[arg-type]
    settings.kafka_dir.mkdir(parents=True)
    with pytest.raises(BrokerError, match=None) as raised:
        _write_config(settings)
    assert message in str(raised.value)


def test_local_broker_warns_when_its_storage_lacks_the_scram_user(tmp_path: Path) -> None:
    settings = replace(Settings.from_env(SASL_ENV), data_dir=tmp_path)
    settings.kafka_dir.mkdir(parents=True)
    warning = _scram_warning(settings)
    assert warning and "formatted without SASL; PLAIN works" in warning
    (settings.kafka_dir / SCRAM_MARKER).write_text(_scram_fingerprint(settings))
    assert _scram_warning(settings) is None
    assert "hunter2" not in (settings.kafka_dir / SCRAM_MARKER).read_text()
    changed = replace(settings, sasl_username="someone-else")
    assert "for another user or password" in (_scram_warning(changed) or "")
    assert _scram_warning(replace(settings, security_protocol="PLAINTEXT")) is None


def test_commands_refuse_incoherent_security_settings_with_a_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMPROC_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAMPROC_SASL_PASSWORD", "hunter2-secret")
    monkeypatch.delenv("STREAMPROC_SASL_USERNAME", raising=False)
    result = CliRunner().invoke(main, ["topics", "create"])
    assert result.exit_code == 2
    assert "STREAMPROC_SECURITY_PROTOCOL=SASL_SSL needs STREAMPROC_SASL_USERNAME" in result.output
    assert "hunter2" not in result.output
