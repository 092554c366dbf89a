"""`make run` past its first minute: the platform started as `make run` starts it
(`python scripts/run_platform.py` with the stack's settings), with a collection every few
seconds, through scheduled runs, a SIGKILLed processor and a stack that goes down and comes back
(`make down`, `make up`), then Ctrl-C; and, with no scheduled run due, a ring sync whose
documents reach the gateway through the simulator's webhooks alone.

Each test has its own state folder (logs, secrets), ports, topic prefix, consumer group and
database; the pause runs against a private Kafka and PostgreSQL started with `localstack.py`, so
the shared stack in `.local/` is never stopped. Every process the platform starts inherits a
marker in its environment, which is how the tests find them (and find none after Ctrl-C)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from schemas.settings import DatabaseSettings, KafkaSettings
from scripts.localstack import CACHE, PG_BIN

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
INTERVAL_S = 3
BACKFILL_DAYS = 10
# Routes compared document by document with what the simulator serves.
ROUTES = {"sleep": "daily_sleep", "activity": "daily_activity", "readiness": "daily_readiness"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def running_with(marker: str) -> dict[int, str]:
    """pid → command line of every live (not zombie) process whose environment holds marker."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


class Platform:
    """`python scripts/run_platform.py` in its own process group, as a terminal runs it."""

    def __init__(self, env: dict[str, str], state: Path) -> None:
        run = uuid.uuid4().hex
        self.marker = f"MYHEALTH_TEST_RUN={run}"
        self.state = state
        self.env = {**env, "MYHEALTH_STATE_DIR": str(state), "MYHEALTH_TEST_RUN": run}
        self.out = state / "terminal.txt"
        state.mkdir(parents=True, exist_ok=True)
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "scripts/run_platform.py"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        self.simulator = f"http://127.0.0.1:{env['SIMULATOR_PORT']}"

    def terminal(self) -> list[str]:
        return self.out.read_text(errors="replace").splitlines()

    def said(self, pattern: str) -> list[re.Match[str]]:
        return [m for line in self.terminal() if (m := re.search(pattern, line))]

    def alive(self) -> None:
        if self.proc.poll() is not None:
            tail = "\n".join(self.terminal()[-30:])
            raise AssertionError(f"the platform exited with {self.proc.returncode}:\n{tail}")

    def wait_for(self, pattern: str, count: int = 1, limit_s: float = 180) -> list[re.Match[str]]:
        deadline = time.monotonic() + limit_s
        while len(found := self.said(pattern)) < count:
            self.alive()
            if time.monotonic() > deadline:
                tail = "\n".join(self.terminal()[-30:])
                missing = f"{pattern!r} not said {count} times in {limit_s:.0f}s"
                raise AssertionError(f"{missing}:\n{tail}")
            time.sleep(0.2)
        return found

    def eventually(self, what: str, probe: Callable[[], Any], limit_s: float = 180) -> Any:
        deadline = time.monotonic() + limit_s
        last: Any = None
        while time.monotonic() < deadline:
            self.alive()
            try:
                last = probe()
            except httpx.HTTPError as exc:
                last = exc
            if last is True:
                return last
            time.sleep(0.5)
        raise AssertionError(f"{what} did not happen within {limit_s:.0f}s (last: {last!r})")

    def processes(self) -> dict[int, str]:
        return running_with(self.marker)

    def pid_of(self, command: str) -> int:
        pids = [pid for pid, cmdline in self.processes().items() if command in cmdline]
        assert len(pids) == 1, (command, self.processes())
        return pids[0]

    def log(self, name: str) -> str:
        return (self.state / "logs" / f"{name}.log").read_text(errors="replace")

    def ctrl_c(self, limit_s: float = 60) -> int:
        """What the terminal does on Ctrl-C: SIGINT to the foreground process group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=limit_s)

    def left_behind(self, limit_s: float = 10) -> dict[int, str]:
        """The platform's processes still alive once they had a moment to finish dying."""
        deadline = time.monotonic() + limit_s
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def kill_leftovers(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid in self.processes():
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def start_platform(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Platform]]:
    started: list[Platform] = []

    def start(stack_env: dict[str, str]) -> Platform:
        env = {
            **os.environ,
            "COLLECT_INTERVAL_S": str(INTERVAL_S),
            "BACKFILL_DAYS": str(BACKFILL_DAYS),
            "SIMULATOR_PORT": str(free_port()),
            "GATEWAY_PORT": str(free_port()),
            "GATEWAY_METRICS_PORT": str(free_port()),
            "PROCESSOR_METRICS_PORT": str(free_port()),
            "WEBHOOKS_METRICS_PORT": str(free_port()),
            # A SIGKILLed worker never leaves its group: its partitions wait this long.
            "PROCESSOR_SESSION_TIMEOUT_S": "10",
            **stack_env,
        }
        platform = Platform(env, tmp_path / "state")
        started.append(platform)
        return platform

    yield start
    for platform in started:
        platform.kill_leftovers()


