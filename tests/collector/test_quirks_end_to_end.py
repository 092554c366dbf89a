"""Oura's quirks end to end: the simulator serves them over HTTP, the collector publishes (or
quarantines what cannot be encoded), the real stream processor stores every published
document, flagging the implausible fields instead of dead-lettering their documents."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from collector.collect import run_daily
from schemas.data_types import DATA_TYPES
from schemas.records import document_key
from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import DLQ
from tests.collector.helpers import TODAY, connect, read_raw
from tests.stream_processor.helpers import (
    ROOT,
    Worker,
    read_topic,
    wait_committed,
)

ALL = [t.name for t in DATA_TYPES]


async def test_quirky_data_is_stored_with_its_notes_and_nothing_is_dead_lettered(
    collector: Any,
    sim: Any,
    db: Any,
    topics: KafkaSettings,
    cipher: Any,
    db_settings: DatabaseSettings,
    group_id: str,
    tmp_path: Path,
) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        answer = await http.post("/_sim/data-quirks", json={"user": "demo", "enabled": True})
        assert answer.status_code == 200
    report = await run_daily(collector, today=TODAY)
    assert report.exit_code == 0 and report.quarantined > 0
    records = await read_raw(topics, ALL)

    env = {
        **os.environ,
        "KAFKA_TOPIC_PREFIX": topics.topic_prefix,
        "DB_NAME": db_settings.name,
        "PROCESSOR_GROUP_ID": group_id,
        "PROCESSOR_METRICS_PORT": "0",
        "PYTHONPATH": str(ROOT),
    }
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    try:
        await wait_committed(topics, group_id, len(records), worker)
        assert worker.stop() == 0, worker.log()
    finally:
        worker.kill()

    # Every published document is stored (the newest copy of each key); none is refused.
    assert await read_topic(topics, DLQ) == []
    for name in ALL:
        keys = {document_key(name, r.document) for r in records if r.data_type == name}
        rows = await db.fetch(f"SELECT id FROM {name} WHERE user_id = $1", user_id)
        assert {r["id"] for r in rows} == keys, name
    # The implausible nights are stored whole, their odd fields flagged and out of the columns.
    flagged = await db.fetch(
        "SELECT average_heart_rate, total_sleep_duration, quality FROM sleep"
        " WHERE user_id = $1 AND quality IS NOT NULL",
        user_id,
    )
    assert flagged, "data quirks serve implausible nights"
    for row in flagged:
        notes = json.loads(row["quality"])
        if "average_heart_rate" in notes:
            assert row["average_heart_rate"] is None
        assert row["total_sleep_duration"] is not None
    # Documents that came without an id are stored under their derived key.
    derived = await db.fetchval(
        "SELECT count(*) FROM daily_sleep WHERE user_id = $1 AND id LIKE 'daily_sleep:%'", user_id
    )
    assert derived > 0
