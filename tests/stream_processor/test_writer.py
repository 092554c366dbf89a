"""OrderedWriter: batches overlap, but each batch's `after` runs in batch order, and a failed
write stops every `after` behind it. The processor here is a stand-in whose writes take chosen
times: what is under test is only the writer's ordering."""

from __future__ import annotations

import asyncio

import pytest

from stream_processor.pipeline import BatchResult, Prepared
from stream_processor.writer import OrderedWriter


class _TimedWrites:
    """Writes that take `seconds[i]` (batch i), set documents_written halfway, and fail for
    the batches in `failing`."""

    def __init__(self, seconds: list[float], failing: frozenset[int] = frozenset()) -> None:
        self.seconds = seconds
        self.failing = failing
        self.running = 0
        self.most_running = 0

    async def write(self, prepared: Prepared, written: asyncio.Event) -> BatchResult:
        index = int(prepared.started)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.seconds[index] / 2)
            written.set()
            await asyncio.sleep(self.seconds[index] / 2)
            if index in self.failing:
                raise RuntimeError(f"batch {index} failed")
            return BatchResult(consumed=index)
        finally:
            self.running -= 1


def _batch(index: int) -> Prepared:
    return Prepared(batch=[], valid=[], dead=[], started=float(index))


async def _run(processor: _TimedWrites, count: int) -> tuple[OrderedWriter, list[int]]:
    writer = OrderedWriter(processor)  # type: ignore[arg-type]
    done: list[int] = []

    async def after(prepared: Prepared, result: BatchResult) -> None:
        done.append(result.consumed)

    for index in range(count):
        await writer.make_room()
        writer.start(_batch(index), after)
    return writer, done


async def test_after_runs_in_batch_order_while_writes_overlap() -> None:
    # Later batches finish their writes sooner than earlier ones.
    processor = _TimedWrites([0.08, 0.01, 0.05, 0.01, 0.03, 0.01])
    writer, done = await _run(processor, 6)
    await writer.finish()
    assert done == [0, 1, 2, 3, 4, 5]
    assert processor.most_running == 2


async def test_a_failed_write_stops_everything_behind_it() -> None:
    processor = _TimedWrites([0.02, 0.04, 0.01], failing=frozenset({1}))
    writer = OrderedWriter(processor)  # type: ignore[arg-type]
    done: list[int] = []

    async def after(prepared: Prepared, result: BatchResult) -> None:
        done.append(result.consumed)

    with pytest.raises(RuntimeError, match="batch 1 failed"):
        for index in range(3):
            await writer.make_room()
            writer.start(_batch(index), after)
        await writer.finish()
    await writer.settle(1)
    assert done == [0]


async def test_settle_cancels_what_does_not_commit_in_time() -> None:
    processor = _TimedWrites([0.01, 5.0])
    writer, done = await _run(processor, 2)
    await writer.settle(0.2)
    assert done == [0]
    assert processor.running == 0
