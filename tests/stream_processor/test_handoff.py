"""The batch hand-off: pinned to the faust-streaming it overrides, and whole fetches reaching the
agent through the real worker."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
import tomllib
import uuid
from typing import Any

import asyncpg
import faust
import httpx
import pytest
from faust.transport.consumer import Consumer

from schemas.settings import KafkaSettings
from stream_processor import handoff
from stream_processor.handoff import BatchFeed, RawBatch
from tests.stream_processor.helpers import (
    DAILY_TYPES,
    ROOT,
    Worker,
    committed_total,
    expected_rows,
    free_port,
    history,
    produce,
    stored_rows,
    wait_committed,
)

# sha256 of the upstream methods HandoffConsumer._drain_messages replaces or relies on, as
# faust-streaming 0.15.3 ships them. A new release that changes any of them must be read
# before the pin moves: the override keeps their bookkeeping (read offsets, gaps, commit_every,
# flow control) and would silently drift from it.
UPSTREAM = {
    "_drain_messages": "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417",
    "getmany": "4b168d84882a70d6e3e2f9804430a63b92f8fd117d3187cbb4aeb54305bda34e",
    "_wait_next_records": "6218e1969a636b3ff504ad1b8e7ad58a113572e43d746cc96d684ed5153032c6",
    "_add_gap": "4df2573ded7c1c2cde04dc6bde6d4480cb5875ef565256e56966b585ae39b1c1",
}


@pytest.mark.parametrize("method", sorted(UPSTREAM))
def test_the_overridden_upstream_methods_are_the_ones_it_was_written_against(method: str) -> None:
    source = inspect.getsource(getattr(Consumer, method))
    assert hashlib.sha256(source.encode()).hexdigest() == UPSTREAM[method], (
        f"faust's Consumer.{method} changed: review stream_processor/handoff.py against it"
    )


def test_faust_is_pinned_to_that_version() -> None:
    assert faust.__version__ == handoff.FAUST_VERSION
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("faust-streaming")]
    assert pins == [f"faust-streaming=={handoff.FAUST_VERSION}"]


def test_another_faust_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(RuntimeError, match="PROCESSOR_FEED=stream"):
        handoff.check_version()


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"{name} not exported"
    return float(match.group(1))


async def test_whole_fetches_reach_the_agent_and_every_offset_is_committed(
    topics: KafkaSettings, db: asyncpg.Pool, users: list[str], worker: Worker, group_id: str
) -> None:
    port = free_port()
    worker.env.update({"PROCESSOR_METRICS_PORT": str(port), "PROCESSOR_BATCH_SIZE": "500"})
    records = history(users, days=20, seed=5)
    await produce(topics, records)  # type: ignore[arg-type]
    worker.start()

    await wait_committed(topics, group_id, len(records), worker)
    assert await committed_total(topics, group_id) == len(records)
    assert await stored_rows(db, set(DAILY_TYPES)) == expected_rows(records, set(users))
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    batches = _metric(text, "processor_batch_size_count")
    assert _metric(text, "processor_batch_size_sum") == len(records)
    # One batch per fetch: records arrive hundreds at a time, not one by one.
    assert batches <= len(records) / 20, f"{batches} batches for {len(records)} records"
    assert worker.stop() == 0, worker.log()


async def _waiting_for_room(queue: Any) -> None:
    for _ in range(1000):
        if queue._putters:
            return
        await asyncio.sleep(0)
    raise AssertionError("the put never waited for room")


async def test_a_rebalance_drops_a_batch_waiting_for_room_without_crashing_the_fetcher() -> None:
    """Faust suspends and clears the agents' queues on a rebalance, which cancels a put still
    waiting for room: that batch is dropped like those in the queue, and the fetcher goes on (a
    CancelledError there crashed the worker)."""
    app = faust.App(f"handoff-{uuid.uuid4().hex[:6]}", autodiscover=False)
    app.flow_control.resume()
    feed = BatchFeed(app.channel(maxsize=1), 1024 * 1024)
    queue = feed.channel.__aiter__().queue  # the agent's subscription to the channel
    assert await feed.put(RawBatch([], 0))  # its queue is full now
    waiting = asyncio.create_task(feed.put(RawBatch([], 0)))
    await _waiting_for_room(queue)
    app.flow_control.suspend()
    app.flow_control.clear()
    assert await waiting is False

    app.flow_control.resume()
    assert await feed.put(RawBatch([], 0))  # full again
    stopped = asyncio.create_task(feed.put(RawBatch([], 0)))
    await _waiting_for_room(queue)
    stopped.cancel()  # the worker stopping: that cancellation is not swallowed
    with pytest.raises(asyncio.CancelledError):
        await stopped
