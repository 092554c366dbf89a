"""End to end, every component real except Oura's cloud (the project's simulator over HTTP):

register → connect through the gateway's OAuth flow → the collector runs → the processor
persists → the gateway serves values equal to the simulator's documents; trends appear on
`oura.trends.daily` and at /api/trends; the dead-letter topic stays empty; every service's
/metrics shows the work.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.fernet import Fernet

from oura_simulator import SimulatorConfig, SimulatorServer
from schemas.data_types import DATA_TYPES
from schemas.records import decode_trend
from schemas.settings import KafkaSettings
from schemas.topics import DLQ, TRENDS, registry
from tests.gateway import web

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
# Gateway route → data type, for the types the simulator serves on a normal day.
ROUTES = {
    "sleep": "daily_sleep",
    "sleep-periods": "sleep",
    "activity": "daily_activity",
    "readiness": "daily_readiness",
    "heartrate": "heartrate",
    "spo2": "daily_spo2",
    "stress": "daily_stress",
    "resilience": "daily_resilience",
    "cardiovascular-age": "daily_cardiovascular_age",
    "vo2-max": "vo2_max",
    "workouts": "workout",
    "sessions": "session",
    "tags": "enhanced_tag",
    "sleep-time": "sleep_time",
    "rest-mode": "rest_mode_period",
    "ring-configuration": "ring_configuration",
    "personal-info": "personal_info",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-4000:]
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


async def _eventually(what: str, probe: Any, procs: list[Process], limit_s: float = 120) -> Any:
    deadline = time.monotonic() + limit_s
    last: Any = None
    while time.monotonic() < deadline:
        for proc in procs:
            proc.alive()
        try:
            last = await probe()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {limit_s:.0f}s (last: {last!r})")


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(users=1, page_size=100, history_days=120)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
async def platform(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    simulator: SimulatorServer,
    tmp_path: Path,
) -> AsyncIterator[dict[str, Any]]:
    ports = {
        name: _free_port() for name in ("gateway", "gateway_metrics", "processor", "collector")
    }
    sim = simulator.base_url
    # Consent redirects only to registered URIs: the gateway's callback, on its port.
    simulator.simulator.config.redirect_uris = (
        f"http://127.0.0.1:{ports['gateway']}/api/callback",
    )
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "INFO",
        "KAFKA_TOPIC_PREFIX": topics.topic_prefix,
        "PROCESSOR_GROUP_ID": f"e2e-{topics.topic_prefix}",
        "PROCESSOR_METRICS_PORT": str(ports["processor"]),
        "GATEWAY_PORT": str(ports["gateway"]),
        "GATEWAY_METRICS_PORT": str(ports["gateway_metrics"]),
        "GATEWAY_HOST": "127.0.0.1",
        "COLLECTOR_METRICS_PORT": str(ports["collector"]),
        "COLLECTOR_METRICS_LINGER_S": "120",
        "COLLECTOR_INITIAL_DAYS": "30",
        "JWT_SECRET": "e2e-" + "x" * 40,
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OURA_CLIENT_ID": simulator.simulator.config.client_id,
        "OURA_CLIENT_SECRET": simulator.simulator.config.client_secret,
        "OURA_API_BASE_URL": sim,
        "OURA_AUTHORIZE_URL": f"{sim}/oauth/authorize",
        "OURA_TOKEN_URL": f"{sim}/oauth/token",
        "OURA_REVOKE_URL": f"{sim}/oauth/revoke",
        "OURA_REDIRECT_URI": f"http://127.0.0.1:{ports['gateway']}/api/callback",
    }
    procs = [
        Process("processor", ["-m", "stream_processor", "worker"], env, tmp_path),
        Process("gateway", ["-m", "gateway"], env, tmp_path),
    ]
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    try:
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:

            async def ready() -> bool:
                return (await client.get("/ready")).status_code == 200

            await _eventually("gateway /ready", ready, procs, limit_s=60)
            yield {"env": env, "procs": procs, "client": client, "ports": ports, "tmp": tmp_path}
    finally:
        for proc in reversed(procs):
            proc.stop()


async def _connect(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = "e2e@example.org"
    r = await client.post("/api/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 202, r.text
    r = await client.post("/api/login", json={"email": email, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    user_id = (await client.get("/api/me", headers=headers)).json()["id"]
    # A browser opens the gateway's connect link, signs in as the same account and goes to the
    # simulator, which approves for its demo account and redirects back to the callback.
    async with httpx.AsyncClient(base_url=client.base_url, timeout=30) as browser:
        oura = await web.authorize(browser, headers, PASSWORD)
        callback = await browser.get("/api/callback", params=await web.consent(oura))
    assert callback.status_code == 200, callback.text
    connection = (await client.get("/api/connection", headers=headers)).json()
    assert connection["status"] == "active", connection
    return user_id, headers


async def _documents(client: httpx.AsyncClient, route: str, headers: dict[str, str],
                     start: str, end: str) -> list[dict[str, Any]]:  # fmt: skip
    docs: list[dict[str, Any]] = []
    params: dict[str, str] = {"start_date": start, "end_date": end}
    while True:
        r = await client.get(f"/api/{route}", params=params, headers=headers)
        assert r.status_code == 200, (route, r.text)
        body = r.json()
        docs.extend(row["document"] for row in body["data"])
        if not body.get("next_token"):
            return docs
        params = {**params, "next_token": body["next_token"]}


async def _topic_records(settings: KafkaSettings, topic: str) -> list[bytes]:
    """Every record of a topic, read from the beginning to the end offsets seen now."""
    consumer = AIOKafkaConsumer(**settings.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        spec = next(t for t in registry(settings.topic_prefix) if t.name == topic)
        partitions = [TopicPartition(topic, p) for p in range(spec.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*partitions, timeout_ms=2000)
            values.extend(m.value for msgs in batch.values() for m in msgs)
        return values
    finally:
        await consumer.stop()


def _metric(text: str, name: str) -> float:
    """Sum of every sample of a metric family in a Prometheus exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_collected_data_flows_through_every_component(
    platform: dict[str, Any], simulator: SimulatorServer, topics: KafkaSettings
) -> None:
    client: httpx.AsyncClient = platform["client"]
    procs: list[Process] = platform["procs"]
    user_id, headers = await _connect(client)

    collector = Process("collector", ["-m", "collector", "run"], platform["env"], platform["tmp"])
    try:
        collector_metrics = f"http://127.0.0.1:{platform['ports']['collector']}/metrics"

        async def collector_done() -> str | None:
            text = (await client.get(collector_metrics)).text
            return text if _metric(text, "collector_runs_total") >= 1 else None

        text = await _eventually("the collector run", collector_done, [*procs, collector])
        assert _metric(text, "collector_documents_published_total") > 0
    finally:
        collector.stop()

    today = datetime.now(UTC).date()
    first = today - timedelta(days=29)
    start, end = first.isoformat(), today.isoformat()
    sim = simulator.simulator
    login = sim.users()[0].login

    for route in ("sleep", "activity", "readiness"):
        data_type = ROUTES[route]
        expected = {d["id"]: d for d in sim.documents(login, data_type, first, today)}
        assert expected, f"the simulator served no {data_type} in the window"

        async def served(route: str = route, n: int = len(expected)) -> list[dict[str, Any]]:
            docs = await _documents(client, route, headers, start, end)
            return docs if len(docs) >= n else []

        docs = await _eventually(f"{route} persisted and served", served, procs)
        assert {d["id"]: d for d in docs} == expected  # field by field, every document

    assert len(ROUTES) == len(DATA_TYPES)
    collected = {r: t for r, t in ROUTES.items() if sim.documents(login, t, first, today)}
    assert len(collected) >= len(ROUTES) - 2, f"the simulator served too few types: {collected}"

    async def every_type_served() -> bool:
        for route in collected:
            r = await client.get(f"/api/{route}", params={"start_date": start}, headers=headers)
            assert r.status_code == 200, (route, r.text)
            if not r.json()["data"]:
                return False
        return True

    await _eventually("every collected type served", every_type_served, procs)

    async def trends_served() -> list[Any]:
        r = await client.get("/api/trends", params={"metric": "daily_sleep.score"}, headers=headers)
        return list(r.json()["data"]) if r.status_code == 200 else []

    assert await _eventually("trends at /api/trends", trends_served, procs)
    trend_bytes = await _topic_records(topics, topics.topic_prefix + TRENDS)
    trend_records = [decode_trend(v) for v in trend_bytes]
    assert any(t["user_id"] == user_id for t in trend_records)
    assert await _topic_records(topics, topics.topic_prefix + DLQ) == []

    metrics_port = platform["ports"]["gateway_metrics"]
    gateway_metrics = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    assert _metric(gateway_metrics, "gateway_requests_total") > 0
    processor_port = platform["ports"]["processor"]
    processor_metrics = (await client.get(f"http://127.0.0.1:{processor_port}/metrics")).text
    assert _metric(processor_metrics, "processor_records_persisted_total") > 0
    assert _metric(processor_metrics, "processor_records_dead_lettered_total") == 0
