"""An Avro raw record produced to and consumed from the real broker, keyed by user."""

from __future__ import annotations

from datetime import UTC, date, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.examples import example_document
from schemas.records import RawRecord, decode_raw, encode_raw
from schemas.settings import KafkaSettings
from schemas.topics import RAW_PARTITIONS, raw_topic


async def test_raw_record_round_trip_through_the_broker(
    topics: KafkaSettings, group_id: str
) -> None:
    topic = raw_topic("daily_activity", topics.topic_prefix)
    users = [f"user-{i}" for i in range(4)]
    sent = {
        user: RawRecord(
            user_id=user,
            data_type="daily_activity",
            document=example_document("daily_activity", day=date(2026, 1, 2), seed=i),
            fetched_at=datetime(2026, 1, 3, 5, 0, tzinfo=UTC),
            endpoint="/v2/usercollection/daily_activity",
        )
        for i, user in enumerate(users)
    }
    producer = AIOKafkaProducer(**topics.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for user, record in sent.items():
            await producer.send_and_wait(topic, encode_raw(record), key=user.encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, **topics.client_kwargs(), group_id=group_id, auto_offset_reset="earliest"
    )
    await consumer.start()
    received: dict[str, RawRecord] = {}
    partitions: dict[str, int] = {}
    try:
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "no records arrived within 10 s"
            for tp, messages in batch.items():
                for message in messages:
                    record = decode_raw(message.value)
                    assert message.key == record.user_id.encode()
                    received[record.user_id] = record
                    partitions[record.user_id] = tp.partition
    finally:
        await consumer.stop()

    assert received == sent
    assert all(0 <= p < RAW_PARTITIONS for p in partitions.values())
