"""The webhook fetcher against the simulator over HTTP, the real broker and the real database:
announced documents become raw records (one fetch however often announced), deletes become
tombstones, what cannot be fetched is counted and skipped; then the whole path from a signed
delivery at the gateway to a row the processor wrote, and back out with a delete; and the
scheduled run's count of documents no webhook announced."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from pydantic import SecretStr

from collector.collect import Collector, run_daily
from collector.settings import CollectorSettings
from collector.webhooks.announcements import record_announced
from collector.webhooks.fetcher import WebhookFetcher
from collector.webhooks.subscription_api import SubscriptionApi
from collector.webhooks.subscriptions import Subscriptions
from gateway.app import create_app
from oura_connection import TokenCipher, connection_status, store_grant
from oura_simulator import SimulatorConfig, SimulatorServer
from schemas.data_types import BY_NAME
from schemas.keys import partition_by_user, raw_key, user_key
from schemas.records import content_hash, decode_raw
from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import WEBHOOK_EVENTS, committed_offsets, raw_topic
from schemas.webhooks import WebhookEvent, encode_webhook_event, sign
from tests.collector.helpers import TODAY, connect, create_user, grant_of, read_topics, served
from tests.gateway.conftest import LiveServer, make_settings
from tests.stream_processor.helpers import ROOT, Worker, eventually

LOGIN = "demo"


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(
        users=2,
        today=TODAY,
        history_days=30,
        page_size=50,
        redirect_uris=("http://127.0.0.1:9/callback",),
    )


@pytest.fixture
def fetcher_settings(settings: CollectorSettings, group_id: str) -> CollectorSettings:
    return settings.model_copy(
        update={"webhook_group_id": group_id, "webhook_batch_window_ms": 200}
    )


@contextlib.asynccontextmanager
async def fetcher_running(
    collector: Collector, topics: KafkaSettings, settings: CollectorSettings
) -> AsyncIterator[WebhookFetcher]:
    collector.settings = settings
    fetcher = WebhookFetcher(collector, topics)
    stop = asyncio.Event()
    task = asyncio.create_task(fetcher.run(stop))
    try:
        yield fetcher
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def subscribed_gateway(
    sim: SimulatorServer,
    db_settings: DatabaseSettings,
    topics: KafkaSettings,
    fetcher_settings: CollectorSettings,
) -> AsyncIterator[LiveServer]:
    """A gateway receiving the simulator's webhooks, subscribed to every granted type through
    `subscriptions ensure` (Oura's handshake included)."""
    verification = "verify-" + uuid.uuid4().hex
    gateway_settings = make_settings(
        oura_client_id=sim.simulator.config.client_id,
        oura_client_secret=sim.simulator.config.client_secret,
        oura_webhook_verification_token=verification,
    )
    with LiveServer(create_app(gateway_settings, database=db_settings, kafka=topics)) as gateway:
        subscribing = fetcher_settings.model_copy(
            update={
                "oura_webhook_callback_url": f"{gateway.url}/webhooks/oura",
                "oura_webhook_verification_token": SecretStr(verification),
            }
        )
        async with SubscriptionApi(subscribing) as api:
            assert (await Subscriptions(api, subscribing).ensure()).failures == []
        yield gateway


async def wait_handled(
    topics: KafkaSettings, group: str, events: int, task_check: Any = None
) -> None:
    """Until the fetcher's group committed `events` webhook events."""
    topic = f"{topics.topic_prefix}{WEBHOOK_EVENTS}"

    async def done() -> bool:
        offsets = await committed_offsets(topics, group)
        return sum(o for (t, _), o in offsets.items() if t == topic and o > 0) >= events

    await eventually(done, 60, f"{events} webhook events committed")


def event(user_id: str, data_type: str, object_id: str, event_type: str = "create") -> WebhookEvent:
    now = datetime.now(UTC)
    return WebhookEvent(
        user_id=user_id,
        oura_user_id="oura-id",
        event_type=event_type,
        data_type=data_type,
        object_id=object_id,
        event_time=now,
        received_at=now,
        delivery_timestamp=now,
        signature_form="raw",
        delivery_id=str(uuid.uuid4()),
    )


async def put_events(topics: KafkaSettings, events: list[WebhookEvent]) -> None:
    """What the gateway's receiver publishes, without the gateway."""
    producer = AIOKafkaProducer(
        **topics.client_kwargs(), acks="all", enable_idempotence=True, partitioner=partition_by_user
    )
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(
                f"{topics.topic_prefix}{WEBHOOK_EVENTS}",
                encode_webhook_event(e),
                key=user_key(e.user_id),
            )
    finally:
        await producer.stop()


async def raw_records(topics: KafkaSettings, data_types: list[str]) -> list[tuple[bytes, Any]]:
    """(key, decoded record or None for a tombstone) of every record on the raw topics."""
    names = [raw_topic(t, topics.topic_prefix) for t in data_types]
    return await read_topics(
        topics, names, lambda m: (m.key, None if m.value is None else decode_raw(m.value))
    )


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_announced_documents_are_fetched_once_and_deletes_become_tombstones(
    sim: SimulatorServer,
    db: asyncpg.Pool,
    cipher: TokenCipher,
    collector: Collector,
    topics: KafkaSettings,
    fetcher_settings: CollectorSettings,
    group_id: str,
) -> None:
    user = str(await connect(db, sim, LOGIN, cipher))
    [night, other_night] = served(sim, LOGIN, "daily_sleep", TODAY - timedelta(days=2), TODAY)[:2]
    vo2 = served(sim, LOGIN, "vo2_max", TODAY - timedelta(days=29), TODAY)[-1]
    events = [
        event(user, "daily_sleep", night["id"]),
        event(user, "daily_sleep", night["id"], "update"),  # the same document again
        event(user, "daily_sleep", other_night["id"], "update"),
        event(user, "vo2_max", vo2["id"]),  # Oura's route spells it vO2_max
        event(user, "daily_sleep", "no-such-document"),
        event(user, "sleep", "gone-1", "delete"),
        event(user, "daily_cycle_phases", "not-ours"),
    ]
    not_found = metric("collector_webhook_events_total", event_type="create", outcome="not_found")
    unknown = metric(
        "collector_webhook_events_total", event_type="create", outcome="unknown_data_type"
    )
    requests = collector.client.requests_sent
    await put_events(topics, events)
    async with fetcher_running(collector, topics, fetcher_settings):
        await wait_handled(topics, group_id, len(events))

    # One request per distinct document (the repeat was batched away), none for the delete.
    assert collector.client.requests_sent - requests == 4
    records = await raw_records(topics, ["daily_sleep", "vo2_max", "sleep"])
    by_key = dict(records)
    assert len(records) == len(by_key) == 4
    for document, data_type in (
        (night, "daily_sleep"),
        (other_night, "daily_sleep"),
        (vo2, "vo2_max"),
    ):
        record = by_key[raw_key(user, document["id"])]
        assert record.user_id == user and record.data_type == data_type
        assert content_hash(record.document) == content_hash(document)
    assert record.endpoint == "/v2/usercollection/vO2_max"
    assert by_key[raw_key(user, "gone-1")] is None, "a tombstone on the sleep topic"
    assert (
        metric("collector_webhook_events_total", event_type="create", outcome="not_found")
        == not_found + 1
    )
    assert (
        metric("collector_webhook_events_total", event_type="create", outcome="unknown_data_type")
        == unknown + 1
    )
    announced = await db.fetch(
        "SELECT data_type, object_id FROM webhook_documents WHERE announced_at IS NOT NULL"
    )
    assert {(r["data_type"], r["object_id"]) for r in announced} == {
        ("daily_sleep", night["id"]),
        ("daily_sleep", other_night["id"]),
        ("daily_sleep", "no-such-document"),
        ("vo2_max", vo2["id"]),
        ("sleep", "gone-1"),
    }


async def test_a_user_without_a_connection_costs_nothing_and_holds_nothing_back(
    sim: SimulatorServer,
    db: asyncpg.Pool,
    cipher: TokenCipher,
    collector: Collector,
    topics: KafkaSettings,
    fetcher_settings: CollectorSettings,
    group_id: str,
) -> None:
    user = str(await connect(db, sim, LOGIN, cipher))
    stranger = str(await create_user(db))  # no Oura connection
    night = served(sim, LOGIN, "daily_sleep", TODAY - timedelta(days=3), TODAY)[-1]
    await put_events(
        topics,
        [event(stranger, "daily_sleep", night["id"]), event(user, "daily_sleep", night["id"])],
    )
    async with fetcher_running(collector, topics, fetcher_settings):
        await wait_handled(topics, group_id, 2)
    records = await raw_records(topics, ["daily_sleep"])
    assert [(k, r.user_id) for k, r in records] == [(raw_key(user, night["id"]), user)]


async def test_the_scheduled_run_counts_documents_no_webhook_announced(
    sim: SimulatorServer, db: asyncpg.Pool, cipher: TokenCipher, collector: Collector
) -> None:
    # Connected before Oura's user id was stored at connect time: the run fills it in.
    user_id = await create_user(db)
    await store_grant(db, user_id, grant_of(sim.simulator.issue_tokens(LOGIN)), cipher)
    daily_sleep = [BY_NAME["daily_sleep"]]
    start = TODAY - timedelta(days=collector.settings.initial_days - 1)
    nights = served(sim, LOGIN, "daily_sleep", start, TODAY)
    before = metric("collector_documents_unannounced_total", data_type="daily_sleep")

    await run_daily(collector, only=daily_sleep)
    status = await connection_status(db, user_id)
    assert status is not None and status.oura_user_id == sim.simulator.user(LOGIN).user_id
    # No webhook ever announced anything of this user: nothing to reconcile against.
    assert metric("collector_documents_unannounced_total", data_type="daily_sleep") == before

    # Webhooks deliver for this user now; Oura dropped the announcement of the two newest
    # nights (within the run's overlap window), which no poll saw yet.
    await db.execute("DELETE FROM webhook_documents")
    announced, *dropped = nights[-3:]
    await record_announced(db, [(user_id, "daily_sleep", announced["id"])])
    await db.execute(
        "UPDATE webhook_documents SET polled_at = now() WHERE object_id = $1", announced["id"]
    )
    await db.executemany(
        "INSERT INTO webhook_documents (user_id, data_type, object_id, polled_at) "
        "VALUES ($1, 'daily_sleep', $2, now())",
        [(user_id, n["id"]) for n in nights[:-3]],
    )
    await run_daily(collector, only=daily_sleep)
    assert metric("collector_documents_unannounced_total", data_type="daily_sleep") == before + len(
        dropped
    )
    # Seen once by a poll, never counted again.
    await run_daily(collector, only=daily_sleep)
    assert metric("collector_documents_unannounced_total", data_type="daily_sleep") == before + len(
        dropped
    )


# --- the whole path ------------------------------------------------------------------------------


@pytest.fixture
def worker(topics: KafkaSettings, db_settings: DatabaseSettings, tmp_path: Path) -> Any:
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_TOPIC_PREFIX": topics.topic_prefix,
            "DB_NAME": db_settings.name,
            "PROCESSOR_GROUP_ID": f"test-processor-{uuid.uuid4().hex[:8]}",
            "PROCESSOR_METRICS_PORT": "0",
            "PROCESSOR_BATCH_WITHIN_S": "0.2",
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
        }
    )
    w = Worker(env, tmp_path / "worker.log")
    w.start()
    yield w
    w.stop()


