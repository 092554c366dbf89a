"""The stream processor as a Faust app: the `persist` agent validates, dedupes and persists the
raw topics' records and emits their trends; Faust owns group membership, rebalances, flow
control and offset commits.

How records reach the agent (PROCESSOR_FEED):
  * `handoff` (default): the batch hand-off consumer (stream_processor.handoff) puts one batch
    per fetch on an in-memory channel; `persist` consumes those batches. ~10 µs of framework per
    record instead of Faust's ~110-170 µs per-message path.
  * `stream`: stock Faust API only: `persist` reads the raw topics as a stream of events in
    `noack_take` batches. Slower (it pays the per-message path), kept as the fallback should
    the pinned faust-streaming change under the hand-off.
Either way the agent runs with concurrency=1 and acknowledges a batch's messages only after its
transaction committed (stream_processor.persist).

Guarantees:
  * At-least-once: an offset is committed only after the PostgreSQL transaction holding its
    record committed, and in batch order; a worker killed at any point leaves the rest
    unacknowledged and it is redelivered; upserts make redelivery harmless.
  * One owner per user: every raw topic has RAW_PARTITIONS partitions keyed by user id, and
    Faust's assignor gives a member the same partition numbers of every topic it subscribes to
    (co-partitioned), so all of a user's records are processed by one worker. Trend
    recomputation also takes a per-user advisory lock, which keeps this true during a
    rebalance or next to a replay.
  * Rebalance: before partitions are taken away, the batches being written get
    `rebalance_wait_s` to commit; batches fetched before it are dropped unacknowledged and read
    again from the committed offsets.
  * Stop (SIGTERM): the batches being written get `stop_wait_s` to commit and their offsets
    are committed before the consumer leaves the group."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import faust
from faust.types import StreamT, TopicT
from faust.types.auth import CredentialsT
from mode import ServiceT
from mode.supervisors import CrashingSupervisor

from schemas.data_types import DATA_TYPES
from schemas.settings import DatabaseSettings, KafkaSettings
from schemas.topics import raw_topic
from stream_processor import handoff
from stream_processor.handoff import BatchFeed, RawBatch
from stream_processor.persist import Persister
from stream_processor.settings import ProcessorSettings

log = logging.getLogger(__name__)

BATCHES_IN_CHANNEL = 1
"""Fetched batches waiting for the agent: one keeps it busy (aiokafka prefetches the next), more
only hold memory."""


class ProcessorApp(faust.App):
    """A Faust app whose persister starts first and stops last, and whose stop lets the batches
    being written commit before the consumer commits and leaves."""

    persister: Persister
    batch_feed: BatchFeed
    stop_wait_s: float

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        return [self.persister, *super().on_init_dependencies()]

    async def on_stop(self) -> None:
        self.batch_feed.open = False  # the consumer puts, and the agent starts, no batch more
        await self.persister.settle(self.stop_wait_s)
        await super().on_stop()


def raw_topic_names(settings: ProcessorSettings, kafka: KafkaSettings) -> list[str]:
    types = settings.data_types or [t.name for t in DATA_TYPES]
    return [raw_topic(t, kafka.topic_prefix) for t in types]


def credentials(kafka: KafkaSettings) -> CredentialsT | None:
    """The same connection settings as the platform's aiokafka clients, as Faust takes them."""
    kwargs = kafka.client_kwargs()
    ssl_context = kwargs.get("ssl_context")
    mechanism = kwargs.get("sasl_mechanism")
    if mechanism == "OAUTHBEARER":
        return faust.OAuthCredentials(
            oauth_cb=kwargs["sasl_oauth_token_provider"], ssl_context=ssl_context
        )
    if mechanism is not None:
        return faust.SASLCredentials(
            username=kwargs["sasl_plain_username"],
            password=kwargs["sasl_plain_password"],
            ssl_context=ssl_context,
            mechanism=mechanism,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None


def build_app(
    settings: ProcessorSettings, kafka: KafkaSettings, db: DatabaseSettings
) -> ProcessorApp:
    if settings.feed == "handoff":
        handoff.check_version()
        handoff.register()
    scheme = handoff.SCHEME if settings.feed == "handoff" else "kafka"
    session_s = settings.session_timeout_s
    app = ProcessorApp(
        settings.group_id,
        broker=[f"{scheme}://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        broker_credentials=credentials(kafka),
        autodiscover=False,
        datadir=settings.data_dir,
        web_enabled=False,
        # Topics are created by `python -m migrations upgrade` from schemas/topics.py, and the
        # brokers run with auto-creation off (as MSK does): Faust declares none of its own.
        topic_allow_declare=False,
        topic_disable_leader=True,
        # Selects Faust's own assignor, which gives a member the same partition numbers of every
        # co-subscribed topic (one owner per user). The app has no tables to replicate.
        table_standby_replicas=1,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=settings.batch_size,
        consumer_max_fetch_size=settings.fetch_partition_bytes,
        broker_session_timeout=session_s,
        broker_heartbeat_interval=max(1.0, session_s / 10),
        broker_rebalance_timeout=max(60.0, settings.rebalance_wait_s * 2),
        # The persister waits for the batches being written (with a time limit); Faust's own
        # wait on tracked messages has none.
        stream_wait_empty=False,
        value_serializer="raw",
        key_serializer="raw",
    )
    app.stop_wait_s = settings.stop_wait_s
    app.persister = Persister(app, settings, kafka, db, loop=app.loop, beacon=app.beacon)
    app.batch_feed = BatchFeed(app.channel(maxsize=BATCHES_IN_CHANNEL), settings.fetch_max_bytes)
    topics = app.topic(*raw_topic_names(settings, kafka), value_serializer="raw", acks=True)
    _add_agent(app, settings, topics)

    async def settle(sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        revoked: set[Any] = args[0]
        app.persister.on_revoked(revoked)
        await app.persister.settle(settings.rebalance_wait_s)

    app.on_partitions_revoked.connect(settle)

    async def report_lag() -> None:
        app.persister.report_lag()

    app.timer(settings.lag_interval_s)(report_lag)

    return app


def _add_agent(app: ProcessorApp, settings: ProcessorSettings, topics: TopicT) -> None:
    # A failed batch is never acknowledged, so nothing after it could be committed either: the
    # worker stops (its restart reads from the committed offsets) instead of Faust restarting
    # the agent on partitions that could no longer commit. Database and broker errors are
    # retried inside the write; what fails here is a bug.
    persister = app.persister

    if settings.feed == "handoff":
        # The consumer reads the raw topics; registering them with the conductor subscribes
        # them, and their batches arrive on the feed's channel.
        app.topics.add(topics)

        @app.agent(
            app.batch_feed.channel,
            name="persist",
            concurrency=1,
            supervisor_strategy=CrashingSupervisor,
        )
        async def persist(batches: StreamT[RawBatch]) -> None:
            async for batch in batches:
                await persister.handle(batch)

        return

    @app.agent(topics, name="persist", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def persist_stream(stream: StreamT[bytes]) -> None:
        async for events in stream.noack_take(  # type: ignore[attr-defined]
            settings.batch_size, within=settings.batch_within_s
        ):
            messages = [event.message for event in events]
            await persister.handle(RawBatch(messages, app.rebalancing_count))
