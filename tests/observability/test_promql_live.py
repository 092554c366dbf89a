"""Every PromQL expression of the dashboards and the alert rules, evaluated by a real Prometheus
(Debian's package) that scrapes the real gateway and stream processor during the test.

Scraped targets:
  gateway    `python -m gateway` on a free port (its /metrics also carries the token-refresh
             families of oura_connection.metrics, since the gateway refreshes tokens too)
  processor  `python -m stream_processor worker` with PROCESSOR_METRICS_PORT, on this test's
             topics; fed a valid, an implausible and a corrupt record
  collector  this test process through collector.metrics.serve_metrics (the collector's own
             function), recording a run through the collector's metric objects and token
             refreshes through oura_connection's: a real run exits before a 1 s scrape can be
             relied on to see it. It also serves the sync-status gauges of gateway.sync_status,
             refreshed from the seeded database, and the webhook subscription gauges of
             collector.webhooks.subscriptions."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from cryptography.fernet import Fernet

from collector import metrics as collector_metrics
from collector.webhooks.subscription_api import Subscription
from collector.webhooks.subscriptions import record_metrics
from gateway.sync_status import refresh_sync_status
from oura_connection import metrics as token_metrics
from schemas.examples import example_document
from schemas.records import RawRecord, encode_raw
from schemas.settings import KafkaSettings
from schemas.topics import raw_topic
from scripts.dashboards import render
from tests.observability.grafana_sql import promql_expressions
from tests.observability.seed import seed_demo
from tests.observability.tools import ROOT, RULES, binary

pytestmark = pytest.mark.slow

# Dashboard expressions allowed to be empty here, each with the reason: a failure the test
# cannot cause without breaking PostgreSQL.
MAY_BE_EMPTY = {
    "myhealth-services.json: Processor database batches: latency and retries [C]": (
        "processor_batch_retries_total counts failed database batches"
    ),
}
RATE_INTERVAL = "20s"
# Names in expressions that are labels, functions or keywords, not metrics.
_NOT_METRICS = {"myhealth_service"}
_METRIC = re.compile(r"\b(up|(?:gateway|processor|collector|oura|myhealth|process)_[a-z0-9_]+)\b")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: process exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.url}/api/v1/metadata", timeout=10).json()["data"]
        return data

    def wait_for(self, expr: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.query(expr):
                return
            time.sleep(1)
        raise AssertionError(f"no series for {expr!r} after {timeout}s")


def _service_env(kafka: KafkaSettings, db_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ENVIRONMENT="development",
        LOG_LEVEL="WARNING",
        DB_NAME=db_name,
        KAFKA_TOPIC_PREFIX=kafka.topic_prefix,
        JWT_SECRET="observability-test-secret-" + "x" * 32,
        TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        OURA_CLIENT_ID="observability-test",
        OURA_CLIENT_SECRET="observability-test-secret",
        PYTHONPATH=str(ROOT),
    )
    return env


def _prometheus_config(targets: dict[str, int]) -> str:
    scrape = [
        {
            "job_name": job,
            "scrape_interval": "1s",
            "static_configs": [
                {"targets": [f"127.0.0.1:{port}"], "labels": {"myhealth_service": job}}
            ],
        }
        for job, port in targets.items()
    ]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": scrape,
    }
    return yaml.safe_dump(config)


async def _feed_processor(kafka: KafkaSettings, user_id: str) -> None:
    """A valid daily_sleep record (persisted, trends), one with an implausible score (stored,
    flagged), one for a user who does not exist (skipped) and a corrupt one (dead letter)."""
    document = example_document("daily_sleep", day=datetime.now(UTC).date(), seed=7)
    record = RawRecord(user_id, "daily_sleep", document, datetime.now(UTC), "/v2/usercollection")
    producer = AIOKafkaProducer(**kafka.client_kwargs())
    await producer.start()
    try:
        topic = raw_topic("daily_sleep", kafka.topic_prefix)
        await producer.send_and_wait(topic, encode_raw(record), key=user_id.encode())
        odd = {**example_document("daily_sleep", day=datetime.now(UTC).date(), seed=8)}
        odd["score"] = 140
        flagged = RawRecord(user_id, "daily_sleep", odd, datetime.now(UTC), "/v2/usercollection")
        await producer.send_and_wait(topic, encode_raw(flagged), key=user_id.encode())
        await producer.send_and_wait(topic, b"not avro at all", key=user_id.encode())
        ghost = str(uuid.uuid4())
        orphan = RawRecord(ghost, "daily_sleep", document, datetime.now(UTC), "/v2/usercollection")
        await producer.send_and_wait(topic, encode_raw(orphan), key=ghost.encode())
    finally:
        await producer.stop()


def _record_collector_run() -> None:
    """What a daily run that partly failed leaves in collector.metrics."""
    m = collector_metrics
    m.RUNS.labels("run", "failed").inc()
    m.DOCUMENTS_PUBLISHED.labels("daily_sleep").inc(3)
    m.DOCUMENTS_QUARANTINED.labels("daily_sleep").inc(1)
    m.OURA_REQUESTS.labels("daily_sleep", "200").inc()
    m.OURA_REQUESTS.labels("sleep", "error").inc()
    m.OURA_REQUEST_SECONDS.labels("daily_sleep").observe(0.2)
    m.WINDOW_FAILURES.labels("sleep").inc()
    token_metrics.TOKEN_REFRESHES.labels("refreshed").inc()
    token_metrics.TOKEN_REFRESH_FAILURES.labels("invalid_grant").inc()
    m.WEBHOOK_EVENTS.labels("create", "fetched").inc()
    m.DOCUMENTS_UNANNOUNCED.labels("daily_sleep").inc()
    # What `subscriptions renew` leaves: one subscription close to expiry, the rest missing.
    soon = Subscription(
        id="sub-1",
        callback_url="http://127.0.0.1:9/webhooks/oura",
        event_type="create",
        data_type="daily_sleep",
        expiration_time=datetime.now(UTC) + timedelta(days=1),
    )
    record_metrics([soon], [("create", "daily_sleep"), ("update", "daily_sleep")])


def _dashboard_expressions() -> list[tuple[str, str]]:
    found = [pair for name, model in render().items() for pair in promql_expressions(name, model)]
    return [
        (where, expr.replace("$__rate_interval", RATE_INTERVAL).replace("$service", ".*"))
        for where, expr in found
    ]


def _rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [(f"rule {r['alert']}", r["expr"]) for g in groups for r in g["rules"]]


def _family(name: str) -> str:
    return re.sub(r"_(bucket|count|sum|total|created)$", "", name)


async def test_every_promql_expression_returns_series(
    db: asyncpg.Pool, topics: KafkaSettings, db_settings: Any, tmp_path: Path
) -> None:
    workdir = tmp_path
    users = await seed_demo(db, days=10)
    await refresh_sync_status(db, min_interval_s=0)
    _record_collector_run()
    ports = {"gateway": _free_port(), "processor": _free_port(), "collector": _free_port()}
    collector_metrics.serve_metrics(ports["collector"])

    env = _service_env(topics, db_settings.name)
    # Kafka unreachable for the gateway only: /ready answers 503, a real 5xx for the error panels.
    api_port = _free_port()
    gateway_env = env | {
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(api_port),
        "GATEWAY_METRICS_PORT": str(ports["gateway"]),
        "GATEWAY_SYNC_STATUS_INTERVAL_S": "1",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{_free_port()}",
    }
    processor_env = env | {
        "PROCESSOR_METRICS_PORT": str(ports["processor"]),
        "PROCESSOR_GROUP_ID": f"observability-{os.getpid()}-{time.time_ns()}",
        "PROCESSOR_LAG_INTERVAL_S": "1",
    }
    prom_port = _free_port()
    config = workdir / "prometheus.yml"
    config.write_text(_prometheus_config(ports))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        gateway_log, processor_log = workdir / "gateway.log", workdir / "processor.log"
        processes.append(
            _start([sys.executable, "-m", "gateway"], gateway_env, workdir, gateway_log)
        )
        (workdir / "processor").mkdir()
        processes.append(
            _start(
                [sys.executable, "-m", "stream_processor", "worker"],
                processor_env,
                workdir / "processor",
                processor_log,
            )
        )
        prom_log = workdir / "prometheus.log"
        processes.append(
            _start(
                [
                    binary("prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                env,
                workdir,
                prom_log,
            )
        )
        gateway = f"http://127.0.0.1:{api_port}"
        _wait_http(f"{gateway}/health", processes[0], gateway_log)
        _wait_http(f"http://127.0.0.1:{ports['processor']}/metrics", processes[1], processor_log)
        _wait_http(f"http://127.0.0.1:{prom_port}/-/ready", processes[2], prom_log)
        prometheus = Prometheus(f"http://127.0.0.1:{prom_port}")

        await _feed_processor(topics, str(users["demo"]))
        async with httpx.AsyncClient(base_url=gateway, timeout=15) as client:
            for _ in range(3):
                for path in ("/health", "/api/no-such-route", "/api/me", "/ready"):
                    await client.get(path)
                await asyncio.sleep(1)

        for expr in (
            'gateway_requests_total{status=~"5.."}',
            "processor_records_persisted_total",
            "processor_records_dead_lettered_total",
            "processor_records_skipped_total",
            "processor_consumer_lag",
            "processor_db_pool_connections_max",
            "collector_runs_total",
            "myhealth_sync_oldest_success_timestamp_seconds",
        ):
            await asyncio.to_thread(prometheus.wait_for, expr)
        await asyncio.sleep(3)  # a few more scrapes, so rate() has samples on both sides

        _check_expressions(prometheus)
    finally:
        for process in reversed(processes):
            _stop(process)


def _check_expressions(prometheus: Prometheus) -> None:
    empty = []
    for where, expr in _dashboard_expressions():
        if not prometheus.query(expr) and where not in MAY_BE_EMPTY:
            empty.append(f"{where}: {expr}")
    assert not empty, "dashboard expressions without series:\n" + "\n".join(empty)

    exported = set(prometheus.metadata())
    unknown = []
    for where, expr in _dashboard_expressions() + _rule_expressions():
        prometheus.query(expr)  # evaluates without error (raises otherwise)
        for name in set(_METRIC.findall(expr)) - _NOT_METRICS:
            if name != "up" and _family(name) not in exported and name not in exported:
                unknown.append(f"{where}: {name}")
    assert not unknown, "metrics no scraped service exports:\n" + "\n".join(sorted(unknown))

    rules = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = {r["name"] for g in rules for r in g["rules"]}
    assert loaded == {name.removeprefix("rule ") for name, _ in _rule_expressions()}
