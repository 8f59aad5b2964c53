"""The project's local single-node Apache Kafka broker (KRaft): fetch jars, start, stop, status."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from streamproc.security import client_kwargs
from streamproc.settings import Settings, env_var

__all__ = [
    "BrokerError",
    "BrokerStatus",
    "broker_log",
    "down",
    "ensure_jars",
    "jars_dir",
    "status",
    "tail_lines",
    "up",
]

log = logging.getLogger(__name__)

POM = Path(__file__).parent / "pom.xml"
#: Written into ``<cache>/kafka-<version>/`` once every jar is in place.
COMPLETE_MARKER = "COMPLETE"
PID_FILE = "kafka.pid"
#: Which user's SCRAM credentials the storage was formatted with (name and a hash).
SCRAM_MARKER = "scram-user"
SERVER_PROPERTIES = "server.properties"
LOG4J_CONFIG = "log4j2.properties"
#: What log4j2 writes (the broker's own log).
BROKER_LOG = "broker.log"
#: The JVM's stdout/stderr (crashes before logging is up, JVM errors).
BROKER_OUT = "broker.out"
#: KRaft log dir (topic data and the cluster metadata log).
LOG_DIRS = "kraft-data"
LOCK_FILE = ".lock"
HOST = "127.0.0.1"

MVN_TIMEOUT_S = 900.0
FORMAT_TIMEOUT_S = 120.0

JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
#: For the short-lived StorageTool run: start fast, stay small.
TOOL_JVM_FLAGS = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)

_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
_HEAP_RE = re.compile(r"^\d+[kKmMgG]?$")

# Broker processes started by this Python process, kept so they are reaped (no zombies,
# no "subprocess still running" warnings) when stopped from the same process.
_children: dict[int, subprocess.Popen[bytes]] = {}

T = TypeVar("T")


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started, reached or stopped."""


@dataclasses.dataclass(frozen=True)
class BrokerStatus:
    """What is known about the local broker."""

    running: bool
    pid: int | None
    port: int
    bootstrap: str
    data_dir: Path
    #: Seconds ``up`` took to fetch/format/start it; None when nothing was started.
    started_in_s: float | None = None
    #: Something the operator should know about the started broker (e.g. SCRAM users).
    warning: str | None = None


# -- paths -----------------------------------------------------------------------------


def jars_dir(settings: Settings) -> Path:
    """Where the jars of ``settings.kafka_version`` are cached (may not exist yet)."""
    return settings.cache_dir / f"kafka-{_version(settings)}" / "libs"


def broker_log(settings: Settings) -> Path:
    """The broker's log file (log4j2 output)."""
    return settings.kafka_dir / BROKER_LOG


def _pid_file(settings: Settings) -> Path:
    return settings.kafka_dir / PID_FILE


def _server_properties(settings: Settings) -> Path:
    return settings.kafka_dir / SERVER_PROPERTIES


def _version(settings: Settings) -> str:
    version = settings.kafka_version
    if not _VERSION_RE.match(version):
        raise BrokerError(
            f"Kafka version {version!r} is not of the form X.Y.Z; "
            f"set {env_var('kafka_version')} to a release such as 4.1.1"
        )
    return version


# -- jars ------------------------------------------------------------------------------


def ensure_jars(settings: Settings) -> Path:
    """Return the cached jar directory, downloading it with Maven first if it is missing.

    The download goes to a temporary directory next to the cache and is renamed into
    place only when complete (with a marker file), so a crash never leaves half a cache;
    when the marker is there, Maven is not run at all.
    """
    version = _version(settings)
    home = settings.cache_dir / f"kafka-{version}"
    libs = home / "libs"
    if (home / COMPLETE_MARKER).is_file() and libs.is_dir():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "Maven (mvn) is needed once to download the Kafka broker jars, and is not on "
            "PATH: install it (e.g. apt-get install maven)"
        )
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_downloads(settings.cache_dir)
    with tempfile.TemporaryDirectory(prefix=f".kafka-{version}-", dir=settings.cache_dir) as tmp:
        staging = Path(tmp) / home.name
        staged_libs = staging / "libs"
        _mvn_copy(mvn, version, staged_libs, Path(tmp))
        core, binding = _log4j_versions(staged_libs)
        if core is not None and binding is not None and core != binding:
            # Another Kafka release uses another log4j2: match the slf4j binding to it.
            shutil.rmtree(staged_libs)
            _mvn_copy(mvn, version, staged_libs, Path(tmp), log4j_version=core)
        if not (staged_libs / f"kafka_2.13-{version}.jar").is_file():
            raise BrokerError(f"Maven did not fetch kafka_2.13-{version}.jar")
        jars = sorted(p.name for p in staged_libs.glob("*.jar"))
        (staging / COMPLETE_MARKER).write_text("\n".join(jars) + "\n", encoding="utf-8")
        if home.exists():
            if (home / COMPLETE_MARKER).is_file():  # another process finished first
                return libs
            shutil.rmtree(home)  # not ours to trust: no marker
        try:
            staging.rename(home)
        except OSError:
            if (home / COMPLETE_MARKER).is_file():  # lost a race with another download
                return libs
            raise
    return libs


