"""The README's consumer example decodes real records with only the .avsc files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from schemas.examples import example_document
from schemas.records import RawRecord, encode_raw
from schemas.settings import KafkaSettings
from schemas.topics import raw_topic

ROOT = Path(__file__).resolve().parents[2]


async def test_consumer_example_decodes_records_from_the_avsc_files(topics: KafkaSettings) -> None:
    topic = raw_topic("daily_activity", topics.topic_prefix)
    documents = [example_document("daily_activity", day=date(2026, 5, d), seed=d) for d in (1, 2)]
    producer = AIOKafkaProducer(**topics.client_kwargs(), acks="all")
    await producer.start()
    try:
        for doc in documents:
            record = RawRecord("user-7", "daily_activity", doc, datetime.now(UTC), "/v2/x")
            await producer.send_and_wait(topic, encode_raw(record), key=b"user-7")
    finally:
        await producer.stop()

    out = subprocess.run(  # noqa: ASYNC221 - the example is a separate program
        [sys.executable, str(ROOT / "docs" / "consumer_example.py"),
         "--bootstrap", topics.bootstrap_servers, "--topic", topic,
         "--schemas", str(ROOT / "schemas" / "avro"), "--max", "2"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(x["id"], x["day"]) for x in lines] == [(d["id"], d["day"]) for d in documents]
    assert all(x["user_id"] == "user-7" for x in lines)
    assert [x["met_items"] for x in lines] == [len(d["met"]["items"]) for d in documents]
