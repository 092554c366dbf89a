"""Batches written two at a time and finished in order: what the worker and the replay share.

Batch N+1 starts its transaction once batch N has finished its upserts and holds its users'
trend locks (`BatchProcessor.write` sets `documents_written` then), so PostgreSQL writes N+1's
documents while the event loop computes N's trends. A user's trends are still computed and
published in batch order (N+1 waits for those locks), and row conflicts only ever make N+1 wait
for N, never the reverse: no deadlock.

Each batch's `after` callback (the worker commits its offsets there) runs only once the batch
and every batch before it committed, so offsets advance in batch order. A write that fails (a
bug: database and broker errors are retried inside `write`) is raised by the next
`make_room` / `finish`, and nothing after it gets its `after`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from stream_processor.pipeline import BatchProcessor, BatchResult, Prepared

log = logging.getLogger(__name__)

After = Callable[[Prepared, BatchResult], Awaitable[None]]

IN_FLIGHT = 2
"""Batches written at once: one upserting its documents while the one before it computes and
publishes its trends (PostgreSQL and the event loop each do one half at a time)."""


@dataclass(slots=True)
class _Writing:
    task: asyncio.Task[None]
    documents_written: asyncio.Event


class OrderedWriter:
    def __init__(self, processor: BatchProcessor) -> None:
        self._processor = processor
        self._writing: list[_Writing] = []

    async def make_room(self) -> None:
        """Wait until a new batch may start: fewer than IN_FLIGHT in flight, and the newest one
        past its upserts."""
        while self._writing:
            oldest = self._writing[0]
            if oldest.task.done():
                self._writing.pop(0)
                _raise_failure(oldest.task)
                continue
            if len(self._writing) >= IN_FLIGHT:
                await asyncio.wait([oldest.task])
                continue
            newest = self._writing[-1]
            waiter = asyncio.ensure_future(newest.documents_written.wait())
            try:
                await asyncio.wait([waiter, newest.task], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            return

    def start(self, prepared: Prepared, after: After) -> None:
        """Start writing a batch (call `make_room` first)."""
        previous = self._writing[-1].task if self._writing else None
        written = asyncio.Event()
        task = asyncio.create_task(self._write(prepared, written, previous, after))
        self._writing.append(_Writing(task, written))

    async def finish(self) -> None:
        """Wait for every batch in flight; raise the first failure."""
        writing, self._writing = self._writing, []
        if writing:
            await asyncio.wait([w.task for w in writing])
        for w in writing:
            _raise_failure(w.task)

    async def settle(self, wait_s: float) -> None:
        """Give the batches in flight `wait_s` seconds to commit; cancel those that did not
        (nothing after them is acknowledged, so they are redelivered)."""
        writing, self._writing = self._writing, []
        tasks = [w.task for w in writing if not w.task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=wait_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning(
                "batches not committed in time: they will be redelivered",
                extra={"batches": len(pending)},
            )

    async def _write(
        self,
        prepared: Prepared,
        written: asyncio.Event,
        previous: asyncio.Task[None] | None,
        after: After,
    ) -> None:
        result = await self._processor.write(prepared, written)
        if previous is not None:
            await asyncio.wait([previous])
            if previous.cancelled() or previous.exception() is not None:
                return
        await after(prepared, result)


def _raise_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
