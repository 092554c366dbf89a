"""Oura's webhook receiver against the real broker and database: the handshake, signed
deliveries (raw and compact-reserialised signatures, seconds and milliseconds), and every
refusal leaving the webhook topic exactly as it was (read to its end offsets)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from oura_connection import TokenCipher, TokenGrant, store_grant
from schemas.keys import partition_of, user_key
from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import RAW_PARTITIONS, WEBHOOK_EVENTS
from schemas.webhooks import WebhookEvent, compact, decode_webhook_event, sign
from tests.collector.helpers import create_user, read_topics
from tests.gateway.conftest import make_settings

SECRET = "simulator-secret"
VERIFICATION = "verify-me-" + uuid.uuid4().hex
URL = "/webhooks/oura"


@pytest.fixture
def settings() -> GatewaySettings:
    return make_settings(oura_client_secret=SECRET, oura_webhook_verification_token=VERIFICATION)


@pytest.fixture
def gateway_kafka(topics: KafkaSettings) -> KafkaSettings:
    """The gateway on this test's own topics."""
    return topics


async def connected(db: asyncpg.Pool, settings: GatewaySettings, oura_user_id: str) -> str:
    """A platform user whose Oura connection belongs to `oura_user_id`."""
    user_id = await create_user(db)
    cipher = TokenCipher.from_keys(settings.token_encryption_keys.get_secret_value())
    grant = TokenGrant("access", "refresh", datetime.now(UTC) + timedelta(hours=1), ["daily"])
    await store_grant(db, user_id, grant, cipher, oura_user_id=oura_user_id)
    return str(user_id)


def event_body(oura_user_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "event_type": "create",
        "data_type": "daily_sleep",
        "object_id": f"doc-{uuid.uuid4().hex[:8]}",
        "event_time": "2026-12-04T08:00:00+00:00",
        "user_id": oura_user_id,
        **overrides,
    }


