"""The supervisor behind `make run`, with real child processes: services are restarted with
growing delays and given up on with a clear message, scheduled jobs end normally or are reported
and run again, a dependency that is down is waited for, and stopping leaves no process."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scripts.supervisor import Dependency, Failure, RestartPolicy, Supervisor

PY = sys.executable
SLEEPER = [PY, "-c", "import time; time.sleep(600)"]


class Terminal:
    """What the supervisor says to the person, in order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, message: str) -> None:
        self.lines.append(message)

    def matching(self, pattern: str) -> list[re.Match[str]]:
        return [m for line in self.lines if (m := re.search(pattern, line))]


@pytest.fixture
def terminal() -> Terminal:
    return Terminal()


@pytest.fixture
def make_supervisor(tmp_path: Path, terminal: Terminal) -> Iterator[Callable[..., Supervisor]]:
    made: list[Supervisor] = []

    def make(**kwargs: object) -> Supervisor:
        supervisor = Supervisor(
            cwd=tmp_path, logs=tmp_path / "logs", say=terminal, probe_every_s=0, **kwargs
        )
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        supervisor.stop(grace_s=2)


def tick_until(supervisor: Supervisor, done: Callable[[], bool], limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, "the supervisor did not get there in time"
        supervisor.tick()
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_dying_service_is_restarted_with_doubling_delays_then_given_up_on(
    make_supervisor: Callable[..., Supervisor], terminal: Terminal
) -> None:
    policy = RestartPolicy(first_delay_s=0.1, max_delay_s=0.2, max_deaths=4, window_s=60)
    supervisor = make_supervisor(policy=policy)
    crash = [PY, "-c", "import sys; print('worker: cannot go on', flush=True); sys.exit(3)"]
    supervisor.start_service("worker", crash, dict(os.environ))
    pids = set()

    def gave_up() -> bool:
        if (proc := supervisor.services["worker"].proc) is not None:
            pids.add(proc.pid)
        return False

    with pytest.raises(Failure) as failure:
        tick_until(supervisor, gave_up)

    died = terminal.matching(r"^worker died \(exit code 3\); restarting in (\S+)s")
    delays = [m[1] for m in died]
    assert delays == ["0.1", "0.2", "0.2"]
    assert len(terminal.matching(r"^worker restarted \(pid \d+\)")) == 3
    assert len(pids) == 4
    message = str(failure.value)
    assert "worker died 4 times within 60s" in message
    assert "exit code 3" in message and "worker: cannot go on" in message
    assert str(supervisor.log_path("worker")) in message


def test_deaths_older_than_the_window_are_forgiven(
    make_supervisor: Callable[..., Supervisor], terminal: Terminal
) -> None:
    policy = RestartPolicy(first_delay_s=0.05, max_delay_s=0.05, max_deaths=2, window_s=0.5)
    supervisor = make_supervisor(policy=policy)
    supervisor.start_service("worker", SLEEPER, dict(os.environ))
    for death in range(1, 4):
        proc = supervisor.services["worker"].proc
        assert proc is not None
        proc.kill()
        proc.wait()
        if death > 1:
            time.sleep(0.6)  # past the window: the earlier death no longer counts

        def restarted(n: int = death) -> bool:
            return len(terminal.matching(r"^worker restarted")) == n

        tick_until(supervisor, restarted)
    assert len(terminal.matching(r"^worker died \(killed by SIGKILL\)")) == 3


def test_a_scheduled_job_ends_normally_and_a_failed_run_is_reported_and_followed(
    make_supervisor: Callable[..., Supervisor], terminal: Terminal, tmp_path: Path
) -> None:
    counter = tmp_path / "runs"
    job = (
        "import json, pathlib, sys\n"
        f"path = pathlib.Path({str(counter)!r})\n"
        "n = int(path.read_text()) + 1 if path.exists() else 1\n"
        "path.write_text(str(n))\n"
        "print(json.dumps({'msg': 'a log line, not for the terminal'}), file=sys.stderr)\n"
        "if n == 2:\n"
        "    print('run: 0 documents from 1 users, 1 failed')\n"
        "    print('FAILED: demo daily_sleep: 503')\n"
        "    sys.exit(1)\n"
        "print(f'run: {n} documents from 1 users, 0 failed')\n"
    )
    supervisor = make_supervisor()
    supervisor.start_service("keeper", SLEEPER, dict(os.environ))
    supervisor.schedule("collector-run", [PY, "-c", job], dict(os.environ), every_s=0.2)

    def three_reported() -> bool:
        return len(terminal.matching(r"^collector-run (done|failed)")) == 3

    tick_until(supervisor, three_reported)

    reports = [line for line in terminal.lines if line.startswith("collector-run")]
    assert reports[0] == "collector-run done: run: 1 documents from 1 users, 0 failed"
    assert reports[1].startswith(
        "collector-run failed (exit code 1): run: 0 documents from 1 users, 1 failed"
        " | FAILED: demo daily_sleep: 503; next run in 0.2s; see "
    )
    assert reports[2] == "collector-run done: run: 3 documents from 1 users, 0 failed"
    keeper = supervisor.services["keeper"].proc
    assert keeper is not None and keeper.poll() is None
    assert not terminal.matching("keeper")


def test_runs_of_a_job_never_overlap(
    make_supervisor: Callable[..., Supervisor], terminal: Terminal
) -> None:
    supervisor = make_supervisor()
    slow = [PY, "-c", "import time; time.sleep(0.6); print('run: done')"]
    supervisor.schedule("collector-run", slow, dict(os.environ), every_s=0.2)
    tick_until(supervisor, lambda: bool(terminal.matching(r"^collector-run done")))
    assert terminal.matching(r"^collector-run: the previous run is still going; skipping")


class Listener:
    """A TCP port that answers or not, standing in for Kafka or PostgreSQL."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.port = 0
        self.open()

    def open(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        assert self.sock is not None
        self.sock.close()
        self.sock = None


def test_a_service_that_dies_while_the_stack_is_down_waits_for_it_uncounted(
    make_supervisor: Callable[..., Supervisor], terminal: Terminal
) -> None:
    stack = Listener()
    try:
        # One counted death would end the platform: the deaths below must not count.
        policy = RestartPolicy(first_delay_s=0.05, max_deaths=1)
        needs = [Dependency("Kafka", (("127.0.0.1", stack.port),))]
        supervisor = make_supervisor(policy=policy, needs=needs)
        supervisor.start_service("processor", SLEEPER, dict(os.environ))
        supervisor.tick()
        first = supervisor.services["processor"].proc
        assert first is not None

        stack.close()
        first.send_signal(signal.SIGKILL)
        first.wait()
        tick_until(supervisor, lambda: bool(terminal.matching("while Kafka is down")))
        for _ in range(20):
            supervisor.tick()
            time.sleep(0.02)
        assert supervisor.services["processor"].proc is None
        assert terminal.matching(rf"^Kafka \(127.0.0.1:{stack.port}\) does not answer")

        stack.open()
        tick_until(supervisor, lambda: supervisor.services["processor"].proc is not None)
        assert terminal.matching(rf"^Kafka \(127.0.0.1:{stack.port}\) answers again")
        assert terminal.matching(r"^processor restarted \(pid \d+\)")
        assert not supervisor.services["processor"].deaths
    finally:
        if stack.sock is not None:
            stack.close()


def test_stop_ends_services_jobs_and_their_children(
    make_supervisor: Callable[..., Supervisor], tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    spawner = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"with open({str(pids)!r}, 'a') as f: f.write(f'{{os.getpid()}} {{child.pid}}\\n')\n"
        "time.sleep(600)\n"
    )
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    supervisor = make_supervisor()
    supervisor.start_service("gateway", [PY, "-c", spawner], dict(os.environ))
    supervisor.start_service("stubborn", [PY, "-c", stubborn], dict(os.environ))
    supervisor.schedule("collector-run", [PY, "-c", spawner], dict(os.environ), every_s=0.05)

    def both_spawned() -> bool:
        return pids.exists() and len(pids.read_text().splitlines()) == 2

    tick_until(supervisor, both_spawned)
    spawned = [int(pid) for line in pids.read_text().splitlines() for pid in line.split()]
    stubborn_proc = supervisor.services["stubborn"].proc
    assert stubborn_proc is not None
    spawned.append(stubborn_proc.pid)
    assert all(alive(pid) for pid in spawned)

    supervisor.stop(grace_s=1)

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in spawned) and time.monotonic() < deadline:
        time.sleep(0.05)  # orphaned grandchildren are reaped by init, a moment later
    assert [pid for pid in spawned if alive(pid)] == []