class Demo:
    """The demo account, through the gateway, next to what the simulator serves for it."""

    def __init__(self, platform: Platform) -> None:
        email, password = platform.wait_for(r"Demo account: (\S+) / (\S+)")[0].groups()
        self.platform = platform
        self.email, self.password = email, password
        self.start = datetime.now(UTC).date() - timedelta(days=BACKFILL_DAYS)

    def _headers(self, client: httpx.Client) -> dict[str, str]:
        login = client.post("/api/login", json={"email": self.email, "password": self.password})
        login.raise_for_status()
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    def served(self) -> dict[str, dict[str, Any]]:
        """Every document of the compared routes the gateway serves, by id."""
        docs: dict[str, dict[str, Any]] = {}
        with httpx.Client(base_url=self.platform.gateway, timeout=10) as client:
            headers = self._headers(client)
            for route in ROUTES:
                params = {"start_date": self.start.isoformat(), "end_date": _today()}
                while True:
                    r = client.get(f"/api/{route}", params=params, headers=headers)
                    r.raise_for_status()
                    body = r.json()
                    docs.update((row["document"]["id"], row["document"]) for row in body["data"])
                    if not body.get("next_token"):
                        break
                    params = {**params, "next_token": body["next_token"]}
        return docs

    def truth(self) -> dict[str, dict[str, Any]]:
        """The same documents as the simulator serves them now."""
        docs: dict[str, dict[str, Any]] = {}
        for data_type in ROUTES.values():
            r = httpx.get(
                f"{self.platform.simulator}/_sim/documents/{data_type}",
                params={"start_date": self.start.isoformat(), "end_date": _today()},
                timeout=10,
            )
            r.raise_for_status()
            docs.update((d["id"], d) for d in r.json()["data"])
        return docs

    def revise(self) -> None:
        """Oura re-processes the last two days: same ids, new content on the next fetch."""
        r = httpx.post(f"{self.platform.simulator}/_sim/revisions", json={}, timeout=10)
        r.raise_for_status()

    def wait_until_served_equals_truth(self) -> None:
        def equal() -> bool | str:
            served, truth = self.served(), self.truth()
            if served == truth:
                return True
            differ = sum(served.get(key) != doc for key, doc in truth.items())
            return f"{differ} of {len(truth)} documents differ"

        self.platform.eventually("the gateway serving what the simulator has", equal)


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_scheduled_runs_and_a_killed_processor_keep_make_run_up_until_ctrl_c(
    start_platform: Callable[[dict[str, str]], Platform],
    db_settings: DatabaseSettings,
    db: asyncpg.Pool,
    topics: KafkaSettings,
) -> None:
    platform = start_platform(
        {
            "DB_NAME": db_settings.name,
            "KAFKA_TOPIC_PREFIX": topics.topic_prefix,
            "PROCESSOR_GROUP_ID": f"run-platform-{topics.topic_prefix}",
        }
    )
    platform.wait_for(r"^myHealth is ready")
    demo = Demo(platform)

    # Three scheduled runs end normally, and the platform stays up.
    platform.wait_for(r"^\[myhealth\] collector-run done: run: \d+ documents", count=3)
    demo.wait_until_served_equals_truth()
    before = demo.truth()

    # SIGKILL the processor, then change what Oura serves: the changes can only reach the
    # database through the processor the supervisor starts in its place.
    killed = platform.pid_of("stream_processor worker")
    os.kill(killed, signal.SIGKILL)
    demo.revise()
    assert demo.truth() != before, "the revision changed nothing to compare"
    platform.wait_for(r"^\[myhealth\] processor died \(killed by SIGKILL\); restarting in 1s")
    restarted = int(platform.wait_for(r"^\[myhealth\] processor restarted \(pid (\d+)\)")[0][1])
    assert restarted != killed and platform.pid_of("stream_processor worker") == restarted
    platform.eventually(
        "the restarted processor logging its start",
        lambda: platform.log("processor").count('"processor started"') == 2,
    )
    demo.wait_until_served_equals_truth()
    runs = len(platform.said(r"collector-run done"))
    platform.wait_for(r"^\[myhealth\] collector-run done", count=runs + 1)
    assert not platform.said(r"^\[myhealth\] (collector-run failed|error:)")

    # Ctrl-C: the platform says so, exits 0, and none of its processes is left.
    assert platform.processes()
    assert platform.ctrl_c() == 0
    assert platform.said(r"^\[myhealth\] all services stopped")
    assert platform.left_behind() == {}


