"""Avro schemas of the raw records and the trend record, and the document <-> Avro conversion."""

from __future__ import annotations

import copy
import io
import json
import math
import struct
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import validate
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from schemas import documents
from schemas.data_types import DATA_TYPES
from schemas.examples import example_document

# A copy of Oura's published OpenAPI spec, kept in the repository so the check always runs.
SPEC_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "oura-openapi-2026.yml"
SPEC_URI = "urn:oura-openapi"
TYPES = [t.name for t in DATA_TYPES]
DAY = date(2026, 3, 14)
MODELS = {
    "daily_sleep": "PublicDailySleep",
    "sleep": "PublicModifiedSleepModel",
    "daily_activity": "PublicDailyActivity",
    "daily_readiness": "PublicDailyReadiness",
    "heartrate": "PublicHeartRateRow",
    "daily_spo2": "PublicDailySpO2",
    "daily_stress": "PublicDailyStress",
    "daily_resilience": "DailyResilienceModel",
    "daily_cardiovascular_age": "PublicDailyCardiovascularAge",
    "vo2_max": "PublicVO2Max",
    "workout": "PublicWorkout",
    "session": "PublicSession",
    "enhanced_tag": "EnhancedTagModel",
    "sleep_time": "PublicSleepTime",
    "rest_mode_period": "PublicRestModePeriod",
    "ring_configuration": "PublicRingConfiguration",
    "personal_info": "PersonalInfoResponse",
}
SAMPLE_FIELDS = {
    "sleep": ("heart_rate", "hrv"),
    "daily_activity": ("met",),
    "session": ("heart_rate", "heart_rate_variability", "motion_count"),
}


# --- (1) examples are faithful to Oura's OpenAPI spec ------------------------------------------


def _nullable_refs(node: Any) -> Any:
    """OpenAPI 3.0 ignores siblings of `$ref`, so Oura's `{$ref, nullable: true}` would reject
    null; rewrite it to what Oura means (the referenced schema, or null)."""
    if isinstance(node, list):
        return [_nullable_refs(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_refs(v) for k, v in node.items()}
    if "$ref" in node and node.get("nullable"):
        null_only = {"type": "object", "nullable": True, "enum": [None]}
        return {"anyOf": [{"$ref": node["$ref"]}, null_only]}
    return node


@cache
def _registry() -> Registry:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    assert spec["openapi"].startswith("3.0.")  # hence OAS30Validator
    resource = Resource.from_contents(_nullable_refs(spec), default_specification=DRAFT4)
    registry: Registry = Registry().with_resource(SPEC_URI, resource)
    return registry


def _validator(model: str) -> OAS30Validator:
    return OAS30Validator({"$ref": f"{SPEC_URI}#/components/schemas/{model}"}, registry=_registry())


def _spec_errors(model: str, instance: Any) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in _validator(model).iter_errors(instance)]


