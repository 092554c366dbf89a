"""Supervision for `make run`: long-running services and scheduled jobs, told apart.

- A *service* (the simulator, the processor, the gateway) runs until Ctrl-C, so any exit is a
  death. It is restarted after a delay that doubles from `first_delay_s` up to `max_delay_s`;
  after `max_deaths` deaths within `window_s` the supervisor gives up with a message that names
  the service, its last exit and its log.
- A *job* (the collector run) starts on a schedule and exits: exit 0 is its normal end. A failed
  run is reported with the summary it printed, and the next run happens all the same.
- Services need the stack (Kafka, PostgreSQL). One that dies while a dependency does not answer
  (`make down`, a laptop pause) is not counted against it: it is restarted once the dependency
  answers again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Say = Callable[[str], None]
Popen = subprocess.Popen[bytes]


class Failure(RuntimeError):
    """Something the person has to look at; the message says where."""


@dataclass(frozen=True)
class RestartPolicy:
    """Restart delays double from `first_delay_s` up to `max_delay_s`; the `max_deaths`-th death
    within `window_s` is the last."""

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_deaths: int = 5
    window_s: float = 600.0

    def delay(self, deaths: int) -> float:
        """The wait before restarting a service that died `deaths` times within the window."""
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** max(0, deaths - 1)))


@dataclass(frozen=True)
class Dependency:
    """Something services need, reachable when any of its addresses accepts a connection."""

    name: str
    addresses: tuple[tuple[str, int], ...]

    def reachable(self) -> bool:
        for host, port in self.addresses:
            try:
                with socket.create_connection((host, port), timeout=1):
                    return True
            except OSError:
                continue
        return False

    def __str__(self) -> str:
        return f"{self.name} ({', '.join(f'{h}:{p}' for h, p in self.addresses)})"


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Service:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str]
    proc: Popen | None = None
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None


@dataclass
class Job:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str]
    every_s: float
    next_at: float
    proc: Popen | None = None
    log_offset: int = 0


class Supervisor:
    """The processes `make run` started: services kept alive, jobs run on schedule, all
    stopped together."""

    def __init__(
        self,
        *,
        cwd: Path,
        logs: Path,
        say: Say,
        policy: RestartPolicy | None = None,
        needs: Sequence[Dependency] = (),
        probe_every_s: float = 2.0,
    ) -> None:
        self.cwd = cwd
        self.logs = logs
        self.say = say
        self.policy = policy or RestartPolicy()
        self.needs = tuple(needs)
        self.probe_every_s = probe_every_s
        self.services: dict[str, Service] = {}
        self.jobs: dict[str, Job] = {}
        self._down: set[str] = set()
        self._probed_at = float("-inf")
        logs.mkdir(parents=True, exist_ok=True)

    def log_path(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    # ------------------------------------------------------------------ starting

    def _launch(self, name: str, argv: Sequence[str], env: dict[str, str]) -> Popen:
        with self.log_path(name).open("ab") as log:
            return subprocess.Popen(
                list(argv),
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
            )

    def start_service(self, name: str, argv: Sequence[str], env: dict[str, str]) -> None:
        service = Service(name, tuple(argv), env)
        service.proc = self._launch(name, argv, env)
        self.services[name] = service

    def schedule(self, name: str, argv: Sequence[str], env: dict[str, str], every_s: float) -> None:
        """Run `argv` every `every_s` seconds, the first time `every_s` from now."""
        self.jobs[name] = Job(name, tuple(argv), env, every_s, time.monotonic() + every_s)

    # ------------------------------------------------------------------ watching

    def require_running(self) -> None:
        """While the platform starts, a death is a mistake to show, not to retry."""
        for service in self.services.values():
            if service.proc is not None and service.proc.poll() is not None:
                how = describe_exit(service.proc.returncode)
                log = self.log_path(service.name)
                raise Failure(f"{service.name} stopped while starting ({how}); see {log}")

    def tick(self) -> None:
        """One round of supervision; raises Failure when a service keeps dying."""
        now = time.monotonic()
        self._probe(now)
        for service in self.services.values():
            self._watch(service, now)
        for job in self.jobs.values():
            self._run_job(job, now)

    def _probe(self, now: float, force: bool = False) -> None:
        if not force and now - self._probed_at < self.probe_every_s:
            return
        self._probed_at = now
        for dependency in self.needs:
            up = dependency.reachable()
            if not up and dependency.name not in self._down:
                self._down.add(dependency.name)
                self.say(f"{dependency} does not answer; services wait for it")
            elif up and dependency.name in self._down:
                self._down.discard(dependency.name)
                self.say(f"{dependency} answers again")

    def _watch(self, service: Service, now: float) -> None:
        if service.proc is not None:
            if service.proc.poll() is None:
                return
            self._on_death(service, service.proc.returncode, now)
            service.proc = None
        if service.restart_at is not None and now >= service.restart_at and not self._down:
            service.proc = self._launch(service.name, service.argv, service.env)
            service.restart_at = None
            self.say(f"{service.name} restarted (pid {service.proc.pid})")

    def _on_death(self, service: Service, code: int, now: float) -> None:
        how = describe_exit(code)
        self._probe(now, force=True)
        if self._down:
            service.restart_at = now
            waiting = ", ".join(sorted(self._down))
            self.say(f"{service.name} stopped ({how}) while {waiting} is down; it restarts after")
            return
        service.deaths.append(now)
        while service.deaths and now - service.deaths[0] > self.policy.window_s:
            service.deaths.popleft()
        log = self.log_path(service.name)
        if len(service.deaths) >= self.policy.max_deaths:
            raise Failure(
                f"{service.name} died {len(service.deaths)} times within "
                f"{self.policy.window_s:g}s (last: {how}; last line: {_last_line(log)!r}); "
                f"see {log}"
            )
        delay = self.policy.delay(len(service.deaths))
        service.restart_at = now + delay
        self.say(f"{service.name} died ({how}); restarting in {delay:g}s; see {log}")

    def _run_job(self, job: Job, now: float) -> None:
        if job.proc is not None and job.proc.poll() is not None:
            self._report(job, job.proc.returncode)
            job.proc = None
        if now < job.next_at:
            return
        job.next_at = now + job.every_s
        if job.proc is not None:
            # As the Kubernetes CronJob (concurrencyPolicy: Forbid): runs never overlap.
            self.say(f"{job.name}: the previous run is still going; skipping this one")
            return
        log = self.log_path(job.name)
        job.log_offset = log.stat().st_size if log.exists() else 0
        job.proc = self._launch(job.name, job.argv, job.env)

    def _report(self, job: Job, code: int) -> None:
        summary = _summary(self.log_path(job.name), job.log_offset)
        if code == 0:
            self.say(f"{job.name} done: {summary or 'ok'}")
            return
        self.say(
            f"{job.name} failed ({describe_exit(code)}): {summary or 'no summary'}; "
            f"next run in {job.every_s:g}s; see {self.log_path(job.name)}"
        )

    # ------------------------------------------------------------------ stopping

    def stop(self, grace_s: float = 20.0) -> None:
        running = [s.proc for s in self.services.values()] + [j.proc for j in self.jobs.values()]
        procs = [proc for proc in running if proc is not None]
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _read_from(path: Path, offset: int) -> list[str]:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def _summary(path: Path, offset: int, max_lines: int = 5) -> str:
    """What a run printed for people: its lines that are not JSON log lines."""
    lines = [line for line in _read_from(path, offset) if line.strip() and line[0] != "{"]
    shown = " | ".join(lines[:max_lines])
    return shown + (f" | (+{len(lines) - max_lines} lines)" if len(lines) > max_lines else "")


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            lines = log.read().decode(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1][:300] if lines else ""
