"""Syncs, deletions and the webhooks they fire, over real HTTP: signed with Oura's recipe, naming
documents the data routes serve, retried after failures, cancelled by 410, duplicated or dropped
on request, and only for users who connected the app."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from oura_simulator import SimulatorConfig, SimulatorServer
from oura_simulator.__main__ import parse_args
from tests.oura_simulator.conftest import TODAY, Api
from tests.oura_simulator.test_webhook_subscriptions import CLIENT_HEADERS, FAST, PATH, subscribe
from tests.oura_simulator.webhook_receiver import Receiver, eventually

SECRET = "simulator-secret"


async def sync(
    client: httpx.AsyncClient, data_types: list[str], users: list[str] | None = None
) -> list[dict[str, Any]]:
    response = await client.post(
        "/_sim/sync", json={"users": users or ["demo"], "data_types": data_types}
    )
    assert response.status_code == 200, response.text
    changes: list[dict[str, Any]] = response.json()["changes"]
    return changes


async def finished(client: httpx.AsyncClient, count: int = 1, **match: str) -> list[dict[str, Any]]:
    """The logged deliveries matching `match` once `count` of them have an outcome."""

    async def check() -> list[dict[str, Any]] | None:
        rows = (await client.get("/_sim/webhooks/deliveries", params=match)).json()["data"]
        done = [r for r in rows if r["outcome"] != "pending"]
        return done if len(done) >= count else None

    result: list[dict[str, Any]] = await eventually(check)
    return result


def documented_signature(timestamp: str, body: bytes) -> str:
    """OURA_API_V2.md §4.3, as written there."""
    return (
        hmac.new(SECRET.encode(), (timestamp + body.decode()).encode(), hashlib.sha256)
        .hexdigest()
        .upper()
    )


@pytest.mark.simulator(**FAST)
async def test_sync_sends_a_signed_event_naming_a_fetchable_document(
    api: Api, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    assert (await subscribe(api.http, endpoint.url)).status_code == 201
    headers = await api.headers()

    [change] = await sync(api.http, ["session"])
    assert change["event_type"] == "create" and change["data_type"] == "session"
    assert change["deliveries"] == 1
    [logged] = await finished(api.http, object_id=change["object_id"])
    assert logged["outcome"] == "delivered" and len(logged["attempts"]) == 1

    [delivery] = endpoint.deliveries()
    timestamp = delivery.headers["x-oura-timestamp"]
    assert timestamp.isdigit()
    assert delivery.headers["x-oura-signature"] == documented_signature(timestamp, delivery.body)
    event = delivery.json()
    # Compact JSON in the documented field order: a receiver re-serialising the parsed body
    # (Oura's sample code) gets the very bytes that were signed.
    assert delivery.body == json.dumps(event, separators=(",", ":")).encode()
    assert list(event) == ["event_type", "data_type", "object_id", "event_time", "user_id"]
    assert logged["body"].encode() == delivery.body
    personal = (await api.http.get("/v2/usercollection/personal_info", headers=headers)).json()
    assert event["user_id"] == personal["id"] == change["user_id"]
    assert event["event_time"] == change["event_time"]

    single = await api.http.get(f"/v2/usercollection/session/{event['object_id']}", headers=headers)
    assert single.status_code == 200
    document = single.json()
    assert document["id"] == event["object_id"]
    listed = await api.collect("session", headers, {"start_date": document["day"]})
    assert document in listed


@pytest.mark.simulator(**FAST)
async def test_every_created_type_is_served(api: Api) -> None:
    headers = await api.headers()
    changes = await sync(api.http, ["session", "workout", "enhanced_tag"])
    assert [c["data_type"] for c in changes] == ["session", "workout", "enhanced_tag"]
    assert {c["deliveries"] for c in changes} == {0}  # no subscriptions
    for change in changes:
        route = f"/v2/usercollection/{change['data_type']}/{change['object_id']}"
        assert (await api.http.get(route, headers=headers)).status_code == 200
    # The same seed and the same syncs give the same documents.
    with SimulatorServer(SimulatorConfig(today=TODAY, users=2)) as twin:
        twin_changes = twin.simulator.sync(["demo"], ["session", "workout", "enhanced_tag"])
    assert [c["object_id"] for c in twin_changes] == [c["object_id"] for c in changes]


@pytest.mark.simulator(**FAST)
async def test_sync_reprocesses_todays_activity_as_an_update(
    api: Api, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    await subscribe(api.http, endpoint.url, event_type="update", data_type="daily_activity")
    headers = await api.headers()
    recent = {"start_date": (TODAY - timedelta(days=1)).isoformat(), "end_date": TODAY.isoformat()}
    before = (await api.http.get("/_sim/documents/daily_activity", params=recent)).json()["data"][
        -1
    ]

    [change] = await sync(api.http, ["daily_activity"])
    assert (change["event_type"], change["object_id"]) == ("update", before["id"])
    await finished(api.http, object_id=before["id"])
    assert endpoint.deliveries()[0].json()["object_id"] == before["id"]
    route = f"/v2/usercollection/daily_activity/{before['id']}"
    after = (await api.http.get(route, headers=headers)).json()
    assert after["steps"] > before["steps"]


@pytest.mark.simulator(**FAST)
async def test_deleted_document_fires_delete_and_is_gone(
    api: Api, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    await subscribe(api.http, endpoint.url, event_type="delete", data_type="session")
    headers = await api.headers()
    [created] = await sync(api.http, ["session"])
    assert created["deliveries"] == 0  # nobody subscribed to create events

    deleted = await api.http.delete(f"/_sim/documents/session/{created['object_id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["event_type"] == "delete"
    [logged] = await finished(api.http, event_type="delete")
    assert logged["outcome"] == "delivered"
    assert endpoint.deliveries()[0].json()["object_id"] == created["object_id"]
    route = f"/v2/usercollection/session/{created['object_id']}"
    assert (await api.http.get(route, headers=headers)).status_code == 404
    listed = await api.collect("session", headers, {"start_date": TODAY.isoformat()})
    assert created["object_id"] not in {d["id"] for d in listed}
    again = await api.http.delete(f"/_sim/documents/session/{created['object_id']}")
    assert again.status_code == 404


@pytest.mark.simulator(**FAST)
async def test_deleting_a_vo2_max_estimate_hides_it_from_the_vO2_max_route(api: Api) -> None:
    headers = await api.headers()
    start = (TODAY - timedelta(days=60)).isoformat()
    documents = await api.http.get(
        "/_sim/documents/vo2_max", params={"start_date": start, "end_date": TODAY.isoformat()}
    )
    estimate = documents.json()["data"][0]
    route = f"/v2/usercollection/vO2_max/{estimate['id']}"
    assert (await api.http.get(route, headers=headers)).json() == estimate
    deleted = await api.http.delete(f"/_sim/documents/vo2_max/{estimate['id']}")
    assert deleted.json()["data_type"] == "vo2_max"
    assert (await api.http.get(route, headers=headers)).status_code == 404
    day = date.fromisoformat(estimate["day"]).isoformat()
    listed = await api.collect("vO2_max", headers, {"start_date": day, "end_date": day})
    assert listed == []


@pytest.mark.simulator(**{**FAST, "webhook_timeout_s": 0.3})
async def test_failing_receiver_is_retried_until_it_answers(
    api: Api, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    await subscribe(api.http, endpoint.url)
    await api.http.post("/_sim/tokens", json={"user": "demo"})
    endpoint.stalls.extend([1.0])  # the first attempt times out
    endpoint.statuses.extend([200, 500, 404])

    [change] = await sync(api.http, ["session"])
    [logged] = await finished(api.http, object_id=change["object_id"])
    assert logged["outcome"] == "delivered"
    attempts = logged["attempts"]
    assert [(a["status"], a["error"]) for a in attempts] == [
        (None, "timeout"),
        (500, None),
        (404, None),
        (200, None),
    ]
    bodies = {d.body for d in endpoint.deliveries()}
    assert bodies == {logged["body"].encode()}
    for delivery in endpoint.deliveries():
        timestamp = delivery.headers["x-oura-timestamp"]
        assert delivery.headers["x-oura-signature"] == documented_signature(
            timestamp, delivery.body
        )


@pytest.mark.simulator(**FAST, webhook_max_retries=3)
async def test_retries_end_after_max_retries(api: Api, receiver: Callable[..., Receiver]) -> None:
    endpoint = receiver()
    await subscribe(api.http, endpoint.url)
    await api.http.post("/_sim/tokens", json={"user": "demo"})
    endpoint.statuses.extend([503] * 10)
    [change] = await sync(api.http, ["session"])
    [logged] = await finished(api.http, object_id=change["object_id"])
    assert logged["outcome"] == "failed"
    assert [a["status"] for a in logged["attempts"]] == [503] * 4
    assert len(endpoint.deliveries()) == 4


@pytest.mark.simulator(**FAST)
async def test_410_cancels_the_subscription(api: Api, receiver: Callable[..., Receiver]) -> None:
    endpoint = receiver()
    await subscribe(api.http, endpoint.url)
    await api.http.post("/_sim/tokens", json={"user": "demo"})
    endpoint.statuses.append(410)
    [change] = await sync(api.http, ["session"])
    [logged] = await finished(api.http, object_id=change["object_id"])
    assert logged["outcome"] == "cancelled" and len(logged["attempts"]) == 1
    assert (await api.http.get(PATH, headers=CLIENT_HEADERS)).json() == []
    [later] = await sync(api.http, ["session"])
    assert later["deliveries"] == 0
    assert len(endpoint.deliveries()) == 1


@pytest.mark.simulator(**FAST, webhook_duplicate_probability=1.0)
async def test_duplicate_knob_sends_each_event_twice(
    api: Api, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    await subscribe(api.http, endpoint.url)
    await api.http.post("/_sim/tokens", json={"user": "demo"})
    [change] = await sync(api.http, ["session"])
    assert change["deliveries"] == 2
    logged = await finished(api.http, 2, object_id=change["object_id"])
    assert sorted(d["duplicate"] for d in logged) == [False, True]
    first, second = endpoint.deliveries()
    assert first.body == second.body


@pytest.mark.simulator(**FAST, webhook_drop_probability=1.0)
async def test_drop_knob_loses_events_until_turned_off(
    api: Api, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    await subscribe(api.http, endpoint.url)
    await api.http.post("/_sim/tokens", json={"user": "demo"})
    [lost] = await sync(api.http, ["session"])
    assert lost["deliveries"] == 0
    [logged] = await finished(api.http, object_id=lost["object_id"])
    assert logged["outcome"] == "dropped" and logged["attempts"] == []

    knobs = await api.http.post("/_sim/webhooks", json={"drop_probability": 0})
    assert knobs.json()["settings"]["drop_probability"] == 0
    [kept] = await sync(api.http, ["session"])
    await finished(api.http, object_id=kept["object_id"])
    assert [d.json()["object_id"] for d in endpoint.deliveries()] == [kept["object_id"]]


async def test_drops_and_duplicates_follow_the_seed(receiver: Callable[..., Receiver]) -> None:
    endpoint = receiver()
    patterns = []
    for _ in range(2):
        config = SimulatorConfig(
            today=TODAY,
            webhook_drop_probability=0.4,
            webhook_duplicate_probability=0.3,
            webhook_retry_base_s=0.01,
        )
        with SimulatorServer(config) as server:
            sim = server.simulator
            sim.issue_tokens("demo")
            sim.subscriptions.create(
                "simulator-client",
                callback_url=endpoint.url,
                event_type="create",
                data_type="session",
                verification_token="verify-me",
                now=sim.clock.now(),
            )
            patterns.append(
                [c["deliveries"] for _ in range(12) for c in sim.sync(["demo"], ["session"])]
            )
    assert patterns[0] == patterns[1]
    assert {0, 1, 2} <= set(patterns[0])


@pytest.mark.simulator(**FAST)
async def test_only_users_who_connected_the_app_are_announced(
    api: Api, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    await subscribe(api.http, endpoint.url, data_type="workout")
    await api.headers("demo", scope="daily")  # connected, but without the workout scope
    await api.headers("demo2")
    changes = await sync(api.http, ["workout"], users=["demo", "demo2"])
    assert [(c["user"], c["deliveries"]) for c in changes] == [("demo", 0), ("demo2", 1)]
    await api.http.post("/_sim/faults", json={"revoke_user": "demo2"})
    [after_revoke] = await sync(api.http, ["workout"], users=["demo2"])
    assert after_revoke["deliveries"] == 0


@pytest.mark.simulator(**FAST)
async def test_sync_rejects_unknown_users_and_types(client: httpx.AsyncClient) -> None:
    unknown_user = await client.post("/_sim/sync", json={"users": ["nobody"]})
    assert unknown_user.status_code == 404
    bad_type = await client.post("/_sim/sync", json={"data_types": ["heartrate"]})
    assert bad_type.status_code == 422 and "heartrate" in bad_type.json()["detail"]
    default = (await client.post("/_sim/sync", json={})).json()["changes"]
    assert {(c["user"], c["data_type"]) for c in default} >= {
        ("demo", "session"),
        ("demo2", "session"),
    }


@pytest.mark.simulator(**FAST, sync_every_s=0.05)
async def test_periodic_sync_keeps_announcing_new_documents(
    api: Api, server: SimulatorServer, receiver: Callable[..., Receiver]
) -> None:
    endpoint = receiver()
    await subscribe(api.http, endpoint.url)
    headers = await api.headers()

    def two_sessions() -> list[str] | None:
        ids = list(
            dict.fromkeys(
                d.json()["object_id"]
                for d in endpoint.deliveries()
                if d.json()["user_id"] == server.simulator.user("demo").user_id
            )
        )
        return ids if len(ids) >= 2 else None

    for object_id in (await eventually(two_sessions))[:2]:
        route = f"/v2/usercollection/session/{object_id}"
        assert (await api.http.get(route, headers=headers)).status_code == 200


def test_cli_flags_configure_syncs_and_webhooks() -> None:
    config = parse_args(
        [
            "--sync-every", "2.5",
            "--sync-types", "enhanced_tag,daily_sleep",
            "--webhook-ttl", "600",
            "--webhook-retries", "3",
            "--webhook-backoff", "0.1",
            "--webhook-timeout", "4",
            "--webhook-delay", "30",
            "--webhook-drop", "0.05",
            "--webhook-duplicate", "0.1",
        ]
    )  # fmt: skip
    assert config.sync_every_s == 2.5
    assert config.sync_types == ("enhanced_tag", "daily_sleep")
    assert config.webhook_subscription_ttl_s == 600
    assert (config.webhook_max_retries, config.webhook_retry_base_s) == (3, 0.1)
    assert (config.webhook_timeout_s, config.webhook_delay_s) == (4, 30)
    assert config.webhook_drop_probability == 0.05
    assert config.webhook_duplicate_probability == 0.1
    with pytest.raises(SystemExit):
        parse_args(["--webhook-drop", "1.5"])
    with pytest.raises(SystemExit):
        parse_args(["--sync-types", "heartrate"])
