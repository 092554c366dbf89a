"""`python -m stream_processor worker`: the raw-topic consumer with its database pool and
producer (the loop and its guarantees are described in stream_processor.app).

SIGTERM/SIGINT stop it gracefully: the batch being written is given time to commit and its
offsets are committed; otherwise it is redelivered after the restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import asyncpg

from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import ensure_topics
from stream_processor import metrics
from stream_processor.app import RawConsumer
from stream_processor.kafka_io import KafkaPublisher
from stream_processor.metrics import serve_metrics
from stream_processor.pipeline import BatchProcessor
from stream_processor.settings import ProcessorSettings

log = logging.getLogger(__name__)


async def open_pool(db: DatabaseSettings) -> asyncpg.Pool:
    """A pool that connects lazily: a database that is down at start is retried per batch."""
    pool = await asyncpg.create_pool(
        **db.asyncpg_kwargs(), min_size=0, max_size=max(2, db.pool_max // 2), command_timeout=120
    )
    assert pool is not None
    return pool


async def run_worker(
    settings: ProcessorSettings, kafka: KafkaSettings, db: DatabaseSettings
) -> None:
    serve_metrics(settings.metrics_port)
    await ensure_topics(kafka)
    pool = await open_pool(db)
    metrics.track_pool(pool)
    publisher = KafkaPublisher(kafka)
    await publisher.start()
    processor = BatchProcessor(
        pool,
        publisher,
        topic_prefix=kafka.topic_prefix,
        retry_base_s=settings.retry_base_s,
        retry_cap_s=settings.retry_cap_s,
    )
    consumer = RawConsumer(settings, kafka, processor)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    lag = asyncio.create_task(_report_lag(consumer, settings.lag_interval_s))
    try:
        await consumer.start()
        log.info(
            "processor started",
            extra={"group_id": settings.group_id, "topics": sorted(consumer.topics)},
        )
        await consumer.run(stop)  # returns within a fetch once stop is set; raises if it fails
        log.info("processor stopping")
    finally:
        lag.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lag
        try:
            await consumer.stop()
        finally:
            await publisher.stop()
            await pool.close()


async def _report_lag(consumer: RawConsumer, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        consumer.report_lag()
