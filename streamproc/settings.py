"""The one place that reads the environment: STREAMPROC_* variables into a frozen dataclass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV_PREFIX = "STREAMPROC_"
SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
#: Credentials that only mean something with a SASL security protocol (the mechanism has a
#: default, PLAIN, and is simply unused without SASL).
SASL_FIELDS = ("sasl_username", "sasl_password")
#: Fields that only mean something with a TLS security protocol.
SSL_FIELDS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


class SettingsError(ValueError):
    """An STREAMPROC_* variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Every tunable of the service. Field ``foo_bar`` is read from ``STREAMPROC_FOO_BAR``."""

    # Kafka connection and the project's local broker.
    bootstrap_servers: str = "127.0.0.1:9092"
    kafka_port: int = 9092
    kafka_version: str = "4.1.1"
    kafka_heap: str = "512m"
    # How every client the service builds authenticates (docs/security.md). The local
    # broker (`streamproc kafka up`) serves PLAINTEXT or SASL_PLAINTEXT as set here.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    # Never printed: left out of repr() (the dataclass repr shows every other field).
    sasl_password: str | None = field(default=None, repr=False)
    # TLS (SSL, SASL_SSL): CA bundle to trust (default: the system's), client cert and key.
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # Replication factor of every topic the service creates (and Faust's own topics).
    topic_replication_factor: int = 1
    # Where the service keeps its state (broker data, RocksDB tables, exports).
    data_dir: Path = field(default_factory=lambda: Path(".data").resolve())
    # Where downloaded broker jars are cached across checkouts.
    cache_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
        ).joinpath("streamproc")
    )
    # Faust application.
    app_id: str = "streamproc"
    store: str = "rocksdb://"
    # Local table state; default ``data_dir/tables``. Each worker process needs its own.
    tables_dir: Path | None = None
    # Consumer-group liveness: a dead worker's partitions move after this long. Longer than
    # a broker restart, so that no live worker loses its partitions while it still holds
    # unsent table writes (they would land after the new owner's).
    session_timeout_s: int = 45
    # How often a worker heartbeats to the group coordinator: a worker that joins waits
    # for every member's next heartbeat before the group rebalances. Kafka's default (3 s);
    # at most a third of the session timeout.
    heartbeat_interval_s: int = 3
    # Static group membership (Kafka KIP-345): a worker restarted with the same id gets its
    # partitions back at once instead of after the session timeout. One per worker.
    worker_id: str | None = None
    # A worker whose partition has pending records but no commit for this long exits.
    stall_timeout_s: int = 45
    # Most records one fetch returns (Faust's broker_max_poll_records).
    max_poll_records: int = 5000
    # How a worker rebuilds its tables from their changelogs: "batch" (each fetch's
    # records in one write, streamproc.tables.recovery) or "faust" (Faust's own
    # per-record path; kept to measure against).
    recovery_apply: str = "batch"
    # Warm standby copies of every table partition kept by the other workers (Faust's
    # table_standby_replicas): a partition whose worker leaves is then mostly rebuilt
    # already (no help to a worker that joins; docs/performance.md).
    standby_replicas: int = 0
    # Topics.
    topic_messages: str = "inbox.messages"
    topic_locks: str = "inbox.locks"
    topic_conversations: str = "inbox.conversations"
    topic_presence: str = "inbox.presence"
    topic_directory: str = "inbox.directory"
    topic_deadletter: str = "inbox.deadletter"
    # Internal: valid events that arrived with another key, no key, on another partition or
    # inbound topic are forwarded here (keyed and partitioned by their contract key).
    topic_reroute: str = "inbox.reroute"
    topic_export_requests: str = "inbox.export.requests"
    topic_export_results: str = "inbox.export.results"
    # Scheduled exports: their progress (compacted, keyed by schedule and type) and the
    # TOML file that defines them (docs/exports.md, "Scheduled exports"); unset = none.
    topic_export_schedules: str = "inbox.export.schedules"
    schedules: Path | None = None
    # The live metrics feed (streamproc.live.feed; compacted, keyed ``scope:id``).
    topic_metrics: str = "inbox.metrics"
    events_partitions: int = 8
    # Exporter: where CSVs and the read model live, how long a request may wait for workers.
    export_dir: Path | None = None
    readmodel_path: Path | None = None
    export_timeout_s: int = 120
    # Export files and their results are removed this long after they were written
    # (exporter/expiry.py); a download of a removed one answers 410 Gone.
    export_retention_hours: float = 168.0
    # The HTTP service (`streamproc web`, streamproc/web/): where it listens, and the base
    # URL export results link to (default http://127.0.0.1:<http_port>).
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str | None = None
    # Event-time rules.
    lateness_s: int = 3600
    lock_max_s: int = 7200
    retention_days: int = 400
    # The accepted event-time window, against the worker's clock: events older than
    # ``event_max_age_days`` or more than ``event_max_future_s`` ahead are dead-lettered
    # ``out_of_range`` (a year-9999 time would pin a directory record, make every later
    # presence change late and break exports in some zones).
    event_max_age_days: int = 400
    event_max_future_s: int = 86_400
    # The largest value any table record may take. An event whose application would write
    # a larger record is dead-lettered ``too_large`` instead (a changelog record over
    # Kafka's 1 MB limit would stop the worker on every restart).
    max_record_bytes: int = 900_000
    # Live operations (docs/live.md): at most one feed record per key per this many
    # seconds; the business time zone of "today"; the Prometheus ports of the worker and
    # of the exporter (0 = off).
    feed_interval_s: float = 0.5
    feed_timezone: str = "UTC"
    metrics_port: int = 0
    exporter_metrics_port: int = 0

    @property
    def inbound_topics(self) -> tuple[str, ...]:
        """The five inbound event topics, in contract order."""
        return (
            self.topic_messages,
            self.topic_locks,
            self.topic_conversations,
            self.topic_presence,
            self.topic_directory,
        )

    @property
    def consumed_topics(self) -> tuple[str, ...]:
        """Every topic the workers consume: the inbound topics and the re-route topic
        (co-partitioned: partition p of each belongs to one worker)."""
        return (*self.inbound_topics, self.topic_reroute)

    @property
    def kafka_dir(self) -> Path:
        """The local broker's data (KRaft log dirs, pid file, logs)."""
        return self.data_dir / "kafka"

    @property
    def table_state_dir(self) -> Path:
        """Faust's local table state (RocksDB) of this worker."""
        return self.tables_dir or self.data_dir / "tables"

    @property
    def exports_dir(self) -> Path:
        """Where the exporter writes CSV files (default ``data_dir/exports``)."""
        return self.export_dir or self.data_dir / "exports"

    @property
    def readmodel_file(self) -> Path:
        """The read model's SQLite file (default ``data_dir/readmodel.sqlite``)."""
        return self.readmodel_path or self.data_dir / "readmodel.sqlite"

    @property
    def export_base_url(self) -> str:
        """The base URL of the HTTP service, as export results link to it."""
        return (self.public_url or f"http://127.0.0.1:{self.http_port}").rstrip("/")

    def namespaced(self, namespace: str, data_dir: Path) -> Settings:
        """These settings with every topic name, the app id and the data dir of one
        namespace (tests and benchmarks on a shared broker)."""
        return replace(
            self,
            app_id=f"streamproc-{namespace}",
            data_dir=data_dir,
            topic_messages=f"{namespace}.inbox.messages",
            topic_locks=f"{namespace}.inbox.locks",
            topic_conversations=f"{namespace}.inbox.conversations",
            topic_presence=f"{namespace}.inbox.presence",
            topic_directory=f"{namespace}.inbox.directory",
            topic_deadletter=f"{namespace}.inbox.deadletter",
            topic_reroute=f"{namespace}.inbox.reroute",
            topic_export_requests=f"{namespace}.inbox.export.requests",
            topic_export_results=f"{namespace}.inbox.export.results",
            topic_export_schedules=f"{namespace}.inbox.export.schedules",
            topic_metrics=f"{namespace}.inbox.metrics",
        )

    def topic_for_role(self, role: str) -> str:
        """The topic name of a contract role (``messages``, ``locks``, ...)."""
        return str(getattr(self, f"topic_{role}"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``STREAMPROC_*`` variables; defaults for the rest."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        for name in ("security_protocol", "sasl_mechanism"):
            if name in values:
                values[name] = str(values[name]).strip().upper()
        settings = cls(**values)  # type: ignore[arg-type]
        check_security(settings, explicit=set(values))
        try:
            ZoneInfo(settings.feed_timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise SettingsError(
                f"{env_var('feed_timezone')}={settings.feed_timezone!r} is not an IANA time"
                " zone (e.g. Europe/Madrid)"
            ) from None
        if settings.recovery_apply not in RECOVERY_APPLY:
            raise SettingsError(
                f"{env_var('recovery_apply')}={settings.recovery_apply!r} is not one of "
                + ", ".join(RECOVERY_APPLY)
            )
        if settings.heartbeat_interval_s * 3 > settings.session_timeout_s:
            raise SettingsError(
                f"{env_var('heartbeat_interval_s')}={settings.heartbeat_interval_s} must be at"
                f" most a third of {env_var('session_timeout_s')}={settings.session_timeout_s}"
            )
        if "bootstrap_servers" not in values and "kafka_port" in values:
            settings = cls(**{**values, "bootstrap_servers": f"127.0.0.1:{settings.kafka_port}"})  # type: ignore[arg-type]
        return settings


def check_security(settings: Settings, explicit: set[str] | None = None) -> None:
    """Raise SettingsError when the security settings do not make one coherent setup.

    ``explicit`` names the fields set in the environment: a SASL or TLS field set for a
    protocol that does not use it is an error (it would be silently ignored otherwise).
    """
    given = set(explicit) if explicit is not None else _non_default_fields(settings)
    protocol = settings.security_protocol
    var = env_var("security_protocol")
    if protocol not in SECURITY_PROTOCOLS:
        raise SettingsError(f"{var}={protocol!r} is not one of " + ", ".join(SECURITY_PROTOCOLS))
    sasl = protocol.startswith("SASL_")
    tls = protocol in ("SSL", "SASL_SSL")
    if sasl:
        if settings.sasl_mechanism not in SASL_MECHANISMS:
            raise SettingsError(
                f"{env_var('sasl_mechanism')}={settings.sasl_mechanism!r} is not one of "
                + ", ".join(SASL_MECHANISMS)
            )
        missing = [
            env_var(n) for n in ("sasl_username", "sasl_password") if not getattr(settings, n)
        ]
        if missing:
            raise SettingsError(f"{var}={protocol} needs " + " and ".join(missing))
    else:
        stray = [env_var(n) for n in SASL_FIELDS if n in given]
        if stray:
            raise SettingsError(
                f"{', '.join(stray)} only apply to SASL: set {var}=SASL_SSL (or "
                f"SASL_PLAINTEXT) or unset them (it is {protocol})"
            )
    if tls:
        if settings.ssl_keyfile is not None and settings.ssl_certfile is None:
            raise SettingsError(
                f"{env_var('ssl_keyfile')} is set without {env_var('ssl_certfile')}: set the "
                "client certificate too (or unset the key)"
            )
        for name in SSL_FIELDS:
            path = getattr(settings, name)
            if path is not None and not Path(path).is_file():
                raise SettingsError(f"{env_var(name)}={str(path)!r}: no such file")
    else:
        stray = [env_var(n) for n in SSL_FIELDS if n in given]
        if stray:
            raise SettingsError(
                f"{', '.join(stray)} only apply to TLS: set {var}=SSL (or SASL_SSL) or "
                f"unset them (it is {protocol})"
            )


def _non_default_fields(settings: Settings) -> set[str]:
    """The SASL and TLS fields that hold a value (all default to None)."""
    return {name for name in SASL_FIELDS + SSL_FIELDS if getattr(settings, name) is not None}


def settings_to_env(settings: Settings) -> dict[str, str]:
    """The ``STREAMPROC_*`` variables that rebuild ``settings`` in another process."""
    env: dict[str, str] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value is not None:
            env[ENV_PREFIX + f.name.upper()] = str(value)
    return env


RECOVERY_APPLY = ("batch", "faust")
"""Values of ``recovery_apply``."""

_MAY_BE_ZERO = frozenset({"metrics_port", "exporter_metrics_port"})
_COUNT_MAY_BE_ZERO = frozenset({"standby_replicas"})


def _convert(name: str, type_name: object, raw: str) -> object:
    var = ENV_PREFIX + name.upper()
    if name in _MAY_BE_ZERO:
        if not raw.isdigit() or int(raw) > 65535:
            raise SettingsError(f"{var}={raw!r} must be a port number 1-65535, or 0 for off")
        return int(raw)
    if name in _COUNT_MAY_BE_ZERO:
        if not raw.isdigit():
            raise SettingsError(f"{var}={raw!r} must be a whole number, 0 or more")
        return int(raw)
    if type_name in ("float", float):
        try:
            number = float(raw)
        except ValueError:
            raise SettingsError(f"{var}={raw!r} is not a number") from None
        if not number > 0 or number == float("inf"):
            unit = "hours" if name.endswith("_hours") else "seconds"
            raise SettingsError(f"{var}={raw!r} must be a positive number of {unit}")
        return number
    if type_name in ("int", int):
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{var}={raw!r} is not a whole number") from None
        if value <= 0:
            raise SettingsError(f"{var}={raw!r} must be positive")
        return value
    if type_name in ("Path", Path, "Path | None"):
        return Path(raw).expanduser().resolve()
    return raw


def env_var(name: str) -> str:
    """The environment variable that sets field ``name``."""
    return ENV_PREFIX + name.upper()