def test_a_ring_sync_reaches_the_gateway_through_webhooks_alone(
    start_platform: Callable[[dict[str, str]], Platform],
    db_settings: DatabaseSettings,
    db: asyncpg.Pool,
    topics: KafkaSettings,
) -> None:
    platform = start_platform(
        {
            "DB_NAME": db_settings.name,
            "KAFKA_TOPIC_PREFIX": topics.topic_prefix,
            "PROCESSOR_GROUP_ID": f"run-platform-{topics.topic_prefix}",
            # No scheduled collection and no timed sync during the test: only the sync below.
            "COLLECT_INTERVAL_S": "3600",
            "SIM_SYNC_EVERY_S": "3600",
        }
    )
    platform.wait_for(r"^myHealth is ready")
    subscribed = platform.said(
        r"^\[myhealth\] subscriptions ensure: (\d+) subscriptions, .* 0 failed"
    )
    assert subscribed and int(subscribed[0][1]) > 0
    demo = Demo(platform)
    demo.wait_until_served_equals_truth()
    before = demo.truth()

    # The demo ring syncs: a new session, today's activity re-counted; one webhook each.
    r = httpx.post(f"{platform.simulator}/_sim/sync", json={"users": ["demo"]}, timeout=10)
    r.raise_for_status()
    changes = r.json()["changes"]
    assert {(c["event_type"], c["data_type"]) for c in changes} >= {("create", "session")}
    assert all(c["deliveries"] == 1 for c in changes), changes
    session_id = next(c["object_id"] for c in changes if c["data_type"] == "session")
    assert demo.truth() != before, "the sync changed nothing to compare"

    def session_served() -> bool | str:
        with httpx.Client(base_url=platform.gateway, timeout=10) as client:
            params = {"start_date": demo.start.isoformat(), "end_date": _today()}
            got = client.get("/api/sessions", params=params, headers=demo._headers(client))
            got.raise_for_status()
            ids = {row["document"]["id"] for row in got.json()["data"]}
            return session_id in ids or f"{len(ids)} sessions, not yet {session_id}"

    platform.eventually("the new session served through the gateway", session_served)
    demo.wait_until_served_equals_truth()  # the revised activity too
    assert not platform.said(r"collector-run"), "a scheduled run happened: not webhooks alone"
    assert "collector webhooks" in " ".join(platform.processes().values())

    assert platform.ctrl_c() == 0
    assert platform.said(r"^\[myhealth\] all services stopped")
    assert platform.left_behind() == {}