@pytest.mark.parametrize("data_type", TYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_examples_validate_against_the_oura_spec(data_type: str, seed: int) -> None:
    document = example_document(data_type, day=DAY, seed=seed)
    if data_type == "heartrate":
        assert document["rows"]
        for row in document["rows"]:
            assert _spec_errors(MODELS[data_type], row) == []
        return
    assert _spec_errors(MODELS[data_type], document) == []
    # Oura emits every key, null when absent: so do the examples.
    spec_keys = _registry().contents(SPEC_URI)["components"]["schemas"][MODELS[data_type]]
    assert set(document) == set(spec_keys["properties"])


def test_spec_validation_catches_a_wrong_document() -> None:
    document = example_document("daily_sleep", day=DAY)
    document["score"] = "high"
    assert _spec_errors("PublicDailySleep", document)


@pytest.mark.parametrize("data_type", TYPES)
def test_examples_are_deterministic_and_seeded(data_type: str) -> None:
    first = example_document(data_type, day=DAY, seed=3)
    assert example_document(data_type, day=DAY, seed=3) == first
    assert example_document(data_type, day=DAY, seed=4) != first


def test_example_series_have_live_data_lengths() -> None:
    met = example_document("daily_activity", day=DAY)["met"]
    assert (len(met["items"]), met["interval"]) == (1440, 60.0)
    assert 0 < met["items"].count(None) < 30
    sleep = example_document("sleep", day=DAY)
    assert 90 <= len(sleep["heart_rate"]["items"]) <= 105
    assert sleep["hrv"]["interval"] == 300.0
    rows = example_document("heartrate", day=DAY)["rows"]
    assert len(rows) == 288
    assert all(r["timestamp"].startswith("2026-03-14T") for r in rows)


# --- (2) the .avsc files ------------------------------------------------------------------------


def test_one_schema_file_per_data_type_plus_trend_quarantine_and_webhook_event() -> None:
    stems = {p.stem for p in documents.AVRO_DIR.glob("*.avsc")}
    assert stems == {*TYPES, "trend", "quarantine", "webhook_event"}
    assert set(documents.schema_names()) == stems


@pytest.mark.parametrize("name", [*TYPES, "trend", "quarantine", "webhook_event"])
def test_every_schema_parses(name: str) -> None:
    parse_schema(documents.avsc(name))
    assert documents.load_schema(name)["type"] == "record"


def _walk_fields(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, list):
        for branch in schema:
            found += _walk_fields(branch)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            for fld in schema["fields"]:
                found.append(fld)
                found += _walk_fields(fld["type"])
        elif schema.get("type") == "array":
            found += _walk_fields(schema["items"])
    return found


@pytest.mark.parametrize("name", [*TYPES, "trend", "quarantine", "webhook_event"])
def test_every_field_has_a_doc_and_nullables_default_to_null(name: str) -> None:
    for fld in _walk_fields(documents.avsc(name)):
        assert fld.get("doc"), f"{name}.{fld['name']} has no doc"
        if isinstance(fld["type"], list):
            assert fld["type"][0] == "null" and fld["default"] is None, fld["name"]


@pytest.mark.parametrize("data_type", TYPES)
def test_raw_schemas_carry_the_envelope(data_type: str) -> None:
    schema = documents.avsc(data_type)
    assert schema["namespace"] == "myhealth.oura.raw"
    assert schema["name"].endswith("Record")
    names = [f["name"] for f in schema["fields"]]
    assert names == ["user_id", "data_type", "fetched_at", "endpoint", "api_version", "document"]
    fetched = schema["fields"][2]["type"]
    assert fetched == {"type": "long", "logicalType": "timestamp-millis"}


def test_enums_travel_as_strings() -> None:
    for name in [*TYPES, "trend", "quarantine"]:
        assert '"enum"' not in json.dumps(documents.avsc(name))


# --- (3) document <-> Avro round trips ----------------------------------------------------------


def _write_read(schema: dict[str, Any], datum: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema, datum)
    buffer.seek(0)
    back: Any = schemaless_reader(buffer, schema, None)
    assert buffer.read() == b""
    return dict(back)


def _through_avro(data_type: str, document: dict[str, Any]) -> dict[str, Any]:
    datum = documents.to_avro(data_type, document)
    schema = documents.document_schema(data_type)
    assert validate(datum, schema, raise_errors=True)
    return documents.from_avro(data_type, _write_read(schema, datum))


def _assert_same_types(original: Any, back: Any, path: str = "") -> None:
    """Integers stay int and strings stay str; floats may only come back from floats or ints."""
    if isinstance(original, dict):
        assert set(original) == set(back), path
        for key in original:
            _assert_same_types(original[key], back[key], f"{path}.{key}")
    elif isinstance(original, list):
        for i, (a, b) in enumerate(zip(original, back, strict=True)):
            _assert_same_types(a, b, f"{path}[{i}]")
    elif isinstance(original, float):
        assert type(back) is float, path
    else:
        assert type(back) is type(original), path


@pytest.mark.parametrize("data_type", TYPES)
@pytest.mark.parametrize("seed", [0, 5])
def test_every_type_round_trips(data_type: str, seed: int) -> None:
    document = example_document(data_type, day=DAY, seed=seed)
    back = _through_avro(data_type, document)
    assert back == document
    _assert_same_types(document, back)


@pytest.mark.parametrize("data_type", TYPES)
def test_a_full_raw_record_round_trips(data_type: str) -> None:
    document = example_document(data_type, day=DAY)
    fetched = datetime(2026, 3, 15, 6, 0, 0, 123000, tzinfo=UTC)
    record = {
        "user_id": "6f1c2f9e-1111-4c1e-9d7a-000000000001",
        "data_type": data_type,
        "fetched_at": fetched,
        "endpoint": f"/v2/usercollection/{data_type}",
        "api_version": "1.37",
        "document": documents.to_avro(data_type, document),
    }
    back = _write_read(documents.load_schema(data_type), record)
    assert back["fetched_at"] == fetched
    assert documents.from_avro(data_type, back["document"]) == document


def _nullable_paths(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for fld in schema["fields"]:
        path = (*prefix, fld["name"])
        kind = fld["type"]
        if isinstance(kind, list):
            if fld["name"] != documents.UNKNOWN_FIELDS:
                paths.append(path)
            kind = kind[1]
        is_record = isinstance(kind, dict) and kind.get("type") == "record"
        if is_record and kind["name"] != documents.PACKED_SAMPLE:
            paths += _nullable_paths(kind, path)
    return paths


def _set_null(document: dict[str, Any], path: tuple[str, ...]) -> None:
    target: Any = document
    for step in path[:-1]:
        target = target.get(step)
        if target is None:  # an enclosing object is already null
            return
    target[path[-1]] = None


def _variations(data_type: str) -> st.SearchStrategy[dict[str, Any]]:
    paths = _nullable_paths(documents.avsc(data_type)["fields"][-1]["type"])
    item = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))
    series = st.lists(item, max_size=120)

    def build(seed: int, nulls: set[tuple[str, ...]], items: list[list[float | None]]) -> Any:
        document = example_document(data_type, day=DAY, seed=seed)
        for name, values in zip(SAMPLE_FIELDS.get(data_type, ()), items, strict=False):
            document[name]["items"] = values
        for path in sorted(nulls, key=len):
            _set_null(document, path)
        return document

    n_series = len(SAMPLE_FIELDS.get(data_type, ()))
    return st.builds(
        build,
        st.integers(0, 3),
        st.sets(st.sampled_from(paths)) if paths else st.just(set()),
        st.lists(series, min_size=n_series, max_size=n_series),
    )