def signed_headers(
    body: bytes, *, timestamp: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    ts = timestamp if timestamp is not None else str(int(time.time()))
    return {
        "content-type": "application/json",
        "x-oura-timestamp": ts,
        "x-oura-signature": sign(secret, ts, body),
    }


async def events_on_topic(topics: KafkaSettings) -> list[tuple[bytes, int, WebhookEvent]]:
    topic = f"{topics.topic_prefix}{WEBHOOK_EVENTS}"
    return await read_topics(
        topics, [topic], lambda m: (m.key, m.partition, decode_webhook_event(m.value))
    )


async def test_the_handshake_echoes_the_challenge_for_our_token_only(
    client: httpx.AsyncClient,
) -> None:
    ok = await client.get(URL, params={"verification_token": VERIFICATION, "challenge": "c-42"})
    assert ok.status_code == 200 and ok.json() == {"challenge": "c-42"}
    bad = await client.get(URL, params={"verification_token": "other", "challenge": "c-42"})
    assert bad.status_code == 401 and bad.json()["code"] == "invalid_verification_token"
    assert "c-42" not in bad.text
    missing = await client.get(URL, params={"verification_token": VERIFICATION})
    assert missing.status_code == 422 and "query.challenge" in missing.json()["detail"]


async def test_a_signed_event_is_published_keyed_and_partitioned_by_user(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: GatewaySettings, topics: KafkaSettings
) -> None:
    user_id = await connected(db, settings, "oura-user-1")
    body = json.dumps(event_body("oura-user-1", object_id="abc-1")).encode()
    response = await client.post(URL, content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"

    [(key, partition, event)] = await events_on_topic(topics)
    assert key == user_key(user_id) and partition == partition_of(key, RAW_PARTITIONS)
    assert (event.user_id, event.oura_user_id) == (user_id, "oura-user-1")
    assert (event.event_type, event.data_type, event.object_id) == (
        "create",
        "daily_sleep",
        "abc-1",
    )
    assert event.event_time == datetime(2026, 12, 4, 8, tzinfo=UTC)
    assert event.delivery_id == response.json()["delivery_id"]
    # json.dumps with its default separators is not the compact form: the raw bytes verified.
    assert event.signature_form == "raw"


async def test_a_signature_over_the_compact_reserialisation_is_accepted_too(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: GatewaySettings, topics: KafkaSettings
) -> None:
    await connected(db, settings, "oura-user-2")
    parsed = event_body("oura-user-2")
    # Sent pretty-printed with escaped non-ASCII, signed the way Oura's sample code signs.
    parsed["note"] = "Schlaf gut ☾"
    raw = json.dumps(parsed, indent=2, ensure_ascii=True).encode()
    ts = str(int(time.time()))
    headers = {"x-oura-timestamp": ts, "x-oura-signature": sign(SECRET, ts, compact(parsed))}
    assert compact(parsed) != raw
    response = await client.post(URL, content=raw, headers=headers)
    assert response.status_code == 200, response.text
    [(_, _, event)] = await events_on_topic(topics)
    assert event.signature_form == "compact"


async def test_timestamps_in_seconds_and_milliseconds_are_both_taken(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: GatewaySettings, topics: KafkaSettings
) -> None:
    await connected(db, settings, "oura-user-3")
    now = time.time()
    for ts in (str(int(now)), str(int(now * 1000)), f"{now:.3f}"):
        body = json.dumps(event_body("oura-user-3")).encode()
        response = await client.post(URL, content=body, headers=signed_headers(body, timestamp=ts))
        assert response.status_code == 200, (ts, response.text)
    events = [e for _, _, e in await events_on_topic(topics)]
    assert len(events) == 3
    for event in events:
        assert abs(event.delivery_timestamp.timestamp() - now) < 2


async def test_refused_deliveries_publish_nothing(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: GatewaySettings, topics: KafkaSettings
) -> None:
    await connected(db, settings, "oura-known")
    known = json.dumps(event_body("oura-known")).encode()
    stranger = json.dumps(event_body("oura-nobody-connected")).encode()
    old = str(int(time.time()) - 301)
    future_ms = str(int((time.time() + 400) * 1000))
    cases: list[tuple[str, dict[str, str], bytes, int, str]] = [
        (
            "bad signature",
            signed_headers(known, secret="not-the-secret"),
            known,
            401,
            "not_verified",
        ),
        ("no signature", {"x-oura-timestamp": str(int(time.time()))}, known, 401, "not_verified"),
        ("unknown user", signed_headers(stranger), stranger, 401, "not_verified"),
        ("stale", signed_headers(known, timestamp=old), known, 401, "stale_timestamp"),
        ("future ms", signed_headers(known, timestamp=future_ms), known, 401, "stale_timestamp"),
        ("no timestamp", {"x-oura-signature": "00"}, known, 401, "stale_timestamp"),
        (
            "garbage timestamp",
            signed_headers(known, timestamp="nan"),
            known,
            401,
            "stale_timestamp",
        ),
    ]
    answers = {}
    for name, headers, body, status, code in cases:
        response = await client.post(URL, content=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (status, code), name
        assert response.status_code != 410
        answers[name] = response.json()
    # A stranger's verified event looks exactly like a forged one: nothing tells who is connected.
    assert answers["unknown user"] == answers["bad signature"]
    assert await events_on_topic(topics) == []


async def test_a_malformed_body_is_422_only_once_signed(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: GatewaySettings, topics: KafkaSettings
) -> None:
    await connected(db, settings, "oura-user-4")
    bad = json.dumps(event_body("oura-user-4", event_type="explode", object_id="a/b")).encode()
    unsigned = await client.post(URL, content=bad, headers=signed_headers(bad, secret="wrong"))
    assert unsigned.status_code == 401
    signed = await client.post(URL, content=bad, headers=signed_headers(bad))
    assert signed.status_code == 422
    detail = signed.json()["detail"]
    assert "body.event_type" in detail and "body.object_id" in detail
    not_json = b"{not json"
    response = await client.post(URL, content=not_json, headers=signed_headers(not_json))
    assert response.status_code == 422 and "JSON object" in response.json()["detail"]
    too_big = json.dumps(event_body("oura-user-4", padding="x" * 20_000)).encode()
    response = await client.post(URL, content=too_big, headers=signed_headers(too_big))
    assert response.status_code == 413
    assert await events_on_topic(topics) == []


async def test_a_type_the_platform_does_not_collect_is_accepted(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: GatewaySettings, topics: KafkaSettings
) -> None:
    await connected(db, settings, "oura-user-5")
    body = json.dumps(
        event_body("oura-user-5", data_type="daily_cycle_phases", extra_field=1)
    ).encode()
    response = await client.post(URL, content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    [(_, _, event)] = await events_on_topic(topics)
    assert event.data_type == "daily_cycle_phases" and event.platform_type is None


async def test_every_account_connected_to_the_oura_user_gets_the_event(
    client: httpx.AsyncClient, db: asyncpg.Pool, settings: GatewaySettings, topics: KafkaSettings
) -> None:
    first = await connected(db, settings, "oura-shared")
    second = await connected(db, settings, "oura-shared")
    body = json.dumps(event_body("oura-shared")).encode()
    assert (await client.post(URL, content=body, headers=signed_headers(body))).status_code == 200
    assert sorted(e.user_id for _, _, e in await events_on_topic(topics)) == sorted([first, second])


async def test_without_a_verification_token_the_receiver_is_off(
    db: asyncpg.Pool, db_settings: DatabaseSettings, topics: KafkaSettings
) -> None:
    application = create_app(make_settings(), database=db_settings, kafka=topics)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            handshake = await c.get(URL, params={"verification_token": "", "challenge": "x"})
            body = b"{}"
            delivery = await c.post(URL, content=body, headers=signed_headers(body))
    assert handshake.status_code == delivery.status_code == 404
    assert delivery.json()["code"] == "not_configured"
