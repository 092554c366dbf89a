"""Two workers in one group: a second worker joins mid-stream and the first leaves mid-stream.
Partitions move twice while batches are being written; the rows end exactly as expected, the
group hands each member the same partition numbers of every raw topic (one owner per user), and
the trends equal what a replay computes from scratch."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from schemas.settings import KafkaSettings
from schemas.topics import RAW_PREFIX
from tests.stream_processor.helpers import (
    DAILY_TYPES,
    Worker,
    committed_total,
    empty_data_tables,
    eventually,
    expected_rows,
    history,
    produce,
    run_replay,
    stored_rows,
    stored_trends,
)


async def _partition_numbers_by_member(
    settings: KafkaSettings, group: str
) -> dict[str, dict[str, set[int]]]:
    """member id -> raw topic -> partition numbers, as the group coordinator assigned them."""
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [(_, _, _, _, _, members)] = response.groups
    out: dict[str, dict[str, set[int]]] = {}
    for member_id, _, _, _, assignment in members:
        by_topic: dict[str, set[int]] = defaultdict(set)
        if assignment:
            decoded = ConsumerProtocolMemberAssignment.decode(assignment)
            for topic, partitions in decoded.assignment:
                by_topic[topic].update(partitions)
        out[member_id] = dict(by_topic)
    return out


async def test_workers_joining_and_leaving_mid_stream(
    topics: KafkaSettings,
    db: asyncpg.Pool,
    users: list[str],
    processor_env: dict[str, str],
    group_id: str,
    tmp_path: Path,
) -> None:
    env = {**processor_env, "PROCESSOR_BATCH_SIZE": "40"}
    first = Worker(env, tmp_path / "first.log")
    second = Worker(env, tmp_path / "second.log")
    records = history(users, days=60, seed=5)
    raw_count = len(records)
    try:
        first.start()
        half = raw_count // 2
        await produce(topics, records[:half])  # type: ignore[arg-type]

        async def progressed(target: int) -> bool:
            assert first.alive(), first.log()
            return await committed_total(topics, group_id) >= target

        await eventually(lambda: progressed(half // 2), 120, "a quarter committed")
        second.start()

        async def two_members() -> bool:
            members = await _partition_numbers_by_member(topics, group_id)
            return len(members) == 2 and all(members.values())

        await eventually(two_members, 120, "the second worker in the group")
        members = await _partition_numbers_by_member(topics, group_id)
        for assignment in members.values():
            raw = {t: p for t, p in assignment.items() if RAW_PREFIX in t}
            assert raw, "each member owns raw partitions"
            assert len({frozenset(p) for p in raw.values()}) == 1, raw
        owned = [next(iter(a.values())) for a in members.values()]
        assert not owned[0] & owned[1], "a partition number has one owner"

        # The rest arrives while both work, and the first leaves while it is being written.
        producing = asyncio.create_task(produce(topics, records[half:]))  # type: ignore[arg-type]
        await eventually(lambda: progressed(half + raw_count // 10), 120, "more committed")
        assert first.stop() == 0, first.log()
        await producing

        async def all_committed() -> bool:
            assert second.alive(), second.log()
            return await committed_total(topics, group_id) >= raw_count

        await eventually(all_committed, 180, "every record committed")
        assert await stored_rows(db, set(DAILY_TYPES)) == expected_rows(records, set(users))
        assert second.stop() == 0, second.log()
    finally:
        first.stop()
        second.stop()

    trends = await stored_trends(db)
    assert trends
    await empty_data_tables(db)
    run_replay(processor_env, "--from-beginning")
    assert await stored_trends(db) == trends
