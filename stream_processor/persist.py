"""What the `persist` agent runs per batch, and the resources it needs for that.

A batch is decoded and validated (`BatchProcessor.prepare`) while the batch before it is still
in its transaction; at most two transactions overlap and they finish in batch order
(stream_processor.writer). A batch's messages are acknowledged to Faust only after its
PostgreSQL transaction and every one before it committed, then Faust's commit logic commits
what is acknowledged: an offset never reaches the broker before the row it carries.

A batch fetched before the current rebalance is neither written nor acknowledged (see
stream_processor.handoff); one that was being written when the rebalance began gets
`rebalance_wait_s` to commit, and is not acknowledged after the rebalance either: the
partition's next owner reads it again, which the idempotent writes make harmless."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

import asyncpg
from faust.types import AppT, Message
from mode import Service

from schemas.settings import DatabaseSettings, KafkaSettings
from stream_processor import metrics
from stream_processor.handoff import RawBatch
from stream_processor.kafka_io import KafkaPublisher
from stream_processor.pipeline import BatchProcessor, BatchResult, Incoming, Prepared, last_offsets
from stream_processor.settings import ProcessorSettings
from stream_processor.storage.pool import open_pool
from stream_processor.writer import OrderedWriter

log = logging.getLogger(__name__)


def incoming(message: Message) -> Incoming:
    stamp = message.timestamp
    return Incoming(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        None if stamp is None else round(stamp * 1000),
    )


class Persister(Service):
    """The database pool, the producer of trends and dead letters, and the ordered writer.

    A Faust app dependency: started before the consumer, stopped after it (so the last
    acknowledged offsets are committed while the pool and producer are still open)."""

    def __init__(
        self,
        app: AppT,
        settings: ProcessorSettings,
        kafka: KafkaSettings,
        db: DatabaseSettings,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.settings = settings
        self._kafka = kafka
        self._db = db
        self.processed: dict[tuple[str, int], int] = {}
        self._pool: asyncpg.Pool | None = None
        self._publisher: KafkaPublisher | None = None
        self._writer: OrderedWriter | None = None
        self._committing: asyncio.Future[None] | None = None
        self._commit_again = False
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self._pool = await open_pool(self._db)
        metrics.track_pool(self._pool)
        self._publisher = KafkaPublisher(self._kafka)
        await self._publisher.start()
        processor = BatchProcessor(
            self._pool,
            self._publisher,
            topic_prefix=self._kafka.topic_prefix,
            retry_base_s=self.settings.retry_base_s,
            retry_cap_s=self.settings.retry_cap_s,
        )
        self._processor = processor
        self._writer = OrderedWriter(processor)

    async def on_stop(self) -> None:
        try:
            if self._publisher is not None:
                await self._publisher.stop()
        finally:
            if self._pool is not None:
                await self._pool.close()

    async def handle(self, batch: RawBatch) -> None:
        """Prepare a batch and start writing it; returns when the next batch may be prepared."""
        assert self._writer is not None
        prepared = await self._processor.prepare([incoming(m) for m in batch.messages])
        await self._writer.make_room()
        feed_open = self.app.batch_feed.open  # type: ignore[attr-defined]
        if not feed_open or batch.rebalance != self.app.rebalancing_count:
            log.info("batch read before a rebalance dropped", extra={"size": len(batch.messages)})
            return
        self._writer.start(prepared, functools.partial(self._committed, batch))

    async def settle(self, wait_s: float) -> None:
        """Give the batches being written `wait_s` seconds to commit (a rebalance, a stop), and
        commit what they acknowledged."""
        if self._writer is not None:
            await self._writer.settle(wait_s)
        if self._committing is not None:
            await asyncio.wait([self._committing], timeout=wait_s)

    async def _committed(self, batch: RawBatch, prepared: Prepared, _: BatchResult) -> None:
        """The batch and every one before it committed: acknowledge its offsets, and have Faust
        commit them."""
        if batch.rebalance != self.app.rebalancing_count:
            return
        consumer = self.app.consumer
        for message in batch.messages:
            consumer.ack(message)
        self.processed.update(last_offsets(prepared.batch))
        self._request_commit()

    def _request_commit(self) -> None:
        # In the background: the next batch's turn to finish must not wait for the broker's
        # answer (through Faust's consumer thread). One commit runs at a time; what is
        # acknowledged meanwhile goes with the next one.
        if self._committing is None or self._committing.done():
            self._commit_again = False
            self._committing = asyncio.ensure_future(self._commit())
        else:
            self._commit_again = True

    async def _commit(self) -> None:
        consumer = self.app.consumer
        again = True
        while again:
            self._commit_again = False
            try:
                await consumer.commit()
            except Exception as exc:  # Faust crashes the consumer on what it cannot survive
                log.warning(
                    "offsets not committed; the next commit takes them",
                    extra={"error": f"{type(exc).__name__}: {exc}"},
                )
            again = self._commit_again

    def on_revoked(self, revoked: set[Any]) -> None:
        if revoked:
            metrics.REBALANCES.inc()
        for tp in revoked:
            self.processed.pop((tp.topic, tp.partition), None)
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))

    def report_lag(self) -> None:
        consumer = self.app.consumer
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            done = self.processed.get((tp.topic, tp.partition))
            if highwater is None or done is None:
                continue
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                max(highwater - (done + 1), 0)
            )
