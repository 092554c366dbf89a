"""The flat-record writer writes exactly what fastavro writes, and leaves fastavro what it does
not take."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import documents
from schemas.codec import HEADER_LEN, EncodeError, default_codec
from schemas.flat_writer import compile_flat_writer
from schemas.records import TREND_FILE, schema_name

TREND = documents.avsc("trend")

_TEXT = st.text(max_size=80)
_NUMBER = st.floats() | st.integers(-(2**53), 2**53)
_ODD = st.sampled_from([None, True, "x", 1.5, 7, [1], {"a": 1}, b"raw"])


def _fastavro(datum: dict[str, Any]) -> bytes | str:
    out = io.BytesIO()
    try:
        schemaless_writer(out, parse_schema(dict(TREND)), datum)
    except Exception as exc:
        return type(exc).__name__
    return out.getvalue()


@settings(max_examples=800, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "user_id": _TEXT,
            "day": _TEXT,
            "metric": _TEXT,
            "value": st.none() | _NUMBER,
            "mean_7d": st.none() | _NUMBER,
            "mean_28d": st.none() | _NUMBER,
            "baseline": st.none() | _NUMBER,
            "baseline_spread": st.none() | _NUMBER,
            "deviation": st.none() | _NUMBER,
            "direction": st.sampled_from(["up", "down", "flat"]) | _TEXT,
            "flag": st.booleans(),
            "in_progress": st.booleans(),
            "computed_at": st.integers(-(2**63), 2**63 - 1),
        }
    ),
    st.sampled_from([None, *(f["name"] for f in TREND["fields"])]),
    _ODD,
)
def test_trend_records_are_written_as_fastavro_writes_them(
    datum: dict[str, Any], spoiled: str | None, odd: Any
) -> None:
    if spoiled is not None:
        datum = {**datum, spoiled: odd}
    fast = compile_flat_writer(TREND)(datum)
    if fast is not None:
        assert fast == _fastavro(datum)
    codec = default_codec()
    try:
        encoded: bytes | None = codec.encode(schema_name(TREND_FILE), datum)
    except EncodeError:
        encoded = None
    expected = _fastavro(datum)
    if isinstance(expected, bytes):
        assert encoded is not None and encoded[HEADER_LEN:] == expected
    else:
        assert encoded is None


def test_records_with_nested_types_are_left_to_fastavro() -> None:
    with pytest.raises(ValueError, match="not flat"):
        compile_flat_writer(documents.avsc("sleep"))
