"""The batch hand-off: a Faust transport whose consumer gives the agent one batch per fetch.

Faust's stock consumer (`Consumer._drain_messages`) hands records to agents one at a time, each
through `Service.wait_first` (a task per awaitable), the conductor, an Event and the stream
iterator: ~110-170 µs of framework per record on this project's 2-core machine, more than the
processor's own work (FAUST_NOTES.md; robinhood/faust#563). This consumer keeps everything else
of Faust's (group membership, rebalances, flow control, the read-offset and gap bookkeeping,
acks and the commit logic) and replaces only that per-record path: each fetch becomes one
`RawBatch` put on the app's batch channel, which the `persist` agent consumes.

`_drain_messages` is private API, so faust-streaming is pinned to the version this override was
written against (FAUST_VERSION) and tests/stream_processor/test_handoff.py fails when the
upstream method it replaces changes.

Why a batch may be dropped, and why nothing is lost then: every batch carries the app's
`rebalancing_count` read right after its fetch returned (a rebalance started later bumps it).
A batch older than the current count is dropped unacknowledged; each rebalance ends with
Faust seeking the assigned partitions back to their committed offsets, so its records are
fetched again by whoever owns them now. The count is read after the fetch, never before:
stamped before, a batch fetched by the new assignment (after that seek) would be dropped and
then lost."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ChannelT, Message
from mode import ServiceT

FAUST_VERSION = "0.15.3"
"""The faust-streaming release `HandoffConsumer._drain_messages` was written against."""

SCHEME = "myhealth-batch"
"""Broker URL scheme that selects this transport (`myhealth-batch://host:port`)."""


@dataclass(slots=True)
class RawBatch:
    """One fetch of the consumer: its messages in partition order, and the rebalance count it
    was fetched under."""

    messages: list[Message]
    rebalance: int


class BatchFeed:
    """What the consumer needs of the app: where to put batches, whether it still takes any,
    and how much one fetch may bring."""

    def __init__(self, channel: ChannelT[Any], fetch_max_bytes: int) -> None:
        self.channel = channel
        self.fetch_max_bytes = fetch_max_bytes
        self.open = True

    async def put(self, batch: RawBatch) -> bool:
        """Hand a batch to the agent; False when a rebalance dropped it while it waited.

        The channel's queue is bounded (maxsize): the consumer waits here while the agent is
        behind, which is the back-pressure that bounds the worker's memory. A rebalance clears
        the queue (Faust's flow control), and clearing cancels a put that is waiting for room:
        the batch is dropped like the ones in the queue (its records are read again from the
        committed offsets). A cancellation of this task itself still propagates."""
        try:
            await self.channel.put(batch)  # type: ignore[arg-type]  # a value, not an Event
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            return False
        return True


class HandoffConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Faust passes no fetch_max_bytes, which leaves aiokafka's 50 MiB per fetch response:
        # ~80 MB more RSS than the processor needs to keep its agent busy.
        feed: BatchFeed = self.app.batch_feed  # type: ignore[attr-defined]
        consumer._fetch_max_bytes = feed.fetch_max_bytes
        return consumer


class HandoffConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, draining whole fetches into the app's `BatchFeed`."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return HandoffConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        feed: BatchFeed = self.app.batch_feed  # type: ignore[attr-defined]
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set  # type: ignore[attr-defined]
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records, active = await self._wait_next_records(1.0)
                rebalance = self.app.rebalancing_count
                if not records or self.should_stop:
                    await asyncio.sleep(0)
                    continue
                if not self.flow_active:
                    # Fetched while a rebalance stopped the flow: go back to the committed
                    # offsets, as the stock getmany does.
                    await self.perform_seek()
                    continue
                messages = await self._track_offsets(records, active)
                self.diag.unset_flag(CONSUMER_FETCHING)
                if not messages or not feed.open:
                    continue
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
                await self.wait_first(
                    feed.put(RawBatch(messages, rebalance)), self.suspend_flow.wait()
                )
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _track_offsets(self, records: Any, active: set[TP] | None) -> list[Message]:
        """The fetch's records as Faust messages, with the read offsets and gaps the stock
        loop keeps (gaps let Faust commit past offsets a compacted or transactional topic never
        delivers)."""
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        to_message = self._to_message
        inbound = self.app.monitor.stream_inbound_time
        now = time.monotonic()
        messages: list[Message] = []
        for tp, tp_records in records.items():
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            last = read_offset[tp]
            for record in tp_records:
                offset = record.offset
                if last is not None and offset < last:
                    continue
                if last and offset - last > 1 and acks_enabled_for(tp.topic):
                    await self._add_gap(tp, last + 1, offset)
                messages.append(to_message(tp, record))
                last = offset
            read_offset[tp] = last
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            # What the stream sensors record per event, once per partition and fetch: Faust's
            # livelock detector reads it to tell a stalled partition from a busy one.
            inbound[tp] = now
        return messages


class HandoffTransport(faust_aiokafka.Transport):
    Consumer = HandoffConsumer


def register() -> None:
    """Make `myhealth-batch://` broker URLs select this transport."""
    TRANSPORTS.aliases[SCHEME] = f"{__name__}:HandoffTransport"


def check_version() -> None:
    """Refuse to run the override on a faust-streaming it was not written for."""
    if faust.__version__ != FAUST_VERSION:
        raise RuntimeError(
            f"the batch hand-off overrides a private method of faust-streaming {FAUST_VERSION}, "
            f"but {faust.__version__} is installed: pin it, or set PROCESSOR_FEED=stream"
        )
