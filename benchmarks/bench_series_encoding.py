"""How to carry Oura sample series and heart-rate rows in Avro: candidates measured side by side.

Per daily_activity record (1,440-item MET series, a few nulls) and per heart-rate day (288 rows):
encode (document -> datum -> fastavro schemaless_writer) and decode (schemaless_reader -> document)
in microseconds, body size in bytes, and whether the round trip is lossless. The machine is shared,
so compare rows of one run, not numbers across runs. `python benchmarks/bench_series_encoding.py`.
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
from array import array
from collections.abc import Callable
from datetime import date
from typing import Any

from _shared import merge_results
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas import documents
from schemas.examples import example_document

DAY = date(2026, 3, 14)
ROUNDS = 150

Json = dict[str, Any]
Pack = Callable[[Json], Json]
Unpack = Callable[[Json], Json]


def _sample_record(fields: list[Json]) -> Json:
    return {"type": "record", "name": "Sample", "fields": fields}


_INTERVAL = {"name": "interval", "type": "double"}
_TIMESTAMP = {"name": "timestamp", "type": "string"}
_NULL_ITEMS = {"name": "null_items", "type": {"type": "array", "items": "int"}}


def _nulls(items: list[Any]) -> list[int]:
    return [i for i, v in enumerate(items) if v is None] if None in items else []


def _restore(values: list[Any], nulls: list[int]) -> Json:
    for i in nulls:
        values[i] = None
    return {"items": values}


# --- candidates for PublicSample ----------------------------------------------------------------


def _union_array() -> tuple[Json, Pack, Unpack]:
    items = {"name": "items", "type": {"type": "array", "items": ["null", "double"]}}
    return _sample_record([_INTERVAL, items, _TIMESTAMP]), dict, dict


def _double_array_null_index() -> tuple[Json, Pack, Unpack]:
    items = {"name": "items", "type": {"type": "array", "items": "double"}}

    def pack(s: Json) -> Json:
        nulls = _nulls(s["items"])
        values = [0.0 if v is None else v for v in s["items"]] if nulls else s["items"]
        return {**s, "items": values, "null_items": nulls}

    def unpack(d: Json) -> Json:
        restored = _restore(d.pop("items"), d.pop("null_items"))
        return {**d, **restored}

    return _sample_record([_INTERVAL, items, _NULL_ITEMS, _TIMESTAMP]), pack, unpack


def _f64_nan_marker() -> tuple[Json, Pack, Unpack]:
    items = {"name": "items", "type": "bytes"}

    def pack(s: Json) -> Json:
        values = [math.nan if v is None else v for v in s["items"]]
        return {**s, "items": array("d", values).tobytes()}

    def unpack(d: Json) -> Json:
        values = array("d", d["items"]).tolist()
        return {**d, "items": [None if v != v else v for v in values]}

    return _sample_record([_INTERVAL, items, _TIMESTAMP]), pack, unpack


def _packed(typecode: str) -> tuple[Json, Pack, Unpack]:
    items = {"name": "items", "type": "bytes"}

    def pack(s: Json) -> Json:
        nulls = _nulls(s["items"])
        values = [math.nan if v is None else v for v in s["items"]] if nulls else s["items"]
        return {**s, "items": array(typecode, values).tobytes(), "null_items": nulls}

    def unpack(d: Json) -> Json:
        restored = _restore(array(typecode, d.pop("items")).tolist(), d.pop("null_items"))
        return {**d, **restored}

    return _sample_record([_INTERVAL, items, _NULL_ITEMS, _TIMESTAMP]), pack, unpack


def _bitmap_dense() -> tuple[Json, Pack, Unpack]:
    fields = [
        _INTERVAL,
        {"name": "items", "type": "bytes"},
        {"name": "null_bitmap", "type": "bytes"},
        _TIMESTAMP,
    ]

    def pack(s: Json) -> Json:
        items = s["items"]
        bitmap = bytearray((len(items) + 7) // 8)
        for i in _nulls(items):
            bitmap[i >> 3] |= 1 << (i & 7)
        dense = array("d", [v for v in items if v is not None]).tobytes()
        return {**s, "items": dense, "null_bitmap": bytes(bitmap)}

    def unpack(d: Json) -> Json:
        dense = iter(array("d", d["items"]).tolist())
        bitmap = d.pop("null_bitmap")
        count = len(array("d", d["items"])) + sum(bin(b).count("1") for b in bitmap)
        items = [None if bitmap[i >> 3] >> (i & 7) & 1 else next(dense) for i in range(count)]
        return {**d, "items": items}

    return _sample_record(fields), pack, unpack


SERIES_CANDIDATES: dict[str, Callable[[], tuple[Json, Pack, Unpack]]] = {
    "array<[null,double]> (JSON shape)": _union_array,
    "array<double> + null index": _double_array_null_index,
    "bytes f64, NaN = null": _f64_nan_marker,
    "bytes f64 + null index": lambda: _packed("d"),
    "bytes f32 + null index": lambda: _packed("f"),
    "bitmap + dense f64": _bitmap_dense,
}


# --- measuring ----------------------------------------------------------------------------------


def _activity_schema(sample: Json) -> Json:
    record = copy.deepcopy(documents.avsc("daily_activity")["fields"][-1]["type"])
    for fld in record["fields"]:
        if fld["name"] == "met":
            fld["type"] = sample
    parsed: Any = parse_schema(record)
    return dict(parsed)


def _timed(run: Callable[[], Any]) -> float:
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(ROUNDS):
            run()
        best = min(best, (time.perf_counter() - started) / ROUNDS)
    return best * 1e6


def _measure(
    schema: Json, encode: Callable[[], Json], decode: Callable[[Json], Json], original: Json
) -> Json:
    def write() -> bytes:
        out = io.BytesIO()
        schemaless_writer(out, schema, encode())
        return out.getvalue()

    body = write()

    def read() -> Json:
        datum: Any = schemaless_reader(io.BytesIO(body), schema, None)
        return decode(datum)

    back = read()
    lossless = json.dumps(back, sort_keys=True) == json.dumps(original, sort_keys=True)
    return {
        "encode_us": round(_timed(write), 1),
        "decode_us": round(_timed(read), 1),
        "bytes": len(body),
        "lossless": lossless,
    }


def bench_series() -> dict[str, Json]:
    document = example_document("daily_activity", day=DAY)
    results: dict[str, Json] = {}
    for name, make in SERIES_CANDIDATES.items():
        sample_schema, pack, unpack = make()
        schema = _activity_schema(sample_schema)

        def encode(pack: Pack = pack) -> Json:
            datum = dict(document)
            datum["met"] = pack(document["met"])
            return datum

        def decode(datum: Json, unpack: Unpack = unpack) -> Json:
            datum.pop(documents.UNKNOWN_FIELDS, None)
            datum["met"] = unpack(datum["met"])
            return datum

        results[name] = _measure(schema, encode, decode, document)
    shipped = documents.document_schema("daily_activity")
    results["shipped: documents.to_avro/from_avro"] = _measure(
        shipped,
        lambda: documents.to_avro("daily_activity", document),
        lambda datum: documents.from_avro("daily_activity", datum),
        document,
    )
    return results


def _heartrate_rows_schema() -> Json:
    row = {
        "type": "record",
        "name": "Row",
        "fields": [
            {"name": "timestamp", "type": "string"},
            {"name": "timestamp_unix", "type": ["null", "long"]},
            {"name": "bpm", "type": "long"},
            {"name": "source", "type": "string"},
        ],
    }
    rows = {"name": "rows", "type": {"type": "array", "items": row}}
    record = {"type": "record", "name": "Day", "fields": [{"name": "day", "type": "string"}, rows]}
    parsed: Any = parse_schema(record)
    return dict(parsed)


def bench_heartrate() -> dict[str, Json]:
    document = example_document("heartrate", day=DAY)
    rows_schema = _heartrate_rows_schema()
    return {
        "array<record> (JSON shape)": _measure(rows_schema, lambda: document, dict, document),
        "shipped: parallel columns": _measure(
            documents.document_schema("heartrate"),
            lambda: documents.to_avro("heartrate", document),
            lambda datum: documents.from_avro("heartrate", datum),
            document,
        ),
    }


def _table(title: str, results: dict[str, Json]) -> str:
    lines = [
        title,
        f"  {'candidate':38} {'encode µs':>10} {'decode µs':>10} {'bytes':>7}  lossless",
    ]
    for name, r in results.items():
        lines.append(
            f"  {name:38} {r['encode_us']:>10.1f} {r['decode_us']:>10.1f} {r['bytes']:>7}"
            f"  {'yes' if r['lossless'] else 'NO'}"
        )
    return "\n".join(lines)


def main() -> None:
    series = bench_series()
    heartrate = bench_heartrate()
    print(_table("daily_activity record (MET series: 1,440 items at 60 s, with nulls)", series))
    print(_table("heart-rate day (288 rows)", heartrate))
    merge_results({"series_encoding": {"daily_activity": series, "heartrate_day": heartrate}})


if __name__ == "__main__":
    main()
