"""Oura JSON documents <-> the Avro datum of a raw record's `document` field.

The Avro records mirror the Oura models field for field, so most of a document passes through
unchanged. Two things are packed because they dominate decode cost (see
benchmarks/bench_series_encoding.py): sample series (`PublicSample`) become a float64 byte string
plus the indices of its nulls, and a heart-rate day becomes parallel columns. Keys that Oura sends
but the schema does not know yet travel in `unknown_fields_json`, so the raw topic stays a
lossless copy of what Oura returned.
"""

from __future__ import annotations

import json
import math
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any

from fastavro import parse_schema

from schemas.data_types import BY_NAME, get

AVRO_DIR = Path(__file__).parent / "avro"
TREND = "trend"
QUARANTINE = "quarantine"
WEBHOOK_EVENT = "webhook_event"
HEARTRATE = "heartrate"
UNKNOWN_FIELDS = "unknown_fields_json"
PACKED_SAMPLE = "PackedSample"

_NAN = math.nan
_SAMPLE_KEYS = frozenset({"interval", "items", "timestamp"})
_HR_DOC_KEYS = frozenset({"day", "rows"})
_HR_ROW_KEYS = frozenset({"timestamp", "timestamp_unix", "bpm", "source"})
# array's typecodes use the machine's byte order; the wire format is little-endian.
_SWAP = sys.byteorder == "big"

Json = dict[str, Any]


def schema_names() -> tuple[str, ...]:
    """Every schema file stem: the 17 raw data types, the trend, the quarantine record and the
    webhook event."""
    return (*BY_NAME, TREND, QUARANTINE, WEBHOOK_EVENT)


@cache
def _avsc(name: str) -> Json:
    if name not in (TREND, QUARANTINE, WEBHOOK_EVENT):
        get(name)  # a clear KeyError naming the valid types
    loaded: Json = json.loads((AVRO_DIR / f"{name}.avsc").read_text())
    return loaded


def avsc(name: str) -> Json:
    """The schema of `avro/<name>.avsc` as written (a fresh copy the caller may change)."""
    copied: Json = json.loads(json.dumps(_avsc(name)))
    return copied


@cache
def load_schema(name: str) -> Json:
    """The fastavro-parsed schema of a raw data type or of `trend`. Shared: do not mutate."""
    parsed: Any = parse_schema(avsc(name))
    return dict(parsed)


@cache
def document_schema(data_type: str) -> Json:
    """The fastavro-parsed schema of a raw type's `document` record alone. Do not mutate."""
    parsed: Any = parse_schema(_document_record(avsc(data_type)))
    return dict(parsed)


def _document_record(raw_schema: Json) -> Json:
    for fld in raw_schema["fields"]:
        if fld["name"] == "document":
            record: Json = fld["type"]
            return record
    raise ValueError(f"{raw_schema['name']} has no document field")


# --- the plan: what the Avro side of each record knows, read once from the .avsc ---------------


@dataclass(frozen=True, slots=True)
class _Plan:
    fields: frozenset[str]
    records: dict[str, _Plan] = field(default_factory=dict)
    record_arrays: dict[str, _Plan] = field(default_factory=dict)
    samples: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    doubles: tuple[str, ...] = ()


def _non_null(avro_type: Any) -> Any:
    if isinstance(avro_type, list):
        return next(t for t in avro_type if t != "null")
    return avro_type


def _type_name(avro_type: Any) -> str | None:
    if isinstance(avro_type, str):
        return avro_type.rsplit(".", 1)[-1]
    if isinstance(avro_type, dict) and avro_type.get("type") == "record":
        return str(avro_type["name"])
    return None


def _compile(record: Json, defined: dict[str, Json]) -> _Plan:
    defined[record["name"]] = record
    names = {f["name"] for f in record["fields"]} - {UNKNOWN_FIELDS}
    records: dict[str, _Plan] = {}
    arrays: dict[str, _Plan] = {}
    samples: list[str] = []
    integers: list[str] = []
    doubles: list[str] = []
    for fld in record["fields"]:
        avro_type = _non_null(fld["type"])
        if avro_type in ("int", "long"):
            integers.append(fld["name"])
        elif avro_type in ("float", "double"):
            doubles.append(fld["name"])
        elif _type_name(avro_type) == PACKED_SAMPLE:
            samples.append(fld["name"])
        elif isinstance(avro_type, dict) and avro_type.get("type") == "record":
            records[fld["name"]] = _compile(avro_type, defined)
        elif isinstance(avro_type, str) and _type_name(avro_type) in defined:
            records[fld["name"]] = _compile(defined[_type_name(avro_type) or ""], defined)
        elif isinstance(avro_type, dict) and avro_type.get("type") == "array":
            item = avro_type["items"]
            if isinstance(item, dict) and item.get("type") == "record":
                arrays[fld["name"]] = _compile(item, defined)
    return _Plan(frozenset(names), records, arrays, tuple(samples), tuple(integers), tuple(doubles))


