"""The local stack without Docker: a real Apache Kafka broker (KRaft, jars from Maven Central)
and a private PostgreSQL 15 cluster, both with their state under `.local/`.

    python scripts/localstack.py up|down|clean|status|env

`up` is idempotent (a running stack is left alone), `down` keeps the data, `clean` removes it.
The test suite imports this module and calls `up()` when no stack is configured, so the tests
and `make up` run the same code.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("MYHEALTH_STATE_DIR", ROOT / ".local"))
# A second stack (a test's, in its own state folder) can share the downloaded Kafka jars.
CACHE = Path(os.environ.get("MYHEALTH_CACHE_DIR", STATE / "cache"))
KAFKA_VERSION = "4.1.1"
POM = ROOT / "scripts" / "kafka" / "pom.xml"
LOG4J = ROOT / "scripts" / "kafka" / "log4j2.properties"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


class StackError(RuntimeError):
    """A problem a person can fix; the message names it."""


@dataclass(frozen=True)
class Ports:
    kafka: int = int(os.environ.get("LOCAL_KAFKA_PORT", "19092"))
    kafka_controller: int = int(os.environ.get("LOCAL_KAFKA_CONTROLLER_PORT", "19093"))
    kafka_scram: int = int(os.environ.get("LOCAL_KAFKA_SCRAM_PORT", "19094"))
    postgres: int = int(os.environ.get("LOCAL_PG_PORT", "55432"))


PORTS = Ports()
DB_USER = "myhealth"
DB_PASSWORD = "myhealth-local"  # local-only cluster bound to 127.0.0.1
DB_NAME = "myhealth"
SCRAM_USER = "myhealth"
SCRAM_PASSWORD = "myhealth-scram-local"


def log(message: str) -> None:
    print(f"[localstack] {message}", flush=True)  # noqa: T201 - a CLI talking to a person


# ---------------------------------------------------------------- helpers


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(f"{tool} is not installed: {hint}")
    return path


def _check_port_free(port: int, what: str) -> None:
    if _port_in_use(port):
        raise StackError(
            f"port {port} is already in use by another program, so {what} cannot start; "
            f"stop that program or choose another port (see README, 'Local stack')"
        )


# ---------------------------------------------------------------- Kafka


def kafka_dir() -> Path:
    return STATE / "kafka"


def _kafka_libs() -> Path:
    libs = CACHE / f"kafka-{KAFKA_VERSION}-libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    _require("java", "install OpenJDK 17 (apt-get install openjdk-17-jre-headless)")
    mvn = _require("mvn", "install Maven (apt-get install maven)")
    log(f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central (once; cached)")
    libs.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-Dkafka.libs={libs}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"Maven could not fetch the Kafka jars:\n{result.stdout}{result.stderr}")
    marker.touch()
    return libs


def _kafka_properties(data: Path) -> str:
    p = PORTS
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{p.kafka_controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{p.kafka},CONTROLLER://127.0.0.1:{p.kafka_controller},"
            f"SASL_PLAINTEXT://127.0.0.1:{p.kafka_scram}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{p.kafka},"
            f"SASL_PLAINTEXT://127.0.0.1:{p.kafka_scram}",
            "inter.broker.listener.name=PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT",
            # The SCRAM listener exercises the same client path as MSK's SASL/SCRAM.
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            f"log.dirs={data}",
            # As on MSK: topics exist only when created from the registry in schemas.topics.
            "auto.create.topics.enable=false",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "num.recovery.threads.per.data.dir=1",
            "log.retention.check.interval.ms=300000",
            "",
        ]
    )


def _java_cmd(libs: Path, logs: Path) -> list[str]:
    heap = os.environ.get("LOCAL_KAFKA_HEAP", "-Xms256m -Xmx768m").split()
    return [
        "java",
        *heap,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={logs}",
        f"-Dlog4j2.configurationFile={LOG4J}",
        "-cp",
        f"{libs}/*",
    ]


def kafka_up() -> None:
    base = kafka_dir()
    pid_file = base / "broker.pid"
    if _pid_alive(pid_file):
        log(f"Kafka already running on 127.0.0.1:{PORTS.kafka}")
        return
    libs = _kafka_libs()
    data, logs = base / "data", base / "logs"
    data.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    for port in (PORTS.kafka, PORTS.kafka_controller, PORTS.kafka_scram):
        _check_port_free(port, "Kafka")
    props = base / "server.properties"
    props.write_text(_kafka_properties(data))
    java = _java_cmd(libs, logs)
    if not (data / "meta.properties").exists():
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        scram = f"SCRAM-SHA-512=[name={SCRAM_USER},password={SCRAM_PASSWORD}]"
        fmt = [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)]
        result = subprocess.run(
            [*fmt, "--add-scram", scram], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
    out = (logs / "broker.out").open("ab")
    proc = subprocess.Popen(
        [*java, "kafka.Kafka", str(props)],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the shell that ran `make up`
    )
    pid_file.write_text(str(proc.pid))
    log(f"Kafka {KAFKA_VERSION} starting (pid {proc.pid}); waiting for a metadata round trip")
    try:
        asyncio.run(wait_kafka_ready(f"127.0.0.1:{PORTS.kafka}", deadline_s=120, proc=proc))
    except Exception:
        kafka_down()
        raise


async def wait_kafka_ready(
    bootstrap: str, deadline_s: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Ready means the broker answered a metadata request, not merely that a port is open."""
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    # Connection refusals are expected while the broker boots; aiokafka logs each one.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    deadline = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = (kafka_dir() / "logs" / "broker.out").read_text(errors="replace")[-3000:]
            raise StackError(f"the Kafka broker exited with code {proc.returncode}:\n{tail}")
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:  # still starting
            last = exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise StackError(f"Kafka at {bootstrap} was not ready after {deadline_s:.0f}s: {last!r}")


