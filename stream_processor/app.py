"""The faust app: one agent over every raw topic, taking batches and handing them to the pipeline.

Offset commits, as implemented by faust-streaming 0.15.3 (read in its source):
  * the aiokafka consumer runs with auto-commit off; faust commits, every
    `broker_commit_interval`, the end of the first run of consecutive *acknowledged* offsets;
  * `Stream.take_events(n, within)` (the event-yielding twin of `take`) turns per-event acks off
    and acknowledges a batch in the `finally` after its `yield`, i.e. when the agent asks for the
    next batch, and also when the generator is closed because the agent body raised or was
    cancelled.
So the agent body never raises on a failed write: `BatchProcessor.process` retries until the
batch's transaction committed, and only then does the loop move on and faust acknowledge the
batch (at-least-once). If the worker is stopped while a batch is still being retried, the batch
is *withheld*: its messages are marked acknowledged on the message objects only, which turns
the `finally` ack into a no-op, so their offsets never become committable and the batch is
redelivered after the restart. Nothing after it in this process is acknowledged (the agent is
gone), so faust's gap handling (#606) never gets a chance to commit past it.

`concurrency=1`: faust #606 can commit past an in-flight message when acks arrive out of order.
One agent instance processes batches strictly in order, so acks are in order per partition.
Every raw topic has RAW_PARTITIONS partitions keyed by user id; faust's assignor gives a worker
the same partition numbers of every co-partitioned topic, so all of a user's records (every
type) are processed by one worker: the single owner of that user's trends.

Overlap: the agent decodes batch N+1 while batch N's transaction runs in a task (one write at a
time, in batch order). take_events would acknowledge batch N as soon as the agent asks for
N+1, so every event is *held* first (one more reference on its message: take_events' ack is
then not the final one) and acknowledged for good by the task that wrote batch N, right after
its commit (so the last batch of a quiet stream is acknowledged too). On the way out an
in-flight batch that has not committed and been acknowledged is cancelled and withheld."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import EventT

from schemas.data_types import DATA_TYPES
from schemas.settings import KafkaSettings
from schemas.topics import RAW_PARTITIONS, raw_topic
from stream_processor import metrics
from stream_processor.pipeline import BatchProcessor, Incoming, Prepared, last_offsets
from stream_processor.settings import ProcessorSettings

log = logging.getLogger(__name__)


def broker_urls(kafka: KafkaSettings) -> list[str]:
    return [f"kafka://{host.strip()}" for host in kafka.bootstrap_servers.split(",") if host]


def broker_credentials(kafka: KafkaSettings) -> Any:
    """faust's credentials object for KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* (None: plaintext)."""
    kwargs = kafka.client_kwargs()
    ssl_context = kwargs.get("ssl_context")
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(ssl_context)
    if not kafka.security_protocol.startswith("SASL"):
        return None
    if kwargs["sasl_mechanism"] == "OAUTHBEARER":
        return faust.OAuthCredentials(
            oauth_cb=kwargs["sasl_oauth_token_provider"], ssl_context=ssl_context
        )
    return faust.SASLCredentials(
        username=kwargs["sasl_plain_username"],
        password=kwargs["sasl_plain_password"],
        ssl_context=ssl_context,
        mechanism=kwargs["sasl_mechanism"],
    )


def raw_topics(settings: ProcessorSettings, kafka: KafkaSettings) -> list[str]:
    types = settings.data_types or [t.name for t in DATA_TYPES]
    return [raw_topic(t, kafka.topic_prefix) for t in types]