async def test_a_signed_delivery_becomes_a_row_and_a_delete_removes_it(
    sim: SimulatorServer,
    db: asyncpg.Pool,
    db_settings: DatabaseSettings,
    cipher: TokenCipher,
    collector: Collector,
    topics: KafkaSettings,
    fetcher_settings: CollectorSettings,
    group_id: str,
    worker: Worker,
) -> None:
    secret = sim.simulator.config.client_secret
    gateway = create_app(
        make_settings(
            oura_client_secret=secret,
            oura_webhook_verification_token="verify-" + uuid.uuid4().hex,
            token_encryption_keys=collector.settings.token_encryption_keys.get_secret_value(),
        ),
        database=db_settings,
        kafka=topics,
    )
    user_id = await connect(db, sim, LOGIN, cipher)
    oura_user = sim.simulator.user(LOGIN).user_id
    night = served(sim, LOGIN, "daily_sleep", TODAY - timedelta(days=3), TODAY)[-1]

    async def deliver(client: httpx.AsyncClient, event_type: str) -> None:
        body = json.dumps(
            {
                "event_type": event_type,
                "data_type": "daily_sleep",
                "object_id": night["id"],
                "event_time": datetime.now(UTC).isoformat(),
                "user_id": oura_user,
            }
        ).encode()
        ts = str(int(time.time()))
        headers = {"x-oura-timestamp": ts, "x-oura-signature": sign(secret, ts, body)}
        response = await client.post("/webhooks/oura", content=body, headers=headers)
        assert response.status_code == 200, response.text

    async def rows() -> Any:
        return await db.fetch(
            "SELECT content_hash FROM daily_sleep WHERE user_id = $1 AND id = $2",
            user_id,
            night["id"],
        )

    async with gateway.router.lifespan_context(gateway):
        transport = httpx.ASGITransport(app=gateway)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
            fetcher_running(collector, topics, fetcher_settings),
        ):
            # Oura delivers twice (a retry): one row, with the document Oura serves.
            await deliver(client, "create")
            await deliver(client, "create")
            await eventually(lambda: _has_rows(rows, 1), 120, "the announced night stored")
            assert [bytes(r["content_hash"]) for r in await rows()] == [content_hash(night)]
            await wait_handled(topics, group_id, 2)
            assert await db.fetchval("SELECT count(*) FROM daily_sleep") == 1

            await deliver(client, "delete")
            await eventually(lambda: _has_rows(rows, 0), 120, "the deleted night removed")
    assert worker.alive(), worker.log()


