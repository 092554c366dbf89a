"""Oura connection fixtures: the Oura simulator served over real HTTP, OAuth settings pointing at
it, a token cipher and the OAuth client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from oura_connection import OuraOAuthClient
from oura_connection.settings import OuraOAuthSettings
from oura_simulator import SimulatorConfig, SimulatorServer
from tests.collector.helpers import TODAY

REDIRECT_URI = "http://127.0.0.1:9/callback"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(users=3, today=TODAY, history_days=30, redirect_uris=(REDIRECT_URI,))
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def settings(sim: SimulatorServer) -> OuraOAuthSettings:
    base = sim.base_url
    config = sim.simulator.config
    return OuraOAuthSettings(
        oura_client_id=config.client_id,
        oura_client_secret=SecretStr(config.client_secret),
        oura_redirect_uri=REDIRECT_URI,
        oura_api_base_url=base,
        oura_authorize_url=f"{base}/oauth/authorize",
        oura_token_url=f"{base}/oauth/token",
        oura_revoke_url=f"{base}/oauth/revoke",
    )


def sim_env(settings: OuraOAuthSettings, token_key: str) -> dict[str, str]:
    """The same settings as environment variables, for subprocesses."""
    return {
        "OURA_CLIENT_ID": settings.oura_client_id,
        "OURA_CLIENT_SECRET": settings.oura_client_secret.get_secret_value(),
        "OURA_REDIRECT_URI": settings.oura_redirect_uri,
        "OURA_API_BASE_URL": settings.oura_api_base_url,
        "OURA_AUTHORIZE_URL": settings.oura_authorize_url,
        "OURA_TOKEN_URL": settings.oura_token_url,
        "OURA_REVOKE_URL": settings.oura_revoke_url,
        "TOKEN_ENCRYPTION_KEYS": token_key,
    }


@pytest.fixture
async def oauth(settings: OuraOAuthSettings) -> AsyncIterator[OuraOAuthClient]:
    async with OuraOAuthClient(settings, backoff_s=0.01) as client:
        yield client
