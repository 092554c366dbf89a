"""Webhook freshness: from a ring sync at the simulator (a new document created) to that document
visible through the gateway's API, with nothing but webhooks to bring it.

    python benchmarks/bench_webhooks.py [--users 100] [--rate 5] [--seconds 30]

Runs, each as its own process, on private topics and a private database: the Oura simulator
(100 users, deliveries without Oura's ~30 s delay), the gateway with its webhook receiver, the
webhook fetcher (`python -m collector webhooks`) and the stream processor worker. The users are
connected (tokens from the simulator, Oura user ids stored as the connect flow stores them) and
the app subscribed with `subscriptions ensure`; no scheduled collection runs. Then the users'
rings sync at a steady rate (`POST /_sim/sync`, one new session per sync, round robin), and a
poller asks the gateway for each user's sessions until each new one appears.

freshness = first seen through the gateway minus the moment the sync was requested: Oura's
delivery delay aside, everything a webhook-driven document goes through (signed delivery,
receiver, oura.webhook.events, fetch from the single-document route, raw topic, processor,
PostgreSQL, gateway query). Reports p50, p95 and max into benchmarks/results.json.
Goal: webhook_freshness_p95_ms <= 1,500 on the project's 2-core machine."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from _shared import (  # noqa: E402
    RESULTS,
    free_port,
    merge_results,
    recreate_database,
    start_module,
    stop,
)
from cryptography.fernet import Fernet  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from collector.settings import CollectorSettings  # noqa: E402
from collector.webhooks.subscription_api import SubscriptionApi  # noqa: E402
from collector.webhooks.subscriptions import Subscriptions  # noqa: E402
from gateway.security.passwords import Passwords  # noqa: E402
from oura_connection import OuraOAuthClient, TokenCipher, TokenGrant, store_grant  # noqa: E402
from schemas.settings import DatabaseSettings, KafkaSettings  # noqa: E402
from schemas.topics import delete_topics, ensure_topics, registry  # noqa: E402

BENCH_DB = "myhealth_bench_webhooks"
GOAL_P95_MS = 1500.0
PASSWORD = "webhook-bench-" + secrets.token_urlsafe(12)
CLIENT_ID, CLIENT_SECRET = "simulator-client", "simulator-secret"
LOGS = ROOT / "benchmarks" / "out"


async def _wait_http(url: str, procs: dict[str, subprocess.Popen[bytes]], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            dead = [name for name, proc in procs.items() if proc.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited (see {LOGS}/webhooks-*.log)")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {limit_s:.0f}s")


class Platform:
    """The four processes and what the benchmark needs to talk to them."""

    def __init__(self, db: DatabaseSettings, kafka: KafkaSettings) -> None:
        self.db, self.kafka = db, kafka
        self.sim = f"http://127.0.0.1:{free_port()}"
        self.gateway = f"http://127.0.0.1:{free_port()}"
        self.key = Fernet.generate_key().decode()
        self.verification = secrets.token_urlsafe(24)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "ENVIRONMENT": "development",
            "LOG_LEVEL": "WARNING",
            "DB_NAME": self.db.name,
            "KAFKA_TOPIC_PREFIX": self.kafka.topic_prefix,
            "TOKEN_ENCRYPTION_KEYS": self.key,
            "JWT_SECRET": "webhook-bench-" + secrets.token_urlsafe(32),
            "OURA_CLIENT_ID": CLIENT_ID,
            "OURA_CLIENT_SECRET": CLIENT_SECRET,
            "OURA_API_BASE_URL": self.sim,
            "OURA_TOKEN_URL": f"{self.sim}/oauth/token",
            "OURA_REVOKE_URL": f"{self.sim}/oauth/revoke",
            "OURA_WEBHOOK_VERIFICATION_TOKEN": self.verification,
            "OURA_WEBHOOK_CALLBACK_URL": f"{self.gateway}/webhooks/oura",
        }

    def collector_settings(self) -> CollectorSettings:
        return CollectorSettings(
            oura_client_id=CLIENT_ID,
            oura_client_secret=SecretStr(CLIENT_SECRET),
            oura_api_base_url=self.sim,
            oura_token_url=f"{self.sim}/oauth/token",
            token_encryption_keys=SecretStr(self.key),
            collector_metrics_port=0,
            oura_webhook_callback_url=f"{self.gateway}/webhooks/oura",
            oura_webhook_verification_token=SecretStr(self.verification),
        )

    async def start(self, users: int) -> None:
        env = self.env()
        sim_port, gw_port = self.sim.rsplit(":", 1)[1], self.gateway.rsplit(":", 1)[1]
        self.procs["simulator"] = start_module(
            "webhooks-simulator",
            ["oura_simulator", "--port", sim_port, "--users", str(users)],
            env | {"OURA_REDIRECT_URI": f"{self.gateway}/api/callback"},
            LOGS,
        )
        self.procs["gateway"] = start_module(
            "webhooks-gateway",
            ["gateway"],
            env
            | {
                "GATEWAY_PORT": gw_port,
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_METRICS_PORT": "0",
                # Every benchmark user signs in from this one address.
                "GATEWAY_LOGIN_BUDGET_ADDRESS": "100000",
            },
            LOGS,
        )
        self.procs["processor"] = start_module(
            "webhooks-processor",
            ["stream_processor", "worker"],
            env
            | {
                "PROCESSOR_GROUP_ID": f"bench-processor-{self.kafka.topic_prefix}",
                "PROCESSOR_METRICS_PORT": str(free_port()),
            },
            LOGS,
        )
        self.procs["fetcher"] = start_module(
            "webhooks-fetcher",
            ["collector", "webhooks"],
            env
            | {
                "COLLECTOR_METRICS_PORT": "0",
                "COLLECTOR_WEBHOOK_GROUP_ID": f"bench-fetcher-{self.kafka.topic_prefix}",
            },
            LOGS,
        )
        await _wait_http(f"{self.sim}/_sim/stats", self.procs, 60)
        await _wait_http(f"{self.gateway}/ready", self.procs, 60)

    def stop(self) -> None:
        for proc in self.procs.values():
            stop(proc)


async def _connect(platform: Platform, pool: asyncpg.Pool, count: int) -> dict[str, str]:
    """Platform accounts connected to the simulator's users, as the connect flow leaves them
    (Oura user id included); login → platform user id."""
    logins = ["demo", *(f"demo{i}" for i in range(2, count + 1))]
    cipher = TokenCipher.from_keys(platform.key)
    password_hash = await Passwords().hash(PASSWORD)
    users: dict[str, str] = {}
    async with httpx.AsyncClient() as http, OuraOAuthClient(platform.collector_settings()) as oauth:
        for login in logins:
            body = (await http.post(f"{platform.sim}/_sim/tokens", json={"user": login})).json()
            user_id = await pool.fetchval(
                "INSERT INTO users (email, password_hash) VALUES ($1, $2) RETURNING id",
                f"{login}@bench.example",
                password_hash,
            )
            grant = TokenGrant(
                body["access_token"],
                body["refresh_token"],
                datetime.now(UTC) + timedelta(seconds=body["expires_in"]),
                body["scope"].split(),
            )
            oura_id = await oauth.oura_user_id(grant.access_token)
            await store_grant(pool, user_id, grant, cipher, oura_user_id=oura_id)
            users[login] = str(user_id)
    return users


async def _sign_in(gateway: str, logins: list[str]) -> dict[str, dict[str, str]]:
    """Bearer headers per login (bcrypt: the gateway takes two at a time)."""
    headers: dict[str, dict[str, str]] = {}
    slots = asyncio.Semaphore(2)
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:

        async def one(login: str) -> None:
            async with slots:
                r = await client.post(
                    "/api/login", json={"email": f"{login}@bench.example", "password": PASSWORD}
                )
                r.raise_for_status()
                headers[login] = {"Authorization": f"Bearer {r.json()['access_token']}"}

        await asyncio.gather(*(one(login) for login in logins))
    return headers


async def _subscribe(platform: Platform) -> int:
    settings = platform.collector_settings()
    async with SubscriptionApi(settings) as api:
        outcome = await Subscriptions(api, settings).ensure()
    if outcome.failures:
        raise RuntimeError(f"subscriptions ensure failed: {outcome.failures[0]}")
    return len(outcome.subscriptions)


class Measurement:
    """Syncs at a steady rate and a poller noting when each new session is first served."""

    def __init__(self, platform: Platform, headers: dict[str, dict[str, str]]) -> None:
        self.platform = platform
        self.headers = headers
        self.synced: dict[str, tuple[str, float]] = {}  # session id → (login, requested at)
        self.seen: dict[str, float] = {}
        today = datetime.now(UTC).date()
        self.window: dict[str, str | int] = {
            "start_date": (today - timedelta(days=2)).isoformat(),
            "end_date": (today + timedelta(days=2)).isoformat(),
            "limit": 500,
        }

    async def sync(self, sim: httpx.AsyncClient, login: str) -> str:
        requested = time.monotonic()
        r = await sim.post("/_sim/sync", json={"users": [login], "data_types": ["session"]})
        r.raise_for_status()
        (change,) = r.json()["changes"]
        if change["deliveries"] != 1:
            raise RuntimeError(f"the sync of {login} was delivered to {change['deliveries']}")
        self.synced[change["object_id"]] = (login, requested)
        return str(change["object_id"])

    async def poll(self, gateway: httpx.AsyncClient, done: asyncio.Event) -> None:
        while not (done.is_set() and self.synced.keys() <= self.seen.keys()):
            pending = {login for sid, (login, _) in self.synced.items() if sid not in self.seen}
            await asyncio.gather(*(self._poll_user(gateway, login) for login in pending))
            await asyncio.sleep(0.02)

    async def _poll_user(self, gateway: httpx.AsyncClient, login: str) -> None:
        r = await gateway.get("/api/sessions", params=self.window, headers=self.headers[login])
        r.raise_for_status()
        now = time.monotonic()
        for row in r.json()["data"]:
            if row["document"]["id"] in self.synced:
                self.seen.setdefault(row["document"]["id"], now)

    async def run(self, logins: list[str], rate: float, seconds: float) -> list[float]:
        done = asyncio.Event()
        async with (
            httpx.AsyncClient(base_url=self.platform.sim, timeout=10) as sim,
            httpx.AsyncClient(base_url=self.platform.gateway, timeout=10) as gateway,
        ):
            poller = asyncio.create_task(self.poll(gateway, done))
            try:
                # Warm-up, not measured: the first delivery meets cold connections and caches.
                warm = await self.sync(sim, logins[0])
                await self._wait_seen(warm, poller, 60)
                del self.synced[warm], self.seen[warm]
                total = int(rate * seconds)
                started = time.monotonic()
                for i in range(total):
                    await self.sync(sim, logins[i % len(logins)])
                    await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
                done.set()
                await asyncio.wait_for(poller, timeout=120)
            finally:
                poller.cancel()
        return [(self.seen[sid] - at) * 1000 for sid, (_, at) in self.synced.items()]

    async def _wait_seen(self, session_id: str, poller: asyncio.Task[None], limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while session_id not in self.seen:
            if poller.done():
                poller.result()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the warm-up session was not served within {limit_s:.0f}s")
            await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    LOGS.mkdir(parents=True, exist_ok=True)
    db = await recreate_database(DatabaseSettings(), BENCH_DB)
    prefix = f"hook{uuid.uuid4().hex[:6]}."
    kafka = KafkaSettings().model_copy(update={"topic_prefix": prefix})
    await ensure_topics(kafka, registry(prefix))
    platform = Platform(db, kafka)
    pool = await asyncpg.create_pool(**db.asyncpg_kwargs(), min_size=1, max_size=4)
    try:
        await platform.start(args.users)
        users = await _connect(platform, pool, args.users)
        subscriptions = await _subscribe(platform)
        headers = await _sign_in(platform.gateway, list(users))
        latencies = await Measurement(platform, headers).run(list(users), args.rate, args.seconds)
    finally:
        platform.stop()
        await pool.close()
        await delete_topics(kafka, [s.name for s in registry(prefix)])
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    return {
        "webhook_freshness_p50_ms": round(statistics.median(latencies), 1),
        "webhook_freshness_p95_ms": round(p95, 1),
        "webhook_freshness_max_ms": round(latencies[-1], 1),
        "webhook_freshness_documents": len(latencies),
        "webhook_freshness_users": args.users,
        "webhook_freshness_subscriptions": subscriptions,
        "webhook_freshness_syncs_per_s": args.rate,
        "webhook_freshness_goal_p95_ms": GOAL_P95_MS,
        "webhook_freshness_pass": p95 <= GOAL_P95_MS,
        "webhook_freshness_error": None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="ring syncs per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    try:
        figures = asyncio.run(run(args))
    except Exception as exc:  # whatever stopped it, results.json says what
        # A run that cannot measure still says so in results.json, with the reason, and leaves
        # no figure of an earlier run standing beside it.
        earlier = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        stale = {k: None for k in earlier if k.startswith("webhook_")}
        figures = stale | {
            "webhook_freshness_p95_ms": None,
            "webhook_freshness_goal_p95_ms": GOAL_P95_MS,
            "webhook_freshness_pass": False,
            "webhook_freshness_error": f"{type(exc).__name__}: {exc}",
        }
    merge_results(figures)
    print(json.dumps(figures, indent=2))
    return 0 if figures["webhook_freshness_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
