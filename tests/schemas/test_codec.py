"""The codec: single-object encoding, fingerprints, schema evolution, and garbage input."""

from __future__ import annotations

import contextlib
import copy
import struct
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import codec as codec_mod
from schemas.codec import Codec, CodecError, CorruptRecord, UnknownSchema, schema_fingerprint
from schemas.data_types import DATA_TYPES
from schemas.examples import example_document
from schemas.records import RawRecord, decode_raw, encode_raw, schema_name

PERSON_V1: dict[str, Any] = {
    "type": "record",
    "name": "Person",
    "namespace": "test",
    "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}],
}
PERSON_V2: dict[str, Any] = {
    **PERSON_V1,
    "fields": [
        *PERSON_V1["fields"],
        {"name": "nickname", "type": ["null", "string"], "default": None},
    ],
}


def test_wire_format_is_avro_single_object_encoding() -> None:
    codec = Codec([PERSON_V1])
    data = codec.encode("test.Person", {"name": "Ada", "age": 36})
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == schema_fingerprint(PERSON_V1)
    # Body: zig-zag varint length-prefixed string, then zig-zag int (36 -> 72).
    assert data[10:] == b"\x06Ada" + bytes([72])


def test_fingerprint_is_crc64_avro_of_canonical_form() -> None:
    # The Avro specification's reference value for the schema "int".
    assert schema_fingerprint({"type": "int"}) == struct.pack("<Q", 0x7275D51A3F395C8F)


def test_new_reader_reads_old_records_with_defaults() -> None:
    old = Codec([PERSON_V1]).encode("test.Person", {"name": "Ada", "age": 36})
    name, datum = Codec([PERSON_V2], history=[PERSON_V1]).decode(old)
    assert name == "test.Person"
    assert datum == {"name": "Ada", "age": 36, "nickname": None}


def test_old_reader_reads_new_records() -> None:
    new = Codec([PERSON_V2]).encode("test.Person", {"name": "Ada", "age": 36, "nickname": "A"})
    _, datum = Codec([PERSON_V1], history=[PERSON_V2]).decode(new)
    assert datum == {"name": "Ada", "age": 36}


def test_unknown_fingerprint_is_refused() -> None:
    data = Codec([PERSON_V2]).encode("test.Person", {"name": "A", "age": 1, "nickname": None})
    with pytest.raises(UnknownSchema):
        Codec([PERSON_V1]).decode(data)


def test_truncated_and_trailing_bytes_are_corrupt() -> None:
    codec = Codec([PERSON_V1])
    data = codec.encode("test.Person", {"name": "Ada", "age": 36})
    with pytest.raises(CorruptRecord):
        codec.decode(data[:-2])
    with pytest.raises(CorruptRecord):
        codec.decode(data + b"\x00")


def test_encoding_a_wrong_datum_raises_the_codecs_error() -> None:
    with pytest.raises(CodecError):
        Codec([PERSON_V1]).encode("test.Person", {"name": "Ada", "age": "old"})


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_codec_errors(data: bytes) -> None:
    with contextlib.suppress(CodecError):  # anything else fails the test
        decode_raw(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([t.name for t in DATA_TYPES]))
def test_random_bodies_behind_a_valid_header_only_raise_codec_errors(
    body: bytes, data_type: str
) -> None:
    header = b"\xc3\x01" + codec_mod.default_codec().fingerprint_of(schema_name(data_type))
    with contextlib.suppress(CodecError):  # anything else fails the test
        decode_raw(header + body)


def _record(data_type: str, seed: int = 1) -> RawRecord:
    return RawRecord(
        user_id="6f1c2f9e-1111-4c1e-9d7a-000000000001",
        data_type=data_type,
        document=example_document(data_type, day=date(2026, 3, 14), seed=seed),
        fetched_at=datetime(2026, 3, 15, 6, 0, 0, 123000, tzinfo=UTC),
        endpoint=f"/v2/usercollection/{data_type}",
    )


@pytest.mark.parametrize("data_type", [t.name for t in DATA_TYPES])
def test_every_data_type_round_trips(data_type: str) -> None:
    record = _record(data_type)
    assert decode_raw(encode_raw(record)) == record


def _with_added_field(schema: dict[str, Any]) -> dict[str, Any]:
    evolved = copy.deepcopy(schema)
    evolved["fields"].append(
        {"name": "added_later", "type": ["null", "string"], "default": None, "doc": "v2 field"}
    )
    return evolved


@pytest.mark.parametrize("data_type", [t.name for t in DATA_TYPES])
def test_shipped_schemas_evolve_both_ways(data_type: str) -> None:
    current, _ = codec_mod.load_schema_dir()
    v1 = next(s for s in current if _full_name(s) == schema_name(data_type))
    v2 = _with_added_field(v1)
    others = [s for s in current if s is not v1]
    record = _record(data_type, seed=7)
    old_bytes = encode_raw(record)
    new_codec = Codec([*others, v2], history=[v1])
    assert decode_raw(old_bytes, new_codec) == record
    new_bytes = encode_raw(record, new_codec)
    assert new_bytes[2:10] != old_bytes[2:10]
    old_codec = Codec(current, history=[v2])
    assert decode_raw(new_bytes, old_codec) == record


def _full_name(schema: dict[str, Any]) -> str:
    name = str(schema["name"])
    return name if "." in name else f"{schema.get('namespace')}.{name}"
