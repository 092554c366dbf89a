"""`python -m collector subscriptions ensure | list | renew | delete` against the simulator's
subscription API over HTTP, with the real gateway's receiver answering Oura's verification
handshake at the callback URL.

Expiry is made by the simulator's clock: a subscription created while that clock reads eight
days ago (lifetime seven days) comes back already expired by the real clock the commands go by;
one created five days ago expires within the renewal window (three days)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from collector.settings import CollectorSettings
from collector.webhooks.subscription_api import SubscriptionApi
from collector.webhooks.subscriptions import Subscriptions, record_metrics, wanted_pairs
from gateway.app import create_app
from oura_simulator import SimulatorConfig, SimulatorServer
from schemas.settings import DatabaseSettings, KafkaSettings
from tests.collector.conftest import sim_env
from tests.gateway.conftest import LiveServer, make_settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERIFICATION = "verification-" + uuid.uuid4().hex
# Webhook data types the platform collects (schemas.data_types, OURA_API_V2.md §4.1).
WEBHOOK_TYPES = {
    "daily_sleep",
    "sleep",
    "daily_activity",
    "daily_readiness",
    "daily_spo2",
    "daily_stress",
    "daily_resilience",
    "daily_cardiovascular_age",
    "vo2_max",
    "workout",
    "session",
    "enhanced_tag",
    "sleep_time",
    "rest_mode_period",
    "ring_configuration",
}
ALL_PAIRS = {(event, t) for t in WEBHOOK_TYPES for event in ("create", "update", "delete")}


@pytest.fixture
def sim_config() -> SimulatorConfig:
    # The real clock (no fixed day): expiry is compared with the real time.
    return SimulatorConfig(users=1, redirect_uris=("http://127.0.0.1:9/callback",))


@pytest.fixture
def receiver(
    db: asyncpg.Pool, db_settings: DatabaseSettings, topics: KafkaSettings, sim: SimulatorServer
) -> Iterator[str]:
    """The gateway's webhook receiver, served over HTTP: the callback URL."""
    settings = make_settings(
        oura_client_id=sim.simulator.config.client_id,
        oura_client_secret=sim.simulator.config.client_secret,
        oura_webhook_verification_token=VERIFICATION,
    )
    with LiveServer(create_app(settings, database=db_settings, kafka=topics)) as server:
        yield f"{server.url}/webhooks/oura"


@pytest.fixture
def webhook_settings(settings: CollectorSettings, receiver: str) -> CollectorSettings:
    return settings.model_copy(
        update={
            "oura_webhook_callback_url": receiver,
            "oura_webhook_verification_token": SecretStr(VERIFICATION),
        }
    )


@pytest.fixture
async def commands(webhook_settings: CollectorSettings) -> AsyncIterator[Subscriptions]:
    async with SubscriptionApi(webhook_settings) as api:
        yield Subscriptions(api, webhook_settings)


def sim_clock(sim: SimulatorServer, now: datetime) -> None:
    httpx.post(f"{sim.base_url}/_sim/clock", json={"now": now.isoformat()}).raise_for_status()


def stored(sim: SimulatorServer) -> dict[tuple[str, str], dict[str, Any]]:
    """The simulator's subscriptions by (event type, data type), as the admin API shows them."""
    body = httpx.get(f"{sim.base_url}/_sim/webhooks").json()
    found = {(s["event_type"], s["data_type"]): s for s in body["subscriptions"]}
    assert len(found) == len(body["subscriptions"]), "one subscription per pair"
    return found