def _remove_abandoned_downloads(cache_dir: Path, older_than_s: float = 3600) -> None:
    """Delete staging dirs left by downloads that were killed (never a complete cache)."""
    cutoff = time.time() - older_than_s
    for stale in cache_dir.glob(".kafka-*"):
        with contextlib.suppress(OSError):
            if stale.is_dir() and stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale, ignore_errors=True)


def _mvn_copy(
    mvn: str, version: str, out: Path, workdir: Path, *, log4j_version: str | None = None
) -> None:
    """Run the packaged POM's dependency:copy-dependencies into ``out``."""
    pom = workdir / "pom.xml"
    shutil.copyfile(POM, pom)  # Maven may write next to its POM: not into the package
    cmd = [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={out}",
        f"-Dkafka.version={version}",
    ]
    if log4j_version is not None:
        cmd.append(f"-Dlog4j.version={log4j_version}")
    log.info("downloading Kafka %s jars with Maven", version)
    try:
        # S603 is a false alarm here: fixed argv (mvn from PATH + our own arguments), no shell.
        done = subprocess.run(  # noqa: S603
            cmd,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MVN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BrokerError(
            f"Maven did not fetch the Kafka {version} jars within {MVN_TIMEOUT_S:.0f} s"
        ) from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        tail = "\n".join(output[-30:])
        raise BrokerError(
            f"Maven could not fetch Kafka {version} (exit {done.returncode}); is "
            f"{env_var('kafka_version')} a real release and Maven Central reachable?\n{tail}"
        )


def _log4j_versions(libs: Path) -> tuple[str | None, str | None]:
    """Versions of log4j-core and of the log4j-slf4j-impl binding among ``libs``."""

    def find(artifact: str) -> str | None:
        for jar in libs.glob(f"{artifact}-*.jar"):
            rest = jar.name[len(artifact) + 1 : -len(".jar")]
            if rest[:1].isdigit():
                return rest
        return None

    return find("log4j-core"), find("log4j-slf4j-impl")


# -- status ----------------------------------------------------------------------------


def status(settings: Settings) -> BrokerStatus:
    """Whether our broker runs: pid file, a live process that is ours, the port answering."""
    pid = _our_pid(settings)
    port = settings.kafka_port
    return BrokerStatus(
        running=pid is not None and _port_answers(port),
        pid=pid,
        port=port,
        bootstrap=f"{HOST}:{port}",
        data_dir=settings.kafka_dir,
    )


def _read_pid(settings: Settings) -> int | None:
    try:
        text = _pid_file(settings).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _our_pid(settings: Settings) -> int | None:
    """The pid of our live broker: the recorded one, else one found by its command line.

    The fallback finds a broker whose pid file was lost (deleted, or a crashed ``up``).
    """
    props = _server_properties(settings)
    pid = _read_pid(settings)
    if pid is not None and _is_our_broker(pid, props):
        return pid
    found = [p for p in _pids_with_arg(os.fsencode(str(props))) if _is_our_broker(p, props)]
    return found[0] if len(found) == 1 else None


def _pids_with_arg(arg: bytes) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if arg in argv:
            pids.append(int(entry.name))
    return pids


def _is_our_broker(pid: int, server_properties: Path) -> bool:
    if not _alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in argv and os.fsencode(str(server_properties)) in argv


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as dead, and is reaped if it is ours)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        _children.pop(pid, None)
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    # Field 3 (after the parenthesised command name) is the state.
    state = stat.rpartition(")")[2].split()[:1]
    return state not in (["Z"], ["X"])