async def _has_rows(rows: Any, count: int) -> bool:
    return len(await rows()) == count


async def test_a_simulated_sync_reaches_the_database_without_a_scheduled_run(
    sim: SimulatorServer,
    db: asyncpg.Pool,
    db_settings: DatabaseSettings,
    cipher: TokenCipher,
    collector: Collector,
    topics: KafkaSettings,
    fetcher_settings: CollectorSettings,
    worker: Worker,
) -> None:
    """Oura's whole loop: subscriptions made through the gateway's handshake, the ring syncs,
    the simulator posts signed events to the gateway, the fetcher fetches, the processor
    stores; no collector run."""
    user_id = await connect(db, sim, LOGIN, cipher)
    async with (
        subscribed_gateway(sim, db_settings, topics, fetcher_settings),
        fetcher_running(collector, topics, fetcher_settings),
    ):
        async with httpx.AsyncClient(base_url=sim.base_url) as admin:
            synced = await admin.post(
                "/_sim/sync", json={"users": [LOGIN], "data_types": ["session", "daily_sleep"]}
            )
        assert synced.status_code == 200, synced.text
        changes = synced.json()["changes"]
        assert {c["data_type"] for c in changes} == {"session", "daily_sleep"}

        async def stored() -> bool:
            for change in changes:
                table = change["data_type"]
                found = await db.fetchval(
                    f"SELECT count(*) FROM {table} WHERE user_id = $1 AND id = $2",
                    user_id,
                    change["object_id"],
                )
                if found != 1:
                    return False
            return True

        await eventually(stored, 120, "the synced documents stored")
    assert await db.fetchval("SELECT count(*) FROM collection_cursors") == 0, "no scheduled run"
    assert worker.alive(), worker.log()


