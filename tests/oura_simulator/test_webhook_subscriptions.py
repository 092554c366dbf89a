"""The webhook subscription API over HTTP: client-credential auth, the verification handshake,
create / read / update / delete / renew with Oura's status codes, and expiry."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from oura_simulator import SimulatorServer
from tests.oura_simulator.webhook_receiver import Receiver

PATH = "/v2/webhook/subscription"
CLIENT_HEADERS = {"x-client-id": "simulator-client", "x-client-secret": "simulator-secret"}
FAST = {"webhook_retry_base_s": 0.01, "webhook_timeout_s": 2.0, "webhook_verify_timeout_s": 2.0}
MODEL_KEYS = {"id", "callback_url", "event_type", "data_type", "expiration_time"}


async def subscribe(
    client: httpx.AsyncClient,
    url: str,
    event_type: str = "create",
    data_type: str = "session",
    token: str = "verify-me",
) -> httpx.Response:
    body = {
        "callback_url": url,
        "verification_token": token,
        "event_type": event_type,
        "data_type": data_type,
    }
    return await client.post(PATH, json=body, headers=CLIENT_HEADERS)


async def sim_now(client: httpx.AsyncClient) -> datetime:
    return datetime.fromisoformat((await client.get("/_sim/clock")).json()["now"])


@pytest.mark.simulator(**FAST)
async def test_create_answers_the_handshake_first(
    client: httpx.AsyncClient, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    created = await subscribe(client, endpoint.url)
    assert created.status_code == 201, created.text
    model = created.json()
    assert set(model) == MODEL_KEYS
    assert model["callback_url"] == endpoint.url
    assert (model["event_type"], model["data_type"]) == ("create", "session")
    lifetime = datetime.fromisoformat(model["expiration_time"]) - await sim_now(client)
    assert lifetime == timedelta(days=7)
    [handshake] = endpoint.handshakes
    assert handshake["verification_token"] == "verify-me"
    assert handshake["challenge"]
    listed = await client.get(PATH, headers=CLIENT_HEADERS)
    assert listed.status_code == 200
    assert listed.json() == [model]


@pytest.mark.simulator(**FAST)
@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("wrong_challenge", "did not echo the challenge"),
        ("not_json", "not JSON"),
        ("status_404", "answered 404"),
        ("check_token", "answered 401"),
    ],
)
async def test_failed_handshake_refuses_the_subscription(
    client: httpx.AsyncClient, receiver: Callable[..., Receiver], mode: str, reason: str
) -> None:
    endpoint = receiver(handshake=mode)
    refused = await subscribe(client, endpoint.url, token="not-the-receivers-token")
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert detail.startswith("Webhook verification failed") and reason in detail
    assert (await client.get(PATH, headers=CLIENT_HEADERS)).json() == []


@pytest.mark.simulator(**FAST)
async def test_unreachable_callback_refuses_the_subscription(client: httpx.AsyncClient) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    refused = await subscribe(client, f"http://127.0.0.1:{port}/hook")
    assert refused.status_code == 400
    assert "could not be reached" in refused.json()["detail"]


@pytest.mark.simulator(**FAST)
async def test_read_update_renew_delete(
    client: httpx.AsyncClient, receiver: Callable[..., Receiver]
) -> None:
    first, second = receiver(), receiver(token="second-token")
    model = (await subscribe(client, first.url)).json()
    url = f"{PATH}/{model['id']}"
    assert (await client.get(url, headers=CLIENT_HEADERS)).json() == model

    # One subscription per (event_type, data_type): a second create conflicts, an update onto
    # a taken pair conflicts too.
    again = await subscribe(client, second.url, token="second-token")
    assert again.status_code == 409 and model["id"] in again.json()["detail"]
    other = (await subscribe(client, first.url, event_type="update")).json()
    clash = await client.put(
        f"{PATH}/{other['id']}",
        json={"verification_token": "verify-me", "event_type": "create"},
        headers=CLIENT_HEADERS,
    )
    assert clash.status_code == 409

    # Changing only the type does not call the callback; a new callback_url is verified.
    moved = await client.put(
        url,
        json={"verification_token": "verify-me", "data_type": "workout"},
        headers=CLIENT_HEADERS,
    )
    assert moved.status_code == 200
    assert moved.json() == {**model, "data_type": "workout"}
    assert len(first.handshakes) == 2  # the two creates
    wrong = await client.put(
        url,
        json={"verification_token": "verify-me", "callback_url": second.url},
        headers=CLIENT_HEADERS,
    )
    assert wrong.status_code == 400  # the second receiver expects its own token
    assert (await client.get(url, headers=CLIENT_HEADERS)).json()["callback_url"] == first.url
    rehomed = await client.put(
        url,
        json={"verification_token": "second-token", "callback_url": second.url},
        headers=CLIENT_HEADERS,
    )
    assert rehomed.status_code == 200 and rehomed.json()["callback_url"] == second.url
    assert second.handshakes[-1]["verification_token"] == "second-token"

    await client.post("/_sim/clock", json={"advance_s": 86_400})
    renewed = await client.put(f"{PATH}/renew/{model['id']}", headers=CLIENT_HEADERS)
    assert renewed.status_code == 200
    expires = datetime.fromisoformat(renewed.json()["expiration_time"])
    assert expires == await sim_now(client) + timedelta(days=7)
    assert expires > datetime.fromisoformat(model["expiration_time"])

    deleted = await client.delete(url, headers=CLIENT_HEADERS)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get(url, headers=CLIENT_HEADERS)).status_code == 403
    assert [s["id"] for s in (await client.get(PATH, headers=CLIENT_HEADERS)).json()] == [
        other["id"]
    ]


@pytest.mark.simulator(**FAST)
async def test_client_credentials_and_unknown_ids(
    client: httpx.AsyncClient, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    for headers in ({}, {**CLIENT_HEADERS, "x-client-secret": "wrong"}, {"x-client-id": "x"}):
        assert (await client.get(PATH, headers=headers)).status_code == 401
        body = {"callback_url": endpoint.url, "verification_token": "verify-me"}
        created = await client.post(
            PATH, json={**body, "event_type": "create", "data_type": "sleep"}, headers=headers
        )
        assert created.status_code == 401
    assert endpoint.handshakes == []
    unknown = "5f0c1c8e-8a4e-4e0e-9d43-3f1b2c3d4e5f"
    token = {"verification_token": "verify-me"}
    for method, url, json_body in (
        ("GET", f"{PATH}/{unknown}", None),
        ("PUT", f"{PATH}/{unknown}", token),
        ("DELETE", f"{PATH}/{unknown}", None),
        ("PUT", f"{PATH}/renew/{unknown}", None),
    ):
        response = await client.request(method, url, json=json_body, headers=CLIENT_HEADERS)
        assert response.status_code == 403, (method, url)


@pytest.mark.simulator(**FAST)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"verification_token": None}, "verification_token"),
        ({"event_type": "created"}, "event_type"),
        ({"data_type": "heartrate"}, "data_type"),
        ({"callback_url": "ftp://example.com/hook"}, "callback_url"),
    ],
)
async def test_bad_bodies_are_422(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {
        "callback_url": "http://127.0.0.1:9/hook",
        "verification_token": "verify-me",
        "event_type": "create",
        "data_type": "sleep",
    }
    body.update(change)
    response = await client.post(
        PATH, json={k: v for k, v in body.items() if v is not None}, headers=CLIENT_HEADERS
    )
    assert response.status_code == 422
    assert [e["loc"][-1] for e in response.json()["detail"]] == [field]


@pytest.mark.simulator(**FAST, webhook_subscription_ttl_s=3_600)
async def test_expired_subscription_stays_listed_delivers_nothing_until_renewed(
    client: httpx.AsyncClient, server: SimulatorServer, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    model = (await subscribe(client, endpoint.url)).json()
    await client.post("/_sim/tokens", json={"user": "demo"})
    sync = {"users": ["demo"], "data_types": ["session"]}

    [live] = (await client.post("/_sim/sync", json=sync)).json()["changes"]
    assert live["deliveries"] == 1

    await client.post("/_sim/clock", json={"advance_s": 7_200})
    [listed] = (await client.get(PATH, headers=CLIENT_HEADERS)).json()
    assert listed == model
    assert datetime.fromisoformat(listed["expiration_time"]) < await sim_now(client)
    [expired] = (await client.post("/_sim/sync", json=sync)).json()["changes"]
    assert expired["deliveries"] == 0
    logged = (await client.get("/_sim/webhooks/deliveries")).json()["data"]
    assert [d["event"]["object_id"] for d in logged] == [live["object_id"]]
    state = (await client.get("/_sim/webhooks")).json()["subscriptions"]
    assert [s["active"] for s in state] == [False]

    renewed = await client.put(f"{PATH}/renew/{model['id']}", headers=CLIENT_HEADERS)
    assert datetime.fromisoformat(renewed.json()["expiration_time"]) > await sim_now(client)
    [again] = (await client.post("/_sim/sync", json=sync)).json()["changes"]
    assert again["deliveries"] == 1
