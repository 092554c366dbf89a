"""Collector fixtures: the Oura simulator served over real HTTP, collector settings pointing at
it, and a Collector wired to the real broker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from collector.collect import Collector
from collector.oura import OuraClient
from collector.publisher import RawPublisher
from collector.settings import CollectorSettings
from oura_connection import OuraOAuthClient, TokenCipher
from oura_simulator import SimulatorConfig, SimulatorServer
from schemas.settings import KafkaSettings
from tests.collector.helpers import TODAY


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Override in a test module for other paging, users or history."""
    return SimulatorConfig(
        users=3,
        today=TODAY,
        history_days=400,
        page_size=50,
        redirect_uris=("http://127.0.0.1:9/callback",),  # the settings' OURA_REDIRECT_URI
    )


@pytest.fixture
def sim(sim_config: SimulatorConfig) -> Iterator[SimulatorServer]:
    with SimulatorServer(sim_config) as server:
        yield server


@pytest.fixture
def settings(sim: SimulatorServer, token_key: str) -> CollectorSettings:
    base = sim.base_url
    config = sim.simulator.config
    return CollectorSettings(
        oura_client_id=config.client_id,
        oura_client_secret=SecretStr(config.client_secret),
        oura_redirect_uri="http://127.0.0.1:9/callback",
        oura_api_base_url=base,
        oura_authorize_url=f"{base}/oauth/authorize",
        oura_token_url=f"{base}/oauth/token",
        oura_revoke_url=f"{base}/oauth/revoke",
        token_encryption_keys=SecretStr(token_key),
        collector_metrics_port=0,
        initial_days=10,
        backoff_base_s=0.01,
        backoff_cap_s=0.1,
        max_attempts=4,
    )


def sim_env(settings: CollectorSettings) -> dict[str, str]:
    """The same settings as environment variables, for subprocesses."""
    return {
        "OURA_CLIENT_ID": settings.oura_client_id,
        "OURA_CLIENT_SECRET": settings.oura_client_secret.get_secret_value(),
        "OURA_REDIRECT_URI": settings.oura_redirect_uri,
        "OURA_API_BASE_URL": settings.oura_api_base_url,
        "OURA_AUTHORIZE_URL": settings.oura_authorize_url,
        "OURA_TOKEN_URL": settings.oura_token_url,
        "OURA_REVOKE_URL": settings.oura_revoke_url,
        "TOKEN_ENCRYPTION_KEYS": settings.token_encryption_keys.get_secret_value(),
        "COLLECTOR_METRICS_PORT": "0",
        "COLLECTOR_INITIAL_DAYS": str(settings.initial_days),
        "COLLECTOR_BACKOFF_BASE_S": str(settings.backoff_base_s),
        "COLLECTOR_BACKOFF_CAP_S": str(settings.backoff_cap_s),
    }


@pytest.fixture
async def oauth(settings: CollectorSettings) -> AsyncIterator[OuraOAuthClient]:
    async with OuraOAuthClient(settings, backoff_s=0.01) as client:
        yield client


@pytest.fixture
async def collector(
    settings: CollectorSettings,
    db: Any,
    topics: KafkaSettings,
    oauth: OuraOAuthClient,
    cipher: TokenCipher,
) -> AsyncIterator[Collector]:
    client = OuraClient(settings)
    async with RawPublisher(topics) as publisher:
        yield Collector(settings, db, client, publisher, oauth, cipher)
    await client.aclose()