def expires(subscription: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(subscription["expiration_time"])


async def test_ensure_creates_one_per_event_and_data_type_and_keeps_good_ones(
    commands: Subscriptions, sim: SimulatorServer, receiver: str
) -> None:
    outcome = await commands.ensure()

    assert outcome.failures == []
    assert len(outcome.lines) == len(ALL_PAIRS)
    assert all(line.startswith("created: ") for line in outcome.lines)
    first = stored(sim)
    assert set(first) == ALL_PAIRS
    assert {s["callback_url"] for s in first.values()} == {receiver}
    assert all(s["active"] for s in first.values())

    again = await commands.ensure()
    assert again.failures == [] and again.lines == []
    assert again.unchanged == len(ALL_PAIRS)
    assert stored(sim) == first, "good subscriptions are left alone"


async def test_only_the_granted_data_types_are_subscribed(
    webhook_settings: CollectorSettings, sim: SimulatorServer
) -> None:
    daily_only = webhook_settings.model_copy(update={"oura_scopes": ["email", "daily"]})
    async with SubscriptionApi(daily_only) as api:
        outcome = await Subscriptions(api, daily_only).ensure()
    assert outcome.failures == []
    types = {data_type for _, data_type in stored(sim)}
    assert types == {
        "daily_sleep",
        "sleep",
        "daily_activity",
        "daily_readiness",
        "daily_stress",
        "sleep_time",
        "rest_mode_period",
        "ring_configuration",
    }


async def test_renew_renews_what_expires_within_the_window_only(
    commands: Subscriptions, sim: SimulatorServer
) -> None:
    now = datetime.now(UTC)
    sim_clock(sim, now - timedelta(days=5))
    await commands.ensure()  # every subscription expires in about two days
    soon = stored(sim)
    sim_clock(sim, now)
    for pair in [("create", "sleep"), ("delete", "workout")]:
        await commands.api.delete(soon[pair]["id"])
    await commands.ensure()  # those two again, with a full lifetime
    before = stored(sim)

    outcome = await commands.renew(now=now)

    assert outcome.failures == []
    after = stored(sim)
    fresh = {("create", "sleep"), ("delete", "workout")}
    renewed = {pair for pair in after if after[pair] != before[pair]}
    assert renewed == ALL_PAIRS - fresh
    for pair in renewed:
        assert after[pair]["id"] == before[pair]["id"], "renewed in place"
        assert expires(after[pair]) > now + timedelta(days=3) > expires(before[pair])
    assert sum(line.startswith("renewed: ") for line in outcome.lines) == len(renewed)
    assert len(outcome.lines) == len(renewed) and outcome.unchanged == len(fresh)


async def test_an_expired_subscription_is_recreated_by_ensure(
    commands: Subscriptions, sim: SimulatorServer, receiver: str
) -> None:
    now = datetime.now(UTC)
    sim_clock(sim, now - timedelta(days=8))
    await commands.ensure()
    sim_clock(sim, now)
    lapsed = stored(sim)
    assert not any(s["active"] for s in lapsed.values())

    # renew does not bring a lapsed subscription back: it says so and fails.
    renewal = await commands.renew(now=now)
    assert len(renewal.failures) == len(ALL_PAIRS)
    expired = [f for f in renewal.failures if f.startswith("expired, run `subscriptions ensure`: ")]
    assert expired == renewal.failures

    outcome = await commands.ensure(now=now)

    assert outcome.failures == []
    assert sum(line.startswith("deleted (expired): ") for line in outcome.lines) == len(ALL_PAIRS)
    assert sum(line.startswith("created: ") for line in outcome.lines) == len(ALL_PAIRS)
    recreated = stored(sim)
    assert set(recreated) == ALL_PAIRS
    for pair, subscription in recreated.items():
        assert subscription["active"] and subscription["id"] != lapsed[pair]["id"]
        assert expires(subscription) > now + timedelta(days=6)
        assert subscription["callback_url"] == receiver


async def test_ensure_points_a_stray_callback_back_at_the_receiver(
    commands: Subscriptions, sim: SimulatorServer, receiver: str
) -> None:
    await commands.ensure()
    # The same receiver under another host name, as after a move of the public address.
    elsewhere = receiver.replace("127.0.0.1", "localhost")
    moved = stored(sim)[("update", "daily_sleep")]
    await commands.api.update(moved["id"], callback_url=elsewhere, verification_token=VERIFICATION)

    outcome = await commands.ensure()

    assert outcome.failures == []
    assert outcome.lines == [
        f"callback updated: update daily_sleep ({moved['id']}, expires "
        f"{expires(moved).astimezone(UTC).isoformat(timespec='seconds')})"
    ]
    assert {s["callback_url"] for s in stored(sim).values()} == {receiver}


async def test_delete_removes_the_given_subscriptions_or_all(
    commands: Subscriptions, sim: SimulatorServer
) -> None:
    await commands.ensure()
    chosen = [stored(sim)[("create", "daily_sleep")]["id"], stored(sim)[("delete", "sleep")]["id"]]

    some = await commands.delete([*chosen, "no-such-id"])

    assert some.failures == ["no subscription no-such-id"]
    assert sum(line.startswith("deleted: ") for line in some.lines) == 2
    assert set(stored(sim)) == ALL_PAIRS - {("create", "daily_sleep"), ("delete", "sleep")}

    everything = await commands.delete()
    assert everything.failures == [] and stored(sim) == {}


async def test_expiry_gauges_follow_the_subscriptions(
    commands: Subscriptions, webhook_settings: CollectorSettings
) -> None:
    now = datetime.now(UTC)
    outcome = await commands.ensure(now=now)
    record_metrics(outcome.subscriptions, wanted_pairs(webhook_settings), now)
    labels = {"event_type": "create", "data_type": "daily_sleep"}
    left = REGISTRY.get_sample_value("collector_webhook_subscription_expiry_seconds", labels)
    at = REGISTRY.get_sample_value(
        "collector_webhook_subscription_expiration_timestamp_seconds", labels
    )
    assert left is not None and at is not None
    assert left == pytest.approx(at - now.timestamp())
    assert left > 6 * 86400
    assert REGISTRY.get_sample_value("collector_webhook_subscriptions_missing") == 0

    gone = await commands.delete()
    record_metrics(gone.subscriptions, wanted_pairs(webhook_settings), now)
    assert REGISTRY.get_sample_value("collector_webhook_subscriptions_missing") == len(ALL_PAIRS)
    assert (
        REGISTRY.get_sample_value("collector_webhook_subscription_expiry_seconds", labels) is None
    )


# ---------------------------------------------------------------- the command line


def run_cli(
    settings: CollectorSettings, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        **sim_env(settings),
        "OURA_WEBHOOK_CALLBACK_URL": settings.oura_webhook_callback_url,
        "OURA_WEBHOOK_VERIFICATION_TOKEN": VERIFICATION,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "collector", "subscriptions", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_command_line_prints_what_it_did_and_a_table(
    webhook_settings: CollectorSettings, sim: SimulatorServer, receiver: str
) -> None:
    ensure = await asyncio.to_thread(run_cli, webhook_settings, "ensure")
    assert ensure.returncode == 0, ensure.stdout + ensure.stderr
    assert ensure.stdout.count("created: ") == len(ALL_PAIRS)
    assert ensure.stdout.startswith(
        f"subscriptions ensure: {len(ALL_PAIRS)} subscriptions, {len(ALL_PAIRS)} changed, "
        "0 unchanged, 0 failed\n"
    )

    listing = await asyncio.to_thread(run_cli, webhook_settings, "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ID", "EVENT", "DATA", "TYPE", "EXPIRES", "IN", "CALLBACK"]
    assert lines[-1] == f"{len(ALL_PAIRS)} subscriptions"
    rows = lines[1:-1]
    assert len(rows) == len(ALL_PAIRS)
    assert {row.split()[0] for row in rows} == {s["id"] for s in stored(sim).values()}
    assert all(row.split()[-1] == receiver for row in rows)

    renew = await asyncio.to_thread(run_cli, webhook_settings, "renew")
    assert renew.returncode == 0
    assert renew.stdout == (
        f"subscriptions renew: {len(ALL_PAIRS)} subscriptions, 0 changed, "
        f"{len(ALL_PAIRS)} unchanged, 0 failed\n"
    )

    delete = await asyncio.to_thread(run_cli, webhook_settings, "delete")
    assert delete.returncode == 0 and stored(sim) == {}


async def test_the_command_line_fails_with_one_line_and_no_secret(
    webhook_settings: CollectorSettings, sim: SimulatorServer
) -> None:
    wrong = await asyncio.to_thread(
        run_cli, webhook_settings, "list", OURA_CLIENT_SECRET="not-the-secret-" + uuid.uuid4().hex
    )
    assert wrong.returncode == 1
    assert wrong.stdout.startswith("FAILED: GET /v2/webhook/subscription failed: HTTP 401")
    assert "Traceback" not in wrong.stdout + wrong.stderr
    assert "not-the-secret" not in wrong.stdout + wrong.stderr
    assert VERIFICATION not in wrong.stdout + wrong.stderr

    unconfigured = await asyncio.to_thread(
        run_cli, webhook_settings, "ensure", OURA_WEBHOOK_CALLBACK_URL=""
    )
    assert unconfigured.returncode == 2
    assert unconfigured.stderr == (
        "python -m collector: error: OURA_WEBHOOK_CALLBACK_URL and "
        "OURA_WEBHOOK_VERIFICATION_TOKEN must be set\n"
    )

    ids_elsewhere = await asyncio.to_thread(run_cli, webhook_settings, "renew", "some-id")
    assert ids_elsewhere.returncode == 2 and "only taken by delete" in ids_elsewhere.stderr

    # A callback that fails Oura's handshake: every create is refused, each named once.
    broken = await asyncio.to_thread(
        run_cli, webhook_settings, "ensure", OURA_WEBHOOK_VERIFICATION_TOKEN="wrong-token"
    )
    assert broken.returncode == 1
    assert broken.stdout.count("FAILED: ") == len(ALL_PAIRS)
    assert "HTTP 400" in broken.stdout and "Traceback" not in broken.stderr
    assert stored(sim) == {}
