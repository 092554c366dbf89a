"""Quarantined documents: what the collector fetched but could not turn into a raw record.

A document the raw schema refuses travels on `oura.raw.quarantine` instead, as received, with
the reason, so one odd document never holds back the window it came in (see
schemas/avro/quarantine.avsc)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.codec import Codec, default_codec
from schemas.data_types import get
from schemas.records import API_VERSION, InvalidRecord, schema_name

QUARANTINE_FILE = "quarantine"
_REASON_LIMIT = 2_000


@dataclass(frozen=True, slots=True)
class QuarantinedDocument:
    user_id: str
    data_type: str
    document_key: str
    fetched_at: datetime
    endpoint: str
    document_json: str
    error_class: str
    reason: str
    api_version: str = API_VERSION


def document_json(document: Any) -> str:
    """Compact JSON in the order Oura sent the keys. Never raises: anything JSON cannot hold
    (only possible if a caller passes something that did not come from JSON) becomes its repr,
    and ASCII escapes keep a lone surrogate (valid in JSON, not in UTF-8) writable."""
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"), default=repr)


def derived_key(data_type: str, document: Any) -> str:
    """The document's Oura id, or a key made of what identifies it: `<type>:<day>` (the key
    `schemas.records.document_key` gives id-less documents), plus `:<start>` for types with
    several documents a day; a content hash when not even a day is readable."""
    if isinstance(document, dict):
        doc_id = document.get("id")
        if isinstance(doc_id, str) and doc_id:
            return doc_id
        spec = get(data_type)
        day = document.get(spec.day_field) if spec.day_field else None
        if isinstance(day, str) and day:
            start = document.get(spec.period_field) if spec.period_field else None
            return f"{data_type}:{day}:{start}" if isinstance(start, str) else f"{data_type}:{day}"
    digest = hashlib.sha256(document_json(document).encode()).hexdigest()[:16]
    return f"{data_type}:sha256:{digest}"


def quarantine(
    *,
    user_id: str,
    data_type: str,
    document: Any,
    error: BaseException,
    fetched_at: datetime,
    endpoint: str,
) -> QuarantinedDocument:
    """The quarantine record of `document`, refused with `error`."""
    return QuarantinedDocument(
        user_id=user_id,
        data_type=data_type,
        document_key=derived_key(data_type, document),
        fetched_at=fetched_at,
        endpoint=endpoint,
        document_json=document_json(document),
        error_class=type(error).__name__,
        # fastavro's messages can quote a whole sub-record; the document itself is kept anyway.
        reason=_writable(str(error)[:_REASON_LIMIT] or type(error).__name__),
    )


def _writable(text: str) -> str:
    """`text` with anything UTF-8 cannot encode (a quoted lone surrogate) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def encode_quarantine(record: QuarantinedDocument, codec: Codec | None = None) -> bytes:
    if record.fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware")
    datum = {
        "user_id": record.user_id,
        "data_type": record.data_type,
        "document_key": record.document_key,
        "fetched_at": int(record.fetched_at.timestamp() * 1000),
        "endpoint": record.endpoint,
        "api_version": record.api_version,
        "document_json": record.document_json,
        "error_class": record.error_class,
        "reason": record.reason,
    }
    return (codec or default_codec()).encode(schema_name(QUARANTINE_FILE), datum)


def decode_quarantine(data: bytes, codec: Codec | None = None) -> QuarantinedDocument:
    """Raises a CodecError subclass for anything that is not a quarantine record."""
    name, datum = (codec or default_codec()).decode(data)
    if name != schema_name(QUARANTINE_FILE):
        raise InvalidRecord(f"{name} is not a quarantine record")
    fetched = datum["fetched_at"]
    if not isinstance(fetched, datetime):
        fetched = datetime.fromtimestamp(fetched / 1000, UTC)
    return QuarantinedDocument(**{**datum, "fetched_at": fetched})