@pytest.mark.parametrize("data_type", [t for t in TYPES if t != "heartrate"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_nullable_fields_and_series_with_nulls_round_trip(data_type: str, data: Any) -> None:
    document = data.draw(_variations(data_type))
    assert _through_avro(data_type, document) == document


def test_series_keep_negative_zero_and_exact_floats() -> None:
    document = example_document("daily_activity", day=DAY)
    document["met"]["items"] = [-0.0, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, None]
    items = _through_avro("daily_activity", document)["met"]["items"]
    assert [struct.pack("<d", v) if v is not None else None for v in items] == [
        struct.pack("<d", v) if v is not None else None for v in document["met"]["items"]
    ]


def test_integer_items_come_back_as_equal_floats() -> None:
    # The spec types sample items as `number`; int 58 and float 58.0 are the same JSON number.
    document = example_document("sleep", day=DAY)
    document["heart_rate"]["items"] = [58, None, 61]
    assert _through_avro("sleep", document)["heart_rate"]["items"] == [58.0, None, 61.0]


def test_packed_items_follow_the_documented_layout() -> None:
    document = example_document("daily_activity", day=DAY)
    document["met"]["items"] = [1.5, None, 2.25]
    packed = documents.to_avro("daily_activity", document)["met"]
    values = struct.unpack("<3d", packed["items"])
    assert values[0] == 1.5 and math.isnan(values[1]) and values[2] == 2.25
    assert packed["items"][8:16] == struct.pack("<Q", 0x7FF8000000000000)
    assert packed["null_items"] == [1]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_sample_items_are_refused(bad: float) -> None:
    document = example_document("daily_activity", day=DAY)
    document["met"]["items"] = [1.0, None, bad]
    with pytest.raises(ValueError, match="finite"):
        documents.to_avro("daily_activity", document)


def test_keys_the_schema_does_not_know_survive() -> None:
    document = example_document("sleep", day=DAY)
    document["new_top_level"] = {"a": [1, 2]}
    document["readiness"]["contributors"]["new_contributor"] = 77
    document["hrv"]["new_sample_key"] = "x"
    datum = documents.to_avro("sleep", document)
    assert datum[documents.UNKNOWN_FIELDS] is not None
    assert _through_avro("sleep", document) == document
    rest = example_document("rest_mode_period", day=DAY)
    rest["episodes"][1]["note"] = "later field"
    assert _through_avro("rest_mode_period", rest) == rest


def test_known_documents_carry_no_unknown_fields() -> None:
    for data_type in TYPES:
        datum = documents.to_avro(data_type, example_document(data_type, day=DAY))
        assert datum[documents.UNKNOWN_FIELDS] is None


def test_older_payloads_without_optional_keys_still_encode() -> None:
    # Cardiovascular age before API 1.29: no id, no pulse_wave_velocity.
    old = {"day": "2024-12-01", "vascular_age": 41}
    back = _through_avro("daily_cardiovascular_age", old)
    assert back == {**old, "id": None, "pulse_wave_velocity": None}


_hr_row = st.fixed_dictionaries(
    {
        "timestamp": st.text(max_size=30),
        "timestamp_unix": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        "bpm": st.integers(-(2**31), 2**31 - 1),
        "source": st.sampled_from(["awake", "rest", "sleep", "workout", "live", "session", "new"]),
    }
)


@settings(max_examples=150, deadline=None)
@given(day=st.text(max_size=10), rows=st.lists(_hr_row, max_size=60))
def test_heart_rate_days_round_trip(day: str, rows: list[dict[str, Any]]) -> None:
    document = {"day": day, "rows": rows}
    assert _through_avro("heartrate", document) == document


def test_heart_rate_rows_keep_their_exact_strings() -> None:
    document = example_document("heartrate", day=DAY)
    document["rows"][0]["timestamp"] = "2026-03-14T00:00:00.000+00:00"
    document["rows"][1]["timestamp"] = "2026-03-14T00:05:00Z"
    document["rows"][2]["extra"] = True
    back = _through_avro("heartrate", document)
    assert back == document
    _assert_same_types(document, back)


def test_from_avro_refuses_inconsistent_packing() -> None:
    document = example_document("daily_activity", day=DAY)
    datum = documents.to_avro("daily_activity", document)
    with pytest.raises(ValueError):
        documents.from_avro("daily_activity", {**datum, "met": {**datum["met"], "items": b"123"}})
    bad_nulls = {**datum["met"], "null_items": [5000]}
    with pytest.raises(ValueError):
        documents.from_avro("daily_activity", {**datum, "met": bad_nulls})
    hr = documents.to_avro("heartrate", example_document("heartrate", day=DAY))
    with pytest.raises(ValueError):
        documents.from_avro("heartrate", {**hr, "bpm": hr["bpm"][:-4]})
    with pytest.raises(ValueError):
        documents.from_avro("heartrate", {**hr, "sources": []})
    with pytest.raises(ValueError):
        documents.from_avro(
            "sleep", {**documents.to_avro("sleep", _sleep()), "unknown_fields_json": "{"}
        )


def _sleep() -> dict[str, Any]:
    return example_document("sleep", day=DAY)


def test_to_avro_does_not_change_its_input() -> None:
    document = example_document("sleep", day=DAY)
    kept = copy.deepcopy(document)
    documents.to_avro("sleep", document)
    assert document == kept


# --- (4) the trend record -----------------------------------------------------------------------


def _trend(**changes: Any) -> dict[str, Any]:
    trend = {
        "user_id": "6f1c2f9e-1111-4c1e-9d7a-000000000001",
        "day": "2026-03-14",
        "metric": "daily_sleep.score",
        "value": 81.0,
        "mean_7d": 78.5,
        "mean_28d": 77.25,
        "baseline": 77.0,
        "baseline_spread": 4.4478,
        "deviation": 0.899,
        "direction": "up",
        "flag": False,
        "in_progress": False,
        "computed_at": datetime(2026, 3, 15, 6, 0, 1, 250000, tzinfo=UTC),
    }
    return {**trend, **changes}


@pytest.mark.parametrize(
    "trend",
    [
        _trend(),
        _trend(value=None, mean_7d=None, deviation=None, direction="flat", flag=True),
        _trend(**dict.fromkeys(["mean_28d", "baseline", "baseline_spread"])),
        _trend(value=412.0, deviation=-3.1, in_progress=True),
    ],
)
def test_trend_round_trips(trend: dict[str, Any]) -> None:
    schema = documents.load_schema("trend")
    assert validate(trend, schema, raise_errors=True)
    assert _write_read(schema, trend) == trend


def test_trend_fields_match_the_daily_trends_table() -> None:
    names = [f["name"] for f in documents.avsc("trend")["fields"]]
    assert names == [
        "user_id",
        "day",
        "metric",
        "value",
        "mean_7d",
        "mean_28d",
        "baseline",
        "baseline_spread",
        "deviation",
        "direction",
        "flag",
        "in_progress",
        "computed_at",
    ]
