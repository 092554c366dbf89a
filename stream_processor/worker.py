"""`python -m stream_processor worker`: the faust app with its database pool and producer.

Started in our own event loop (faust_app_running) rather than through faust.Worker, so the
JSON logging of schemas.logs stays in charge and the pool and producer are opened before and
closed after the app. SIGTERM/SIGINT stop it gracefully: the batch in progress is finished and
committed if it can be; otherwise it is withheld and redelivered after the restart."""

from __future__ import annotations

import asyncio
import logging
import signal

import asyncpg
from faust.contrib.asgi import faust_app_running

from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import ensure_topics
from stream_processor.app import create_app
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
    publisher = KafkaPublisher(kafka)
    await publisher.start()
    processor = BatchProcessor(
        pool,
        publisher,
        topic_prefix=kafka.topic_prefix,
        retry_base_s=settings.retry_base_s,
        retry_cap_s=settings.retry_cap_s,
    )
    wrapper = create_app(settings, kafka, processor)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with faust_app_running(wrapper.app, stop_timeout=60):
            log.info(
                "processor started",
                extra={"group_id": settings.group_id, "topics": sorted(wrapper.topic.topics)},
            )
            await stop.wait()
            log.info("processor stopping")
    finally:
        await publisher.stop()
        await pool.close()