# ---------------------------------------------------------------- the laptop pause


class PrivateStack:
    """Kafka and PostgreSQL for one test, started and stopped as `make up` / `make down` do."""

    def __init__(self, state: Path) -> None:
        ports = {
            "LOCAL_KAFKA_PORT": free_port(),
            "LOCAL_KAFKA_CONTROLLER_PORT": free_port(),
            "LOCAL_KAFKA_SCRAM_PORT": free_port(),
            "LOCAL_PG_PORT": free_port(),
        }
        self.state = state
        self.env = {
            **os.environ,
            **{name: str(port) for name, port in ports.items()},
            "MYHEALTH_STATE_DIR": str(state),
            "MYHEALTH_CACHE_DIR": str(CACHE),  # the jars the shared stack already fetched
        }

    def _localstack(self, command: str) -> None:
        result = subprocess.run(
            [sys.executable, "scripts/localstack.py", command],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, f"localstack {command}:\n{result.stdout}{result.stderr}"

    def up(self) -> dict[str, str]:
        self._localstack("up")
        lines = (self.state / "stack.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def down(self) -> None:
        self._localstack("down")


@pytest.fixture
def private_stack() -> Iterator[PrivateStack]:
    if shutil.which("java") is None or not (PG_BIN / "pg_ctl").exists():
        pytest.skip("a private stack needs the local stack's tools (`make deps`)")
    # Not under tmp_path: as root the cluster runs as `postgres`, which must reach its folder,
    # and pytest makes its base folder private again whenever another session starts.
    state = Path(tempfile.mkdtemp(prefix="myhealth-test-stack-"))
    stack = PrivateStack(state)
    try:
        yield stack
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


def test_make_run_survives_the_stack_going_down_and_coming_back(
    private_stack: PrivateStack, start_platform: Callable[[dict[str, str]], Platform]
) -> None:
    platform = start_platform(private_stack.up())
    platform.wait_for(r"^myHealth is ready")
    demo = Demo(platform)
    platform.wait_for(r"^\[myhealth\] collector-run done", count=1)
    gateway = platform.pid_of("-m gateway")

    # `make down` in another terminal: scheduled runs fail, are reported, and keep coming.
    private_stack.down()
    platform.wait_for(r"^\[myhealth\] Kafka \(127\.0\.0\.1:\d+\) does not answer")
    platform.wait_for(r"^\[myhealth\] PostgreSQL \(127\.0\.0\.1:\d+\) does not answer")
    failed = r"^\[myhealth\] collector-run failed \(exit code \d+\): .*cannot connect to"
    platform.wait_for(failed, count=2)
    before = demo.truth()
    demo.revise()  # what only a run after `make up` can bring
    assert demo.truth() != before, "the revision changed nothing to compare"

    # `make up`: the platform was never stopped, and the next runs' data arrives.
    private_stack.up()
    platform.wait_for(r"^\[myhealth\] Kafka \(127\.0\.0\.1:\d+\) answers again")
    platform.wait_for(r"^\[myhealth\] PostgreSQL \(127\.0\.0\.1:\d+\) answers again")
    runs = len(platform.said(r"collector-run done"))
    platform.wait_for(r"^\[myhealth\] collector-run done", count=runs + 1)
    demo.wait_until_served_equals_truth()
    assert platform.pid_of("-m gateway") == gateway, "the gateway was restarted, not reconnected"
    assert not platform.said(r"^\[myhealth\] error:")

    assert platform.ctrl_c() == 0
    assert platform.said(r"^\[myhealth\] all services stopped")
    assert platform.left_behind() == {}
