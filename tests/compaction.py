"""Compaction on demand for tests and benchmarks: the broker's cleaner made quick, topics whose
segments roll at once, and filler tombstones that keep rolling them until a condition holds.

Kafka compacts only segments that are no longer active, and rolls the active one only when a
record arrives after `segment.ms`; the cleaner itself looks for work every
`log.cleaner.backoff.ms` (15 s by default, a dynamic broker setting)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.settings import KafkaSettings
from schemas.topics import TopicSpec, delete_topics, ensure_topics, registry

FORCED_COMPACTION = {
    "segment.ms": "200",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "500",
    "min.compaction.lag.ms": "0",
    "max.compaction.lag.ms": "1000",
}
CLEANER_BACKOFF_MS = 500
FILLER_KEY = b"compaction-filler"
"""Tombstones under this key roll the segments; the processor skips them (no document key)."""


def compacted(spec: TopicSpec) -> bool:
    return spec.config.get("cleanup.policy") == "compact"


def forcing(specs: list[TopicSpec]) -> list[TopicSpec]:
    """The same topics, the compacted ones compacting within about a second."""
    return [
        dataclasses.replace(s, config={**s.config, **FORCED_COMPACTION}) if compacted(s) else s
        for s in specs
    ]


async def quick_cleaner(settings: KafkaSettings) -> None:
    """Lower `log.cleaner.backoff.ms` on every broker, keeping the brokers' other dynamic
    settings (a non-incremental AlterConfigs replaces them all)."""
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        for broker in cluster["brokers"]:
            resource = ConfigResource(ConfigResourceType.BROKER, str(broker["node_id"]))
            [response] = await admin.describe_configs([resource])
            entries = response.resources[0][4]
            current = {e[0]: e[1] for e in entries}
            if int(current["log.cleaner.backoff.ms"]) <= CLEANER_BACKOFF_MS:
                continue
            dynamic = {e[0]: e[1] for e in entries if e[3] == 2 and e[1] is not None}
            dynamic["log.cleaner.backoff.ms"] = str(CLEANER_BACKOFF_MS)
            answers = await admin.alter_configs(
                [ConfigResource(ConfigResourceType.BROKER, resource.name, configs=dynamic)]
            )
            assert all(r[0] == 0 for a in answers for r in a.resources), answers
    finally:
        await admin.close()


@asynccontextmanager
async def compacting_topics(
    kafka: KafkaSettings, topic_prefix: str
) -> AsyncIterator[KafkaSettings]:
    """The registry's topics under `topic_prefix`, the compacted ones compacting within about a
    second (the broker's cleaner made quick); deleted afterwards."""
    settings = kafka.model_copy(update={"topic_prefix": topic_prefix})
    specs = forcing(registry(topic_prefix))
    await quick_cleaner(settings)
    await ensure_topics(settings, specs)
    try:
        yield settings
    finally:
        await delete_topics(settings, [s.name for s in specs])


def every_partition(specs: list[TopicSpec]) -> list[tuple[str, int]]:
    return [(s.name, p) for s in specs for p in range(s.partitions)]


async def compact_until(
    settings: KafkaSettings,
    targets: list[tuple[str, int]],
    done: Callable[[], Awaitable[bool]],
    *,
    within_s: float = 180.0,
) -> None:
    """Append a filler tombstone (a key of no user: the processor skips it) to each (topic,
    partition) of `targets` now and then, so their segments keep rolling and the cleaner keeps
    finding work, until `done()` holds.

    Only the partitions that matter, with pauses: the cleaner takes the log with the highest
    share of dirty bytes first, so partitions holding fillers alone, dirtied faster than it
    sweeps them, would starve the ones that matter."""
    producer = AIOKafkaProducer(**settings.client_kwargs(), acks="all", linger_ms=0)
    await producer.start()
    deadline = time.monotonic() + within_s
    try:
        while True:
            for _ in range(4):
                sent = [
                    await producer.send(topic, None, key=FILLER_KEY, partition=partition)
                    for topic, partition in targets
                ]
                await asyncio.gather(*sent)
                await asyncio.sleep(0.5)
            if await done():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"compaction did not reach the condition in {within_s} s")
    finally:
        await producer.stop()
