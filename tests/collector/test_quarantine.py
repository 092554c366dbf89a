"""Per-document quarantine: over real HTTP (the simulator), the real broker and the real
database, a document the raw schema refuses costs only itself."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from collector.backfill import run_backfill
from collector.collect import run_daily
from oura_simulator.quirks import ONE_A_DAY, Quirk, quirks_of
from schemas.codec import EncodeError
from schemas.data_types import BY_NAME, DATA_TYPES
from schemas.examples import example_document
from schemas.quarantine import encode_quarantine, quarantine
from schemas.records import document_key
from schemas.topics import QUARANTINE
from tests.collector.conftest import sim_env
from tests.collector.helpers import TODAY, by_key, connect, read_quarantine, read_raw, served

ALL = [t.name for t in DATA_TYPES]
ROOT = Path(__file__).resolve().parents[2]


def _quarantined_total(data_type: str) -> float:
    value = REGISTRY.get_sample_value(
        "collector_documents_quarantined_total", {"data_type": data_type}
    )
    return value or 0.0


async def _cursor(db: Any, user_id: Any, data_type: str) -> Any:
    return await db.fetchrow(
        "SELECT cursor_day, status, last_error, documents_total FROM collection_cursors "
        "WHERE user_id = $1 AND data_type = $2",
        user_id,
        data_type,
    )


async def _patch(sim: Any, **body: Any) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        answer = await http.post("/_sim/patches", json=body)
        assert answer.status_code == 201, answer.text


def _window_of(sim: Any, data_type: str, count: int) -> Any:
    """The first day of the window that ends today and holds `count` documents."""
    since = TODAY
    while len(served(sim, "demo", data_type, since, TODAY)) < count:
        since -= timedelta(days=1)
    return since


async def test_one_unencodable_document_among_100_costs_only_itself(
    collector, sim, db, topics, cipher
) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    since = _window_of(sim, "daily_sleep", 100)
    bad_day = TODAY - timedelta(days=2)  # inside the next run's overlap: fetched twice
    await _patch(sim, data_type="daily_sleep", day=bad_day.isoformat(), set={"score": "81"})
    documents = served(sim, "demo", "daily_sleep", since, TODAY)
    [bad] = [d for d in documents if d["day"] == bad_day.isoformat()]
    assert len(documents) == 100 and bad["score"] == "81"
    before = _quarantined_total("daily_sleep")

    report = await run_backfill(
        collector, [(user_id, [])], since, today=TODAY, only=[BY_NAME["daily_sleep"]]
    )

    assert report.failures == [] and report.windows == 1
    assert report.documents == 99 and report.quarantined == 1
    records = await read_raw(topics, ["daily_sleep"])
    good = [d for d in documents if d is not bad]
    assert by_key("daily_sleep", [r.document for r in records]) == by_key("daily_sleep", good)
    [held] = await read_quarantine(topics)
    assert held.user_id == str(user_id) and held.data_type == "daily_sleep"
    assert held.document_key == bad["id"]
    assert json.loads(held.document_json) == bad
    assert held.endpoint == "/v2/usercollection/daily_sleep"
    assert held.error_class == "TypeError" and "score" in held.reason and "'81'" in held.reason
    assert held.fetched_at == records[0].fetched_at
    assert _quarantined_total("daily_sleep") == before + 1
    cursor = await _cursor(db, user_id, "daily_sleep")
    assert cursor["status"] == "ok" and cursor["cursor_day"] == TODAY
    assert cursor["documents_total"] == 99

    again = await run_daily(collector, today=TODAY, only=[BY_NAME["daily_sleep"]])

    assert again.failures == [] and again.exit_code == 0 and again.quarantined == 1
    assert (await _cursor(db, user_id, "daily_sleep"))["status"] == "ok"
    twice = await read_quarantine(topics)
    assert [q.document_key for q in twice] == [bad["id"]] * 2


async def test_an_id_less_daily_document_travels_and_an_id_less_sleep_is_quarantined(
    collector, sim, db, topics, cipher
) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    day = TODAY - timedelta(days=1)
    for data_type in ("daily_readiness", "sleep"):
        await _patch(sim, data_type=data_type, day=day.isoformat(), unset=["id"])
    only = [BY_NAME["daily_readiness"], BY_NAME["sleep"]]

    report = await run_daily(collector, today=TODAY, only=only)

    assert report.failures == []
    readiness = [r.document for r in await read_raw(topics, ["daily_readiness"])]
    [idless] = [d for d in readiness if "id" not in d or d["id"] is None]
    assert idless["day"] == day.isoformat()
    assert document_key("daily_readiness", idless) == f"daily_readiness:{day}"
    sleeps = served(sim, "demo", "sleep", day, day)
    held = await read_quarantine(topics)
    assert sleeps and len(held) == len(sleeps)
    assert {q.document_key for q in held} == {f"sleep:{day}:{s['bedtime_start']}" for s in sleeps}
    assert all(q.error_class == "EncodeError" and "id" in q.reason for q in held)
    assert (await _cursor(db, user_id, "sleep"))["status"] == "ok"


async def test_a_collection_through_data_quirks_quarantines_only_what_cannot_be_encoded(
    collector, sim, db, topics, cipher
) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        answer = await http.post("/_sim/data-quirks", json={"user": "demo", "enabled": True})
        assert answer.status_code == 200

    report = await run_daily(collector, today=TODAY)

    assert report.failures == [] and report.exit_code == 0
    start = TODAY - timedelta(days=collector.settings.initial_days - 1)
    records = await read_raw(topics, ALL)
    held = await read_quarantine(topics)
    assert report.documents == len(records) and report.quarantined == len(held) > 0
    expected_held: set[tuple[str, str]] = set()
    kinds_seen: set[Quirk] = set()
    for name in ALL:
        documents = served(sim, "demo", name, start, TODAY)
        odd = [d for d in documents if Quirk.CHANGED_TYPE in _kinds(name, d)]
        kinds_seen.update(k for d in documents for k in _kinds(name, d))
        expected_held |= {(name, document_key(name, d)) for d in odd}
        got = [r.document for r in records if r.data_type == name]
        # Avro has no "absent": a missing nullable field, id included, comes back as null.
        kept = [{"id": None, **d} if name in ONE_A_DAY else d for d in documents if d not in odd]
        assert by_key(name, got) == by_key(name, kept), name
        assert len(got) == len(kept), name
    assert kinds_seen == set(Quirk)
    assert {(q.data_type, q.document_key) for q in held} == expected_held
    assert {q.error_class for q in held} == {"TypeError"}
    idless = [r for r in records if r.data_type == "daily_sleep" and not r.document.get("id")]
    assert idless, "id-less daily documents travel as raw records"
    rows = await db.fetch(
        "SELECT status, count(*) AS n FROM collection_cursors WHERE user_id = $1 GROUP BY 1",
        user_id,
    )
    assert {r["status"] for r in rows} == {"ok"}


def _kinds(data_type: str, document: dict[str, Any]) -> frozenset[Quirk]:
    """The quirks the simulator gave a document: those of the day it is attributed to."""
    day_field = BY_NAME[data_type].day_field
    day = document.get(day_field) if day_field else None
    return quirks_of(data_type, date.fromisoformat(day)) if isinstance(day, str) else frozenset()


async def test_requeue_publishes_what_the_schema_now_takes(sim, topics, settings) -> None:
    """Before issue #16 an id-less daily document could not be encoded: what an older collector
    quarantined for that reason goes to its raw topic once, in its newest copy; what the schema
    still refuses stays."""
    user = "6f1c2f9e-1111-4c1e-9d7a-000000000002"
    idless = example_document("daily_sleep", day=TODAY - timedelta(days=1), seed=5)
    del idless["id"]
    stale = {**idless, "score": 12}
    odd = {**example_document("daily_sleep", day=TODAY, seed=6), "score": "81"}
    later = datetime.now(UTC).replace(microsecond=0)  # the records keep milliseconds
    first = later - timedelta(days=1)
    records = [
        quarantine(
            user_id=user,
            data_type="daily_sleep",
            document=doc,
            error=EncodeError("must be string on field id"),
            fetched_at=at,
            endpoint="/v2/usercollection/daily_sleep",
        )
        for doc, at in ((stale, first), (idless, later), (odd, later))
    ]
    producer = AIOKafkaProducer(**topics.client_kwargs(), acks="all")
    await producer.start()
    try:
        for record in records:
            topic = f"{topics.topic_prefix}{QUARANTINE}"
            await producer.send_and_wait(topic, encode_quarantine(record), key=user.encode())
    finally:
        await producer.stop()
    env = {
        **os.environ,
        **sim_env(settings),
        "KAFKA_TOPIC_PREFIX": topics.topic_prefix,
        "PYTHONPATH": str(ROOT),
    }

    for _ in range(2):  # a repeated requeue publishes the same content again, nothing else
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "collector", "requeue-quarantine", "--types", "daily_sleep"),
            env=env,
            cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, err.decode()
        assert out.decode() == (
            "requeue-quarantine: 3 quarantine records read, 1 documents requeued, "
            "1 still refused, 0 unreadable\n"
        )

    raw = await read_raw(topics, ["daily_sleep"])
    assert len(raw) == 2
    assert all(r.document == {"id": None, **idless} for r in raw)
    assert all(r.user_id == user and r.fetched_at == later for r in raw)
    assert document_key("daily_sleep", raw[0].document) == f"daily_sleep:{idless['day']}"
