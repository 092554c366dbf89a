"""From a raw record's bytes to a row ready to write, or the reason it is refused: the CPU-bound
half of the processor, optionally run in separate processes.

    decode (codec) → validate → canonical JSON, serialized once (its bytes are both the content
    hash's input and the jsonb parameter) → typed columns

Why processes: on the benchmark data this step is about half of the worker's CPU, and the
worker's event loop is one core. With `PROCESSOR_DECODE_PROCESSES=1` a batch is decoded in a
child process while the event loop writes the previous batch and reads the next one, so the
machine's second core is used. Only the record values go to the child and only rows and
refusals come back (pickled), so the child needs no broker or database connection.

Children are started with `spawn` (never `fork` a process with a running event loop and
threads) and ignore SIGINT/SIGTERM: the worker decides when they stop. A child that dies makes
the batch fail loudly (BrokenProcessPool) and the worker exit without committing it."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from schemas.codec import CodecError
from schemas.logs import configure_logging
from schemas.records import canonical_form, decode_raw
from schemas.topics import data_type_of
from stream_processor.storage.documents import DocumentRow, to_row
from stream_processor.validation import ValidationError, validate

log = logging.getLogger(__name__)

_PARENT_CHECK_S = 1.0
_YIELD_EVERY = 32
"""Records decoded in-process between two yields to the event loop."""


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a record cannot be written (picklable: the exception itself stays in the child)."""

    data_type: str
    error_class: str
    error_message: str


Outcome = DocumentRow | Refused


def data_type_for(topic: str, prefix: str) -> str:
    try:
        return data_type_of(topic, prefix)
    except ValueError:
        return "unknown"


def decode_one(topic: str, value: bytes, prefix: str) -> Outcome:
    data_type = data_type_for(topic, prefix)
    try:
        record = decode_raw(value)
        if record.data_type != data_type:
            raise ValidationError(record.data_type, [f"a {record.data_type} record on {topic}"])
        key = validate(record)
        try:
            text, digest = canonical_form(record.document)
        except TypeError as exc:  # orjson: a non-string key, an int beyond 64 bits
            raise ValidationError(data_type, [f"not representable as JSON: {exc}"]) from exc
        return to_row(
            data_type,
            record.user_id,
            key,
            record.document,
            text.decode(),
            digest,
            record.fetched_at,
        )
    except (CodecError, ValidationError) as exc:
        return Refused(data_type, type(exc).__name__, str(exc))
    except Exception as exc:  # a bug or an input nobody foresaw: refuse, do not stop
        log.exception("unexpected error decoding a record", extra={"topic": topic})
        return Refused(data_type, type(exc).__name__, str(exc))


def decode_many(items: Sequence[tuple[str, bytes]], prefix: str) -> list[Outcome]:
    """(topic, value) pairs → outcomes, in order. Runs in a child process."""
    return [decode_one(topic, value, prefix) for topic, value in items]


def _child_init(log_level: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging("stream_processor", log_level)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    # A worker killed with SIGKILL cannot stop its children; they notice it is gone (they are
    # re-parented) and leave, rather than lingering as orphans.
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_S)
    os._exit(0)


class Decoder:
    """Decodes batches in-process (processes=0) or in a pool of `processes` children."""

    def __init__(self, prefix: str, processes: int = 0, log_level: str = "INFO") -> None:
        self._prefix = prefix
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None
        if processes > 0:
            self._pool = ProcessPoolExecutor(
                max_workers=processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_init,
                initargs=(log_level,),
            )

    async def warm_up(self) -> None:
        """Start the children now (imports take a second) rather than on the first batch."""
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(
                    loop.run_in_executor(self._pool, decode_many, [], self._prefix)
                    for _ in range(self._processes)
                )
            )

    async def decode(self, items: Sequence[tuple[str, bytes]]) -> list[Outcome]:
        if self._pool is None:
            return await self._in_process(items)
        loop = asyncio.get_running_loop()
        size = -(-len(items) // self._processes)
        chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
        parts = await asyncio.gather(
            *(loop.run_in_executor(self._pool, decode_many, c, self._prefix) for c in chunks)
        )
        return [outcome for part in parts for outcome in part]

    async def _in_process(self, items: Sequence[tuple[str, bytes]]) -> list[Outcome]:
        # Yield now and then so that a previous batch's transaction, waiting on PostgreSQL or
        # the broker, goes on meanwhile.
        out: list[Outcome] = []
        for index, (topic, value) in enumerate(items):
            if index and not index % _YIELD_EVERY:
                await asyncio.sleep(0)
            out.append(decode_one(topic, value, self._prefix))
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