class ProcessorApp:
    """The faust app plus the state its agent reports to (offsets processed, for the lag)."""

    def __init__(
        self, settings: ProcessorSettings, kafka: KafkaSettings, processor: BatchProcessor
    ) -> None:
        self.settings = settings
        self.processed: dict[tuple[str, int], int] = {}
        self.app = faust.App(
            settings.group_id,
            broker=broker_urls(kafka),
            broker_credentials=broker_credentials(kafka),
            store=settings.store,
            key_serializer="raw",
            value_serializer="raw",
            # Topics come from the registry (schemas.topics); faust creates none of its own.
            topic_allow_declare=False,
            topic_disable_leader=True,
            topic_partitions=RAW_PARTITIONS,
            web_enabled=False,
            autodiscover=False,
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=settings.session_timeout_s,
            broker_commit_interval=settings.commit_interval_s,
            broker_commit_every=10 * settings.batch_size,
            # Bounds what is buffered ahead of the agent per partition, hence the memory.
            stream_buffer_maxsize=min(settings.batch_size, 500),
            # Per partition and fetch: a heart-rate day is ~28 KB, so 256 KB fetched only ~9 of
            # them per round trip and starved the agent. Measured on 60k records: 512 KiB +20 %
            # records/s, peak RSS 231 MB; 1 MiB another +8 % but 294 MB (the goal is < 300).
            consumer_max_fetch_size=512 * 1024,
            broker_max_poll_records=settings.batch_size,
            stream_wait_empty=True,
            producer_acks=-1,
        )
        self.topic = self.app.topic(
            *raw_topics(settings, kafka),
            partitions=RAW_PARTITIONS,
            key_serializer="raw",
            value_serializer="raw",
        )
        self._processor = processor
        self.app.agent(self.topic, name="persist-raw-records", concurrency=1)(self._agent)
        self.app.timer(settings.lag_interval_s)(self._report_lag)

    async def _agent(self, stream: faust.StreamT[bytes]) -> None:
        """Batch N+1 is taken and decoded while batch N's transaction runs (see the module
        docstring, "Overlap"); batches are written one at a time, in order."""
        size, within = self.settings.batch_size, self.settings.batch_within_s
        take = stream.take_events(size, within=within)  # type: ignore[attr-defined]
        writing: _InFlight | None = None
        events: Sequence[EventT[Any]] = ()
        try:
            async for events in take:
                hold(events)
                prepared = await self._processor.prepare([_incoming(e) for e in events])
                if writing is not None:
                    await writing.task
                task = asyncio.create_task(self._write(stream, prepared, events))
                writing, events = _InFlight(task, events, prepared.batch), ()
        except BaseException:
            # Shutdown (or a bug) before a transaction committed: keep those offsets.
            if writing is not None:
                await self._settle(writing)
            if events:
                withhold(self.app, events)
                log.warning("batch withheld: it will be redelivered", extra={"size": len(events)})
            raise

    async def _write(
        self, stream: faust.StreamT[bytes], prepared: Prepared, events: Sequence[EventT[Any]]
    ) -> None:
        """Commit a batch, then acknowledge its offsets (at-least-once)."""
        await self._processor.write(prepared)
        for event in events:
            await stream.ack(event)
        self.processed.update(last_offsets(prepared.batch))

    async def _settle(self, writing: _InFlight) -> None:
        """On the way out: an in-flight batch that has not committed and been acknowledged by
        now is cancelled and withheld."""
        task = writing.task
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
        if task.cancelled() or task.exception() is not None:
            withhold(self.app, writing.events)
            log.warning(
                "batch withheld: it will be redelivered", extra={"size": len(writing.batch)}
            )

    async def _report_lag(self) -> None:
        consumer = self.app.consumer
        for tp in consumer.assignment():
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not fetched yet
                continue
            if highwater is None:
                continue
            done = self.processed.get((tp.topic, tp.partition))
            lag = highwater - (done + 1) if done is not None else None
            if lag is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(lag, 0))


def create_app(
    settings: ProcessorSettings, kafka: KafkaSettings, processor: BatchProcessor
) -> ProcessorApp:
    """Build the faust app (not started) around a batch processor."""
    return ProcessorApp(settings, kafka, processor)


def _incoming(event: EventT[Any]) -> Incoming:
    message = event.message
    stamp = message.timestamp
    return Incoming(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value or b"",
        timestamp_ms=int(stamp * 1000) if stamp else None,
    )


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A batch whose transaction is running in `task`; its events are held until it commits."""

    task: asyncio.Task[None]
    events: Sequence[EventT[Any]]
    batch: Sequence[Incoming]


def hold(events: Iterable[EventT[Any]]) -> None:
    """Take a reference on each event's message so that take_events' own acknowledgement (when
    the agent asks for the next batch) is not the last one: the offsets become committable only
    at the ack after the batch's commit (`ProcessorApp._finish`)."""
    for event in events:
        event.message.incref()


def withhold(app: faust.App, events: Iterable[EventT[Any]]) -> None:
    """Make sure these events' offsets are never committed by this process.

    `Message.ack` is a no-op for a message already marked acked, so take_events' `finally` ack
    no longer reaches the consumer's committable set; dropping the messages from the unacked
    set lets `wait_empty` finish the shutdown instead of waiting for them."""
    unacked = app.consumer._unacked_messages  # type: ignore[attr-defined]
    for event in events:
        event.message.acked = True
        unacked.discard(event.message)
