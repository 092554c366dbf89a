"""Gateway fixtures: the app on the real test database (lifespan run), an HTTP client over ASGI,
and settings with a real secret and a real Fernet key."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from gateway.app import create_app
from gateway.settings import GatewaySettings
from schemas.settings import DatabaseSettings, KafkaSettings


def make_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "environment": "development",
        "jwt_secret": secrets.token_urlsafe(48),
        "token_encryption_keys": Fernet.generate_key().decode(),
        "oura_client_id": "simulator-client",
        "oura_client_secret": "simulator-secret",
        # Nothing listens here unless a test starts the simulator and overrides these.
        "oura_authorize_url": "http://127.0.0.1:9/oauth/authorize",
        "oura_token_url": "http://127.0.0.1:9/oauth/token",
        "oura_revoke_url": "http://127.0.0.1:9/oauth/revoke",
        "oura_api_base_url": "http://127.0.0.1:9",
        "oura_redirect_uri": "http://testserver/api/callback",
        "oauth_timeout_s": 2.0,
        # Every test client shares one address; the throttling tests set their own budgets.
        "login_budget_address": 100_000,
        "register_budget_address": 100_000,
        **overrides,
    }
    return GatewaySettings(**values)


@pytest.fixture
def settings() -> GatewaySettings:
    return make_settings()


@pytest.fixture
def gateway_kafka(kafka_settings: KafkaSettings) -> KafkaSettings:
    """The Kafka settings the app runs with; a module whose tests read what the gateway
    publishes overrides it with the test's own `topics`."""
    return kafka_settings


@pytest.fixture
async def app(
    db: asyncpg.Pool,
    db_settings: DatabaseSettings,
    gateway_kafka: KafkaSettings,
    settings: GatewaySettings,
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=db_settings, kafka=gateway_kafka)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class LiveServer:
    """The gateway served by uvicorn on a loopback port, in a thread with its own event loop
    (the way `python -m gateway` serves it)."""

    def __init__(self, application: FastAPI) -> None:
        import socket

        import uvicorn

        from gateway.server import uvicorn_options

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        options = uvicorn_options(host="127.0.0.1", port=self.port, workers=1, log_level="warning")
        options.pop("workers")
        self.server = uvicorn.Server(uvicorn.Config(application, **options))
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread: Any = None

    def __enter__(self) -> LiveServer:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(
    db: asyncpg.Pool,
    db_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    settings: GatewaySettings,
) -> Any:
    application = create_app(settings, database=db_settings, kafka=kafka_settings)
    with LiveServer(application) as server:
        yield server