def _stop_pid(pid_file: Path, name: str, timeout: float = 60) -> None:
    pid = _pid_alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)  # controlled shutdown flushes the log
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid_file):
        time.sleep(0.2)
    if _pid_alive(pid_file):
        log(f"{name} did not stop in {timeout:.0f}s; killing it")
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def kafka_down() -> None:
    _stop_pid(kafka_dir() / "broker.pid", "Kafka")


# ---------------------------------------------------------------- PostgreSQL


def pg_dir() -> Path:
    return STATE / "postgres"


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: run the cluster as the Debian package's `postgres` user.
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise StackError(
            "running as root but there is no 'postgres' user: apt-get install postgresql-15"
        ) from exc
    return ["runuser", "-u", "postgres", "--", *cmd]


def _pg(cmd: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = PG_BIN / cmd
    if not exe.exists():
        raise StackError(f"{exe} not found: apt-get install postgresql-15 (or set PG_BIN)")
    result = subprocess.run(
        _as_postgres([str(exe), *args]), capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise StackError(f"{cmd} {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def _pg_ready() -> bool:
    data = pg_dir() / "data"
    if not (data / "postmaster.pid").exists():
        return False
    return _pg("pg_ctl", "status", "-D", str(data), check=False).returncode == 0


def postgres_up() -> None:
    base, data = pg_dir(), pg_dir() / "data"
    socket_dir = base / "socket"
    if data.exists() and _pg_ready():
        log(f"PostgreSQL already running on 127.0.0.1:{PORTS.postgres}")
        return
    _check_port_free(PORTS.postgres, "PostgreSQL")
    base.mkdir(parents=True, exist_ok=True)
    socket_dir.mkdir(exist_ok=True)
    fresh = not (data / "PG_VERSION").exists()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(socket_dir, "postgres", "postgres")
        # The postgres user must be able to reach the folder inside a root-owned checkout.
        for parent in [STATE, *STATE.parents]:
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o011)
    if fresh:
        _pg("initdb", "-D", str(data), "-U", "postgres", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
    options = (
        f"-p {PORTS.postgres} -c listen_addresses=127.0.0.1 -k {socket_dir} "
        "-c shared_buffers=256MB -c max_connections=200 -c fsync=on "
        "-c default_toast_compression=lz4"
    )
    _pg("pg_ctl", "start", "-w", "-t", "60", "-D", str(data), "-o", options,
        "-l", str(base / "postgres.log"))  # fmt: skip
    if fresh:
        _bootstrap_database(socket_dir)
    log(f"PostgreSQL 15 ready on 127.0.0.1:{PORTS.postgres}")


def _psql(socket_dir: Path, sql: str, db: str = "postgres") -> None:
    _pg("psql", "-h", str(socket_dir), "-p", str(PORTS.postgres), "-U", "postgres", "-d", db,
        "-v", "ON_ERROR_STOP=1", "-c", sql)  # fmt: skip


def _bootstrap_database(socket_dir: Path) -> None:
    _psql(socket_dir, f"CREATE ROLE {DB_USER} LOGIN CREATEDB PASSWORD '{DB_PASSWORD}'")
    _psql(socket_dir, f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
    # Grafana reads through a role that can only SELECT (granted by the migrations).
    _psql(socket_dir, "CREATE ROLE grafana_reader LOGIN PASSWORD 'grafana-local'")


def postgres_down() -> None:
    data = pg_dir() / "data"
    if data.exists() and _pg_ready():
        _pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(data))


# ---------------------------------------------------------------- the stack


def stack_env() -> dict[str, str]:
    """Connection settings as the services read them (see each service's settings)."""
    return {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(PORTS.postgres),
        "DB_USER": DB_USER,
        "DB_PASSWORD": DB_PASSWORD,
        "DB_NAME": DB_NAME,
        "SSL_MODE": "disable",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{PORTS.kafka}",
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "KAFKA_REPLICATION_FACTOR": "1",
        "LOCAL_KAFKA_SCRAM_BOOTSTRAP": f"127.0.0.1:{PORTS.kafka_scram}",
        "LOCAL_KAFKA_SCRAM_USERNAME": SCRAM_USER,
        "LOCAL_KAFKA_SCRAM_PASSWORD": SCRAM_PASSWORD,
    }


def write_env_file() -> Path:
    path = STATE / "stack.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in stack_env().items()))
    return path


def create_topics() -> None:
    sys.path.insert(0, str(ROOT))
    from schemas.settings import KafkaSettings
    from schemas.topics import ensure_topics

    settings = KafkaSettings(bootstrap_servers=stack_env()["KAFKA_BOOTSTRAP_SERVERS"])
    created = asyncio.run(ensure_topics(settings))
    log(f"topics ready ({len(created)} created)")


def up() -> dict[str, str]:
    started = time.monotonic()
    STATE.mkdir(parents=True, exist_ok=True)
    postgres_up()
    kafka_up()
    create_topics()
    env_file = write_env_file()
    log(f"stack ready in {time.monotonic() - started:.1f}s; settings in {env_file}")
    return stack_env()


def down() -> None:
    kafka_down()
    postgres_down()
    log("stack stopped (data kept; `make clean` removes it)")


def clean() -> None:
    down()
    for path in (kafka_dir(), pg_dir(), STATE / "stack.env"):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    log("local data removed")


def status() -> int:
    kafka = _pid_alive(kafka_dir() / "broker.pid")
    pg = (pg_dir() / "data").exists() and _pg_ready()
    kafka_state = f"running (pid {kafka})" if kafka else "stopped"
    log(f"Kafka: {kafka_state}; PostgreSQL: {'running' if pg else 'stopped'}")
    return 0 if kafka and pg else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "clean", "status", "env"])
    command = parser.parse_args().command
    try:
        if command == "up":
            up()
        elif command == "down":
            down()
        elif command == "clean":
            clean()
        elif command == "env":
            for key, value in stack_env().items():
                print(f"{key}={value}")  # noqa: T201
        else:
            return status()
    except StackError as exc:
        log(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
