"""The quarantine record and what decides that a document needs one: derived keys, the record's
round trip, and values the Avro writer would bend instead of refusing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from schemas import documents
from schemas.codec import CodecError
from schemas.data_types import DATA_TYPES
from schemas.examples import example_document
from schemas.quarantine import (
    decode_quarantine,
    derived_key,
    document_json,
    encode_quarantine,
    quarantine,
)
from schemas.records import RawRecord, decode_raw, document_key, encode_raw

DAY = date(2026, 3, 14)
AT = datetime(2026, 3, 15, 6, 0, 0, 123000, tzinfo=UTC)


def _encode(data_type: str, document: dict[str, Any]) -> RawRecord:
    record = RawRecord("u1", data_type, document, AT, f"/v2/usercollection/{data_type}")
    return decode_raw(encode_raw(record))


@pytest.mark.parametrize("data_type", [t.name for t in DATA_TYPES])
def test_derived_keys(data_type: str) -> None:
    spec = next(t for t in DATA_TYPES if t.name == data_type)
    document = example_document(data_type, day=DAY, seed=2)
    if spec.has_id:
        assert derived_key(data_type, document) == document["id"]
    document.pop("id", None)
    key = derived_key(data_type, document)
    day = document.get(spec.day_field) if spec.day_field else None
    if day is None:
        assert key.startswith(f"{data_type}:sha256:") and len(key) == len(data_type) + 24
    elif spec.period_field:
        assert key == f"{data_type}:{day}:{document[spec.period_field]}"
    else:
        assert key == f"{data_type}:{day}" == document_key(data_type, document)
    assert derived_key(data_type, document) == key  # stable


def test_derived_key_of_what_is_not_even_an_object() -> None:
    assert derived_key("sleep", ["odd"]) == derived_key("sleep", ["odd"])
    assert derived_key("sleep", ["odd"]) != derived_key("sleep", ["other"])


def test_a_quarantine_record_round_trips_with_the_document_as_received() -> None:
    document = {"id": "x1", "day": "2026-03-14", "score": "81", "note": "caf\u00e9 \ud800"}
    held = quarantine(
        user_id="u1",
        data_type="daily_sleep",
        document=document,
        error=TypeError("['score']: expected an integer, got '81' \ud800"),
        fetched_at=AT,
        endpoint="/v2/usercollection/daily_sleep",
    )
    back = decode_quarantine(encode_quarantine(held))
    assert back == held
    assert back.document_key == "x1" and back.error_class == "TypeError"
    assert back.document_json == document_json(document)
    assert list(json.loads(back.document_json)) == list(document)


def test_a_raw_record_is_not_a_quarantine_record() -> None:
    raw = encode_raw(RawRecord("u1", "vo2_max", example_document("vo2_max", day=DAY), AT, "/x"))
    with pytest.raises(CodecError):
        decode_quarantine(raw)


@pytest.mark.parametrize("value", [47.5, "47", True, [47]])
def test_a_non_integer_in_an_integer_field_is_refused_not_truncated(value: Any) -> None:
    document = {**example_document("vo2_max", day=DAY), "vo2_max": value}
    with pytest.raises((TypeError, ValueError, CodecError)):
        _encode("vo2_max", document)


def test_an_integral_float_is_the_same_json_number() -> None:
    document = {**example_document("vo2_max", day=DAY), "vo2_max": 47.0}
    assert _encode("vo2_max", document).document["vo2_max"] == 47


def test_nested_integers_and_booleans_in_number_fields_are_checked() -> None:
    document = example_document("daily_sleep", day=DAY)
    document["contributors"]["rem_sleep"] = 88.8
    with pytest.raises(TypeError, match="rem_sleep"):
        documents.to_avro("daily_sleep", document)
    sleep = example_document("sleep", day=DAY)
    sleep["average_heart_rate"] = True
    with pytest.raises(TypeError, match="average_heart_rate"):
        documents.to_avro("sleep", sleep)


def test_an_id_less_daily_document_is_a_raw_record() -> None:
    document = example_document("daily_readiness", day=DAY)
    del document["id"]
    back = _encode("daily_readiness", document)
    assert back.document == {"id": None, **document}
    assert document_key("daily_readiness", back.document) == f"daily_readiness:{DAY}"
