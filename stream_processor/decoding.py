"""From a raw record's bytes to a row ready to write, or the reason it is refused: the CPU-bound
half of the processor.

    decode (codec) → validate → canonical JSON, serialized once (its bytes are both the content
    hash's input and the jsonb parameter) → typed columns

Measured and left out: decoding in a child process (ProcessPoolExecutor) freed the event loop
but did not raise the benchmark's rate (the writes set the pace) and added ~90 MB of RSS."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.codec import CodecError
from schemas.records import canonical_form, decode_raw
from schemas.topics import data_type_of
from stream_processor import metrics
from stream_processor.storage.documents import DocumentRow, to_row
from stream_processor.validation import ValidationError, validate

log = logging.getLogger(__name__)

SLICE_S = 0.001
"""Longest stretch of decoding between two yields to the event loop. The transactions in flight
resume on this same loop after each of their statements (dozens per batch); yielding after a
count of records held them back for milliseconds per statement (a heart-rate day takes ~0.2 ms
to decode). Yielding by elapsed time raised the benchmark's rate by ~9 %. (Slicing the trend
computation and the event encoding the same way measured no further gain.)"""


_INDEX = re.compile(r"\[\d+\]")
"""Row indexes in a field path (rows[17].bpm): the metric label keeps the field, not the row."""


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a record cannot be written."""

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
        key, notes = validate(record)
        for field in notes:
            metrics.QUALITY_FLAGS.labels(data_type, _INDEX.sub("[]", field)).inc()
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
            notes,
        )
    except (CodecError, ValidationError) as exc:
        return Refused(data_type, type(exc).__name__, str(exc))
    except Exception as exc:  # a bug or an input nobody foresaw: refuse, do not stop
        log.exception("unexpected error decoding a record", extra={"topic": topic})
        return Refused(data_type, type(exc).__name__, str(exc))


async def decode_batch(items: Sequence[tuple[str, bytes]], prefix: str) -> list[Outcome]:
    """(topic, value) pairs → outcomes, in order. It yields to the event loop now and then, so
    that the previous batches' transactions, waiting on PostgreSQL or the broker, go on."""
    out: list[Outcome] = []
    clock = time.perf_counter
    until = clock() + SLICE_S
    for topic, value in items:
        if clock() >= until:
            await asyncio.sleep(0)
            until = clock() + SLICE_S
        out.append(decode_one(topic, value, prefix))
    return out