@cache
def _plan(data_type: str) -> _Plan:
    return _compile(_document_record(_avsc(data_type)), {})


# --- public conversions -------------------------------------------------------------------------


def to_avro(data_type: str, document: Mapping[str, Any]) -> Json:
    """Oura JSON document -> Avro datum for the raw record's `document` field.

    Raises ValueError/TypeError for a document that cannot be packed (e.g. a non-finite sample,
    or a number where the schema has an integer)."""
    if data_type == HEARTRATE:
        return _pack_heartrate(document)
    plan = _plan(data_type)
    unknown: list[list[Any]] = []
    _inspect(document, plan, [], unknown)
    datum = {name: document.get(name) for name in plan.fields}
    for name in plan.samples:
        sample = datum[name]
        if sample is not None:
            datum[name] = _pack_sample(sample)
    datum[UNKNOWN_FIELDS] = json.dumps(unknown) if unknown else None
    return datum


def from_avro(data_type: str, datum: Mapping[str, Any]) -> Json:
    """Avro `document` datum -> the Oura JSON document it was made from.

    Raises ValueError (or KeyError/TypeError) for a datum whose packed parts do not unpack."""
    if data_type == HEARTRATE:
        return _unpack_heartrate(datum)
    plan = _plan(data_type)
    document = dict(datum)
    unknown = document.pop(UNKNOWN_FIELDS, None)
    for name in plan.samples:
        packed = document.get(name)
        if packed is not None:
            document[name] = _unpack_sample(packed)
    if unknown is not None:
        _restore_unknown(document, unknown)
    return document


# --- unknown keys and types the writer would bend ----------------------------------------------


def _inspect(value: Any, plan: _Plan, path: list[Any], out: list[list[Any]]) -> None:
    """Collects the keys the schema does not know into `out`, and refuses values that fastavro
    would write without complaint but not as sent: it truncates 72.5 into a long field and
    writes true into a double as 1.0. (72.0 is the JSON number 72 and is taken.)"""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object at {path or 'the document root'}, got {value!r:.40}")
    for name in plan.integers:
        number = value.get(name)
        if number is not None and not _is_integer(number):
            raise TypeError(f"{[*path, name]}: expected an integer, got {number!r:.40}")
    for name in plan.doubles:
        if isinstance(value.get(name), bool):
            raise TypeError(f"{[*path, name]}: expected a number, got {value[name]!r}")
    for key in value.keys() - plan.fields:
        out.append([[*path, key], value[key]])
    for name, sub in plan.records.items():
        if value.get(name) is not None:
            _inspect(value[name], sub, [*path, name], out)
    for name, sub in plan.record_arrays.items():
        for index, item in enumerate(value.get(name) or ()):
            _inspect(item, sub, [*path, name, index], out)
    for name in plan.samples:
        sample = value.get(name)
        if isinstance(sample, Mapping):
            for key in sample.keys() - _SAMPLE_KEYS:
                out.append([[*path, name, key], sample[key]])


def _restore_unknown(document: Json, encoded: str) -> None:
    for path, value in json.loads(encoded):
        if not isinstance(path, list) or not path:
            raise ValueError(f"{UNKNOWN_FIELDS}: bad path {path!r}")
        target: Any = document
        try:
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        except (IndexError, KeyError, TypeError) as exc:
            raise ValueError(f"{UNKNOWN_FIELDS}: path {path!r} does not fit the document") from exc


def _is_integer(value: Any) -> bool:
    return type(value) is int or (type(value) is float and value.is_integer())


# --- sample series ------------------------------------------------------------------------------


