"""Fixtures for the simulator's tests: a real server on a free loopback port per test, an
httpx client, and helpers for the OAuth dance and pagination."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from oura_simulator import SimulatorConfig, SimulatorServer
from tests.oura_simulator.webhook_receiver import Receiver

TODAY = date(2025, 3, 15)
CLIENT = {"client_id": "simulator-client", "client_secret": "simulator-secret"}
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
def start_server() -> Iterator[Callable[..., SimulatorServer]]:
    """Start a simulator with test defaults (fixed today, small pages); overrides win."""
    started: list[SimulatorServer] = []

    def start(**overrides: Any) -> SimulatorServer:
        settings: dict[str, Any] = {
            "today": TODAY,
            "page_size": 7,
            "heartrate_page_size": 250,
            "history_days": 200,
            "users": 2,
            "redirect_uris": (REDIRECT,),
        }
        settings.update(overrides)
        server = SimulatorServer(SimulatorConfig(**settings)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "simulator(**overrides): SimulatorConfig overrides for the `server` fixture"
    )


@pytest.fixture
def server(
    request: pytest.FixtureRequest, start_server: Callable[..., SimulatorServer]
) -> SimulatorServer:
    marker = request.node.get_closest_marker("simulator")
    return start_server(**(marker.kwargs if marker else {}))


@pytest.fixture
async def client(server: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        yield http


class Api:
    """Small helpers over a client: the code flow, bearer headers, following next_token."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def authorize(self, user: str = "demo", scope: str | None = None, **extra: str) -> str:
        params = {
            "client_id": CLIENT["client_id"],
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "state": "xyz",
            "user": user,
            **extra,
        }
        if scope is not None:
            params["scope"] = scope
        response = await self.http.get("/oauth/authorize", params=params)
        assert response.status_code == 302, response.text
        query = parse_qs(urlparse(response.headers["location"]).query)
        assert query["state"] == ["xyz"]
        return query["code"][0]

    async def token(self, **form: str) -> httpx.Response:
        return await self.http.post("/oauth/token", data={**CLIENT, **form})

    async def login(self, user: str = "demo", scope: str | None = None) -> dict[str, Any]:
        code = await self.authorize(user, scope)
        response = await self.token(
            grant_type="authorization_code", code=code, redirect_uri=REDIRECT
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def headers(self, user: str = "demo", scope: str | None = None) -> dict[str, str]:
        tokens = await self.login(user, scope)
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    async def pages(
        self, path: str, headers: dict[str, str], params: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every page of a list route (the first with params, the rest with next_token only)."""
        pages: list[dict[str, Any]] = []
        query = dict(params or {})
        while True:
            response = await self.http.get(
                f"/v2/usercollection/{path}", headers=headers, params=query
            )
            assert response.status_code == 200, response.text
            page = response.json()
            pages.append(page)
            if not page.get("next_token"):
                return pages
            query = {"next_token": page["next_token"]}

    async def collect(
        self, path: str, headers: dict[str, str], params: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        return [doc for page in await self.pages(path, headers, params) for doc in page["data"]]


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """Start webhook receivers on free loopback ports (see webhook_receiver.Receiver)."""
    started: list[Receiver] = []

    def start(**options: Any) -> Receiver:
        started.append(Receiver(**options).start())
        return started[-1]

    yield start
    for one in started:
        one.stop()