def _port_answers(port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _port_free(port: int) -> bool:
    """Whether a server socket could listen on HOST:port (as Java's would, SO_REUSEADDR)."""
    if _port_answers(port, timeout_s=0.5):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
            sock.listen(1)
        except OSError:
            return False
    return True


# -- up --------------------------------------------------------------------------------


def up(settings: Settings, *, timeout_s: float = 90) -> BrokerStatus:
    """Start the local broker (downloading jars and formatting storage the first time).

    A no-op returning the status when our broker already runs. ``timeout_s`` bounds the
    wait for the started broker to serve metadata (not the one-off jar download).
    """
    t0 = time.monotonic()
    settings.kafka_dir.mkdir(parents=True, exist_ok=True)
    with _lock(settings):
        pid = _our_pid(settings)
        if pid is not None:
            deadline = time.monotonic() + timeout_s
            if _read_pid(settings) != pid:
                _write_atomic(_pid_file(settings), f"{pid}\n")
            if not _port_answers(settings.kafka_port):
                # Ours but still starting (e.g. an earlier `up` gave up waiting): wait for it.
                _wait_ready(settings, pid, deadline)
            return status(settings)
        _pid_file(settings).unlink(missing_ok=True)  # stale
        _listener_protocol(settings)  # fail before any download on settings it cannot serve
        _check_ports(settings)
        java = _java()
        heap = settings.kafka_heap
        if not _HEAP_RE.match(heap):
            raise BrokerError(
                f"Kafka heap {heap!r} is not a JVM size such as 512m or 1g; "
                f"fix {env_var('kafka_heap')}"
            )
        libs = ensure_jars(settings)
        props = _write_config(settings)
        log4j_cfg = settings.kafka_dir / LOG4J_CONFIG
        _format_storage(settings, java, libs, props, log4j_cfg)
        since = _log_offsets(settings)
        pid = _start(settings, java, libs, props, log4j_cfg, heap)
        deadline = time.monotonic() + timeout_s
        try:
            _wait_ready(settings, pid, deadline, since)
        except BrokerError as exc:
            _stop_pid(pid, timeout_s=30)
            _pid_file(settings).unlink(missing_ok=True)
            raise BrokerError(f"{exc}\n(the half-started broker was stopped)") from None
        return dataclasses.replace(
            status(settings),
            started_in_s=round(time.monotonic() - t0, 2),
            warning=_scram_warning(settings),
        )


@contextlib.contextmanager
def _lock(settings: Settings) -> Iterator[None]:
    """Serialise up/down on one data dir across processes."""
    with open(settings.kafka_dir / LOCK_FILE, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_ports(settings: Settings) -> None:
    port = settings.kafka_port
    if port + 1 > 65535:
        raise BrokerError(
            f"port {port} leaves no room for the controller port {port + 1}; "
            f"choose another with {env_var('kafka_port')}=<port>"
        )
    for p, role in ((port, "Kafka"), (port + 1, "KRaft controller")):
        if not _port_free(p):
            raise BrokerError(
                f"port {p} ({role} listener) on {HOST} is already in use by another process, "
                f"not by this project's broker in {settings.kafka_dir}; stop that process or "
                f"choose another port with {env_var('kafka_port')}=<port> (the broker uses "
                f"<port> and <port>+1)"
            )


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java (JDK/JRE 17+) is needed to run Kafka and is not on PATH")
    return java


def _write_config(settings: Settings) -> Path:
    """(Re)write server.properties and the log4j2 config; return server.properties."""
    kdir = settings.kafka_dir
    port = settings.kafka_port
    ctl = port + 1
    # The client listener speaks what the clients are configured for (PLAINTEXT or
    # SASL_PLAINTEXT); the KRaft controller listener stays PLAINTEXT on 127.0.0.1.
    listener = _listener_protocol(settings)
    props = {
        # Single node, combined mode (KRaft, no ZooKeeper).
        "process.roles": "broker,controller",
        "node.id": "1",
        "listeners": f"{listener}://{HOST}:{port},CONTROLLER://{HOST}:{ctl}",
        "advertised.listeners": f"{listener}://{HOST}:{port}",
        "inter.broker.listener.name": listener,
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": f"{listener}:{listener},CONTROLLER:PLAINTEXT",
        "controller.quorum.bootstrap.servers": f"{HOST}:{ctl}",
        **_sasl_properties(settings),
        "log.dirs": str(kdir / LOG_DIRS),
        # One replica of everything.
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "8",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Fast consumer-group joins for development and tests.
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "1000",
        # The project creates every topic itself (admin client / Faust): a typo must fail,
        # not silently create a topic.
        "auto.create.topics.enable": "false",
        "num.partitions": str(settings.events_partitions),
        # A dev broker keeps its data: simulated events carry old event-time timestamps,
        # which time-based retention would delete at once.
        "log.retention.ms": "-1",
        "log.retention.bytes": "-1",
        # Light on a small machine.
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
    }
    server_properties = kdir / SERVER_PROPERTIES
    lines = ["# Written by streamproc.testing.broker on every `up`: edits are overwritten."]
    lines += [f"{k}={v}" for k, v in props.items()]
    # Owner-only: in SASL mode it holds the broker's user list with passwords.
    _write_atomic(server_properties, "\n".join(lines) + "\n", mode=0o600)

    logfile = kdir / BROKER_LOG
    log4j = f"""\
# Written by streamproc.testing.broker on every `up`: edits are overwritten.
status = warn
name = streamproc-broker
# Keep logging while Kafka's own shutdown hook runs (else its last lines are lost).
shutdownHook = disable
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {logfile}
appender.file.filePattern = {logfile}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = warn
"""
    _write_atomic(kdir / LOG4J_CONFIG, log4j)
    return server_properties


def _write_atomic(path: Path, text: str, *, mode: int | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    if mode is None:
        tmp.write_text(text, encoding="utf-8")
    else:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    tmp.replace(path)


#: What the local broker's SASL mode accepts in a user name or password: it is written into
#: a JAAS config and the storage tool's --add-scram argument unquoted.
_LOCAL_CREDENTIAL_RE = re.compile(r"^[A-Za-z0-9._~@+-]+$")
#: Mechanisms the local broker enables in SASL mode (the client picks one).
LOCAL_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _listener_protocol(settings: Settings) -> str:
    """The client listener's security protocol: PLAINTEXT or SASL_PLAINTEXT."""
    protocol = settings.security_protocol
    if protocol not in ("PLAINTEXT", "SASL_PLAINTEXT"):
        raise BrokerError(
            f"the local broker serves PLAINTEXT or SASL_PLAINTEXT, not {protocol} (TLS needs "
            f"certificates it does not make); set {env_var('security_protocol')}=SASL_PLAINTEXT "
            "for a broker with passwords, or point STREAMPROC_BOOTSTRAP_SERVERS at your cluster"
        )
    if protocol == "SASL_PLAINTEXT":
        for name in ("sasl_username", "sasl_password"):
            value = getattr(settings, name) or ""
            if not _LOCAL_CREDENTIAL_RE.match(value):
                raise BrokerError(
                    f"the local broker in SASL mode needs {env_var(name)} set, made of letters, "
                    "digits and . _ ~ @ + - only (it is written into the broker's JAAS config)"
                )
    return protocol


def _sasl_properties(settings: Settings) -> dict[str, str]:
    """Broker-side SASL settings: one user (the configured client), PLAIN and SCRAM enabled.

    PLAIN checks the password against the JAAS user list written here on every ``up``;
    SCRAM checks the salted credentials stored in the cluster metadata when the storage is
    formatted (``_format_storage``). The broker talks to itself with PLAIN as that user.
    """
    if settings.security_protocol != "SASL_PLAINTEXT":
        return {}
    user, password = settings.sasl_username, settings.sasl_password
    prefix = "listener.name.sasl_plaintext"
    return {
        "sasl.enabled.mechanisms": ",".join(LOCAL_SASL_MECHANISMS),
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        f"{prefix}.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{user}" password="{password}" user_{user}="{password}";'
        ),
        f"{prefix}.scram-sha-256.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        f"{prefix}.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
    }


def _scram_arguments(settings: Settings) -> list[str]:
    """StorageTool arguments that store the configured user's SCRAM credentials."""
    if settings.security_protocol != "SASL_PLAINTEXT":
        return []
    user, password = settings.sasl_username, settings.sasl_password
    args = []
    for mechanism in LOCAL_SASL_MECHANISMS:
        if mechanism.startswith("SCRAM-"):
            args += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
    return args


def _cluster_id() -> str:
    """A new cluster id, as ``kafka-storage random-uuid`` makes (without a JVM start)."""
    while True:
        raw = secrets.token_bytes(16)
        # Kafka's Uuid.randomUuid rejects the zero and metadata-topic ids and a leading "-".
        if int.from_bytes(raw, "big") in (0, 1):
            continue
        text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


def _format_storage(
    settings: Settings, java: str, libs: Path, props: Path, log4j_cfg: Path
) -> None:
    """Format the KRaft log dir once (skipped when meta.properties exists)."""
    data = settings.kafka_dir / LOG_DIRS
    if (data / "meta.properties").is_file():
        return
    cmd = [
        java,
        *TOOL_JVM_FLAGS,
        f"-Dlog4j2.configurationFile={log4j_cfg}",
        "-cp",
        f"{libs}/*",
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "-t",
        _cluster_id(),
        "-c",
        str(props),
        *_scram_arguments(settings),
    ]
    try:
        # S603 is a false alarm here: fixed argv (java + our own arguments), no shell.
        done = subprocess.run(  # noqa: S603
            cmd,
            cwd=settings.kafka_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=FORMAT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BrokerError(f"formatting {data} took over {FORMAT_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        out = (done.stdout + done.stderr).strip()
        raise BrokerError(f"formatting the KRaft storage in {data} failed:\n{out}")
    if settings.security_protocol == "SASL_PLAINTEXT":
        _write_atomic(settings.kafka_dir / SCRAM_MARKER, _scram_fingerprint(settings), mode=0o600)


def _scram_fingerprint(settings: Settings) -> str:
    secret = f"{settings.sasl_username}\0{settings.sasl_password}".encode()
    return f"{settings.sasl_username} {hashlib.sha256(secret).hexdigest()}\n"


def _scram_warning(settings: Settings) -> str | None:
    """Why SCRAM logins will fail on this broker, if they will (PLAIN still works).

    SCRAM credentials are stored in the cluster metadata when the storage is formatted;
    a data dir formatted without SASL, or for another user or password, lacks them.
    """
    if settings.security_protocol != "SASL_PLAINTEXT":
        return None
    try:
        stored = (settings.kafka_dir / SCRAM_MARKER).read_text(encoding="utf-8")
    except FileNotFoundError:
        stored = None
    if stored == _scram_fingerprint(settings):
        return None
    return (
        f"SCRAM logins will fail: the storage in {settings.kafka_dir / LOG_DIRS} was formatted "
        f"{'without SASL' if stored is None else 'for another user or password'}; PLAIN works. "
        f"For SCRAM, `kafka down`, delete {settings.kafka_dir} and `kafka up` again "
        f"(this deletes the broker's data)"
    )


def _start(
    settings: Settings, java: str, libs: Path, props: Path, log4j_cfg: Path, heap: str
) -> int:
    """Launch the broker detached (own session, output to a file); record and return its pid."""
    kdir = settings.kafka_dir
    cmd = [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *JVM_FLAGS,
        f"-Dlog4j2.configurationFile={log4j_cfg}",
        f"-Dkafka.logs.dir={kdir}",
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(props),
    ]
    with open(kdir / BROKER_OUT, "ab") as out:
        out.write(
            f"\n--- starting Kafka {settings.kafka_version} on port "
            f"{settings.kafka_port}\n".encode()
        )
        out.flush()
        # S603 is a false alarm here: fixed argv (java + our own arguments), no shell.
        proc = subprocess.Popen(  # noqa: S603
            cmd,
            cwd=kdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[proc.pid] = proc
    _write_atomic(_pid_file(settings), f"{proc.pid}\n")
    return proc.pid


def _wait_ready(
    settings: Settings, pid: int, deadline: float, since: dict[Path, int] | None = None
) -> None:
    """Wait until the broker serves metadata; BrokerError if it dies or the deadline passes."""
    port = settings.kafka_port
    bootstrap = f"{HOST}:{port}"
    while True:
        if not _alive(pid):
            raise BrokerError(
                f"the Kafka broker (pid {pid}) exited while starting; its log ends with:\n"
                f"{_log_tail(settings, since)}"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerError(
                f"the Kafka broker (pid {pid}) did not serve metadata on {bootstrap} in time"
                f"; raise the timeout (`up --timeout`) or read {broker_log(settings)}; it ends "
                f"with:\n{_log_tail(settings, since)}"
            )
        # In SASL mode the probe logs in with PLAIN, whose user list `up` has just written
        # (SCRAM users may be missing from an older storage: see _scram_warning).
        probe = dataclasses.replace(settings, bootstrap_servers=bootstrap, sasl_mechanism="PLAIN")
        if _port_answers(port) and _run(_metadata_ready(probe, min(remaining, 10.0))):
            return
        _wait_exit(pid, min(0.25, max(remaining, 0.0)))


async def _metadata_ready(settings: Settings, timeout_s: float) -> bool:
    """Whether an aiokafka admin client (with the configured credentials) can fetch
    cluster metadata naming a broker."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        **client_kwargs(settings), request_timeout_ms=max(int(timeout_s * 1000), 1000)
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers")) and cluster.get("controller_id", -1) >= 0
    except Exception:  # any failure means "not ready yet"
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="streamproc-broker-probe")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _log_offsets(settings: Settings) -> dict[Path, int]:
    """Current sizes of the broker's output files, to report only what a new start wrote."""
    offsets = {}
    for path in (settings.kafka_dir / BROKER_OUT, broker_log(settings)):
        try:
            offsets[path] = path.stat().st_size
        except FileNotFoundError:
            offsets[path] = 0
    return offsets


def _log_tail(settings: Settings, since: dict[Path, int] | None = None, lines: int = 15) -> str:
    """The first error lines and the last ``lines`` lines the broker wrote (since a start)."""
    parts = []
    for path in (settings.kafka_dir / BROKER_OUT, broker_log(settings)):
        start = (since or {}).get(path)
        if start is None:
            text = tail_lines(path, lines)
        else:
            try:
                with open(path, "rb") as fh:
                    fh.seek(start)
                    text = fh.read().decode("utf-8", "replace")
            except FileNotFoundError:
                text = ""
        all_lines = [line for line in text.splitlines() if line.strip()]
        if not all_lines:
            continue
        errors = [line[:300] for line in all_lines if " ERROR " in line or " FATAL " in line]
        body = "\n".join(line[:300] for line in all_lines[-lines:])
        if errors:
            body = "errors:\n" + "\n".join(errors[:5]) + "\nlast lines:\n" + body
        parts.append(f"==> {path} <==\n{body}")
    return "\n".join(parts) or "(no log output)"


def tail_lines(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


# -- down ------------------------------------------------------------------------------


def down(settings: Settings, *, timeout_s: float = 60) -> BrokerStatus:
    """Stop our broker (SIGTERM, then SIGKILL after ``timeout_s``); its data stays.

    A no-op when it is not running. Only a process that is our broker (kafka.Kafka with
    this data dir's server.properties) is ever signalled.
    """
    settings.kafka_dir.mkdir(parents=True, exist_ok=True)
    with _lock(settings):
        pid = _our_pid(settings)
        if pid is not None:
            _stop_pid(pid, timeout_s=timeout_s)
            if _alive(pid):
                raise BrokerError(f"the Kafka broker (pid {pid}) survived SIGKILL")
        _pid_file(settings).unlink(missing_ok=True)
    return status(settings)


def _stop_pid(pid: int, *, timeout_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_exit(pid, timeout_s):
        log.warning("Kafka broker pid %s ignored SIGTERM for %.0f s: SIGKILL", pid, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_exit(pid, 10.0)
    _alive(pid)  # reaps it if it is our child


def _wait_exit(pid: int, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``pid`` to exit; True if it has."""
    child = _children.get(pid)
    if child is not None:
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        _children.pop(pid, None)
        return True
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:  # no pidfd support: poll with a deadline
        deadline = time.monotonic() + timeout_s
        while _alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(max(timeout_s, 0.0) * 1000)  # readable once the process has exited
    finally:
        os.close(fd)
    return not _alive(pid)