def _pack_sample(sample: Mapping[str, Any]) -> Json:
    items = sample["items"]
    nulls = [i for i, v in enumerate(items) if v is None] if None in items else []
    values = [0.0 if v is None else v for v in items] if nulls else items
    # JSON has no NaN/Infinity, so a NaN on the wire can only mean null; keep that promise.
    # One C-level sum is the cheap test; only a non-finite total needs the item-by-item look.
    if not math.isfinite(sum(values)):
        _reject_non_finite(items)
    for i in nulls:
        values[i] = _NAN
    return {
        "interval": sample["interval"],
        "items": _to_le_bytes(array("d", values)),
        "null_items": nulls,
        "timestamp": sample["timestamp"],
    }


def _reject_non_finite(items: list[Any]) -> None:
    for i, v in enumerate(items):
        if v is not None and not math.isfinite(v):
            raise ValueError(f"sample item {i} is {v!r}; Oura samples are finite numbers or null")


def _unpack_sample(packed: Mapping[str, Any]) -> Json:
    items: list[Any] = _from_le_bytes("d", packed["items"]).tolist()
    for i in packed["null_items"]:
        if not 0 <= i < len(items):
            raise ValueError(f"null item index {i} outside a {len(items)}-item sample")
        items[i] = None
    return {"interval": packed["interval"], "items": items, "timestamp": packed["timestamp"]}


def _to_le_bytes(values: array[Any]) -> bytes:
    if _SWAP:
        values.byteswap()
    return values.tobytes()


def _from_le_bytes(typecode: str, data: bytes) -> array[Any]:
    values: array[Any] = array(typecode)
    if len(data) % values.itemsize:
        raise ValueError(f"{len(data)} bytes is not a whole number of {values.itemsize}-byte items")
    values.frombytes(data)
    if _SWAP:
        values.byteswap()
    return values


# --- heart rate ---------------------------------------------------------------------------------


def _pack_heartrate(document: Mapping[str, Any]) -> Json:
    rows = document["rows"]
    unknown = [[[key], document[key]] for key in document.keys() - _HR_DOC_KEYS]
    for index, row in enumerate(rows):
        if not row.keys() <= _HR_ROW_KEYS:
            unknown += [[["rows", index, k], row[k]] for k in row.keys() - _HR_ROW_KEYS]
    unix = [row.get("timestamp_unix") for row in rows]
    unix_nulls = [i for i, u in enumerate(unix) if u is None] if None in unix else []
    sources: dict[str, int] = {}
    codes = [sources.setdefault(row["source"], len(sources)) for row in rows]
    if len(sources) > 256:
        raise ValueError(f"{len(sources)} distinct heart-rate sources; at most 256 fit a byte")
    try:
        packed_unix = array("q", [0 if u is None else u for u in unix] if unix_nulls else unix)
        packed_bpm = array("i", [row["bpm"] for row in rows])
    except OverflowError as exc:
        raise ValueError(f"heart-rate value out of range: {exc}") from exc
    return {
        "day": document["day"],
        "timestamps": [row["timestamp"] for row in rows],
        "timestamp_unix": _to_le_bytes(packed_unix),
        "timestamp_unix_nulls": unix_nulls,
        "bpm": _to_le_bytes(packed_bpm),
        "sources": list(sources),
        "source_codes": bytes(codes),
        UNKNOWN_FIELDS: json.dumps(unknown) if unknown else None,
    }


def _unpack_heartrate(datum: Mapping[str, Any]) -> Json:
    timestamps = datum["timestamps"]
    unix: list[int | None] = _from_le_bytes("q", datum["timestamp_unix"]).tolist()
    bpm = _from_le_bytes("i", datum["bpm"]).tolist()
    codes = datum["source_codes"]
    sources = datum["sources"]
    if not len(timestamps) == len(unix) == len(bpm) == len(codes):
        raise ValueError("heart-rate columns have different lengths")
    if codes and max(codes) >= len(sources):
        raise ValueError("heart-rate source code outside the source dictionary")
    for i in datum["timestamp_unix_nulls"]:
        if not 0 <= i < len(unix):
            raise ValueError(f"timestamp_unix null index {i} outside {len(unix)} rows")
        unix[i] = None
    # The columns' lengths are equal (checked above); itemgetter names every row's source in C.
    names = itemgetter(*codes)(sources) if len(codes) > 1 else [sources[c] for c in codes]
    rows = [
        {"timestamp": t, "timestamp_unix": u, "bpm": b, "source": s}
        for t, u, b, s in zip(timestamps, unix, bpm, names, strict=False)
    ]
    document: Json = {"day": datum["day"], "rows": rows}
    unknown = datum.get(UNKNOWN_FIELDS)
    if unknown is not None:
        _restore_unknown(document, unknown)
    return document
