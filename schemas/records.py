"""The records that travel on the topics: raw Oura documents with their envelope, and trends.

This is the one place that turns a document into bytes and back; everything else calls
`encode_raw` / `decode_raw` / `encode_trend` / `decode_trend`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson

import schemas.documents as documents
from schemas.codec import AVRO_DIR, Codec, CodecError, default_codec, load_avsc
from schemas.data_types import BY_NAME, get

API_VERSION = "1.37"
TREND_FILE = "trend"


class InvalidRecord(CodecError):
    """Decoded fine, but the envelope is not usable (unknown type, missing user)."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    user_id: str
    data_type: str
    document: dict[str, Any]
    fetched_at: datetime
    endpoint: str
    api_version: str = API_VERSION


@cache
def schema_name(file_stem: str) -> str:
    """Full Avro name of the current schema in `avro/<file_stem>.avsc`."""
    schema = load_avsc(AVRO_DIR / f"{file_stem}.avsc")
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


@cache
def _type_of_schema() -> dict[str, str]:
    return {schema_name(t): t for t in BY_NAME}


def _millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware")
    return int(moment.timestamp() * 1000)


def encode_raw(record: RawRecord, codec: Codec | None = None) -> bytes:
    get(record.data_type)  # a clear KeyError for an unknown type
    datum = {
        "user_id": record.user_id,
        "data_type": record.data_type,
        "fetched_at": _millis(record.fetched_at),
        "endpoint": record.endpoint,
        "api_version": record.api_version,
        "document": documents.to_avro(record.data_type, record.document),
    }
    return (codec or default_codec()).encode(schema_name(record.data_type), datum)


def decode_raw(data: bytes, codec: Codec | None = None) -> RawRecord:
    """Raises a CodecError subclass for anything that is not a usable raw record."""
    name, datum = (codec or default_codec()).decode(data)
    data_type = _type_of_schema().get(name)
    if data_type is None:
        raise InvalidRecord(f"{name} is not a raw Oura record schema")
    if datum.get("data_type") != data_type:
        raise InvalidRecord(f"envelope data_type {datum.get('data_type')!r} != schema {data_type}")
    if not datum.get("user_id"):
        raise InvalidRecord("envelope has no user_id")
    fetched = datum["fetched_at"]
    if not isinstance(fetched, datetime):
        fetched = datetime.fromtimestamp(fetched / 1000, UTC)
    try:
        document = documents.from_avro(data_type, datum["document"])
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidRecord(f"{data_type} document does not unpack: {exc}") from exc
    return RawRecord(
        user_id=datum["user_id"],
        data_type=data_type,
        document=document,
        fetched_at=fetched,
        endpoint=datum["endpoint"],
        api_version=datum["api_version"],
    )


def encode_trend(trend: dict[str, Any], codec: Codec | None = None) -> bytes:
    return (codec or default_codec()).encode(schema_name(TREND_FILE), trend)


def decode_trend(data: bytes, codec: Codec | None = None) -> dict[str, Any]:
    name, datum = (codec or default_codec()).decode(data)
    if name != schema_name(TREND_FILE):
        raise InvalidRecord(f"{name} is not a trend record")
    return datum


def canonical_json(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON with sorted keys: the bytes `content_hash` digests, and the processor
    stores the same bytes as the row's jsonb (serialized once).

    orjson writes what json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    writes, byte for byte, except floats below 1e-4 in magnitude (0.000015, not 1.5e-05) and
    non-finite floats (null; validation refuses them in every field it checks). Raises
    TypeError (orjson.JSONEncodeError) for what JSON cannot hold (a non-string key, an int
    beyond 64 bits)."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def canonical_form(document: dict[str, Any]) -> tuple[bytes, bytes]:
    """The canonical JSON and its content hash, for callers that store the JSON as well:
    the document is serialized once."""
    text = canonical_json(document)
    return text, hashlib.sha256(text).digest()


def content_hash(document: dict[str, Any]) -> bytes:
    """SHA-256 of the canonical JSON: equal content, equal hash, whatever the key order."""
    return canonical_form(document)[1]


def document_key(data_type: str, document: dict[str, Any]) -> str:
    """The document's Oura id, or a stable key derived from what identifies it.

    Older payloads of some types (cardiovascular age before 1.29) and heart-rate days carry no
    id; keying them by type and day makes a re-fetch of the same day an update, not a new row."""
    doc_id = document.get("id")
    if isinstance(doc_id, str) and doc_id:
        return doc_id
    day_field = get(data_type).day_field
    day = document.get(day_field) if day_field else None
    if not isinstance(day, str) or not day:
        raise ValueError(f"{data_type} document has neither an id nor a {day_field}")
    return f"{data_type}:{day}"