async def test_webhooks_oura_dropped_are_filled_by_the_next_scheduled_run_and_counted(
    sim: SimulatorServer,
    db: asyncpg.Pool,
    db_settings: DatabaseSettings,
    cipher: TokenCipher,
    collector: Collector,
    topics: KafkaSettings,
    fetcher_settings: CollectorSettings,
    worker: Worker,
) -> None:
    """Polling is the safety net: a sync whose webhook Oura drops is stored by the next
    scheduled run, and that run counts it as a document no webhook announced."""
    user_id = await connect(db, sim, LOGIN, cipher)
    sessions = [BY_NAME["session"]]
    await run_daily(collector, only=sessions)  # the history, polled before webhooks existed

    async def stored(object_id: str) -> bool:
        found = await db.fetchval(
            "SELECT count(*) FROM session WHERE user_id = $1 AND id = $2", user_id, object_id
        )
        return bool(found == 1)

    async with (
        subscribed_gateway(sim, db_settings, topics, fetcher_settings),
        fetcher_running(collector, topics, fetcher_settings),
        httpx.AsyncClient(base_url=sim.base_url) as admin,
    ):

        async def sync() -> str:
            answer = await admin.post(
                "/_sim/sync", json={"users": [LOGIN], "data_types": ["session"]}
            )
            assert answer.status_code == 200, answer.text
            [change] = answer.json()["changes"]
            return str(change["object_id"])

        delivered = await sync()
        await eventually(lambda: stored(delivered), 120, "the announced session stored")

        assert (await admin.post("/_sim/webhooks", json={"drop_probability": 1.0})).is_success
        missed = await sync()

        async def dropped() -> bool:
            log = await admin.get("/_sim/webhooks/deliveries", params={"object_id": missed})
            return [d["outcome"] for d in log.json()["data"]] == ["dropped"]

        await eventually(dropped, 30, "Oura dropped the second sync's webhook")
        assert not await stored(missed)

    before = metric("collector_documents_unannounced_total", data_type="session")
    await run_daily(collector, only=sessions)
    await eventually(lambda: stored(missed), 120, "the scheduled run filled the gap")
    assert metric("collector_documents_unannounced_total", data_type="session") == before + 1
    assert worker.alive(), worker.log()
