"""Every data route answers with bodies that validate against Oura's OpenAPI response schemas.

The spec is OpenAPI 3.0.3, so OAS30Validator. Two spec quirks are handled explicitly:
* 200 responses are `anyOf [MultiDocumentResponse_<Model>_, MultiDocumentResponseDict]`; the
  second accepts any object list, so we validate against the specific (first) schema.
* Nullable references are written `{$ref: X, nullable: true}`; OAS 3.0 ignores `$ref` siblings,
  so taken literally a null would be rejected. We rewrite them to `anyOf [{$ref: X}, null]`,
  which is what the generator of the spec means.
With enforce_properties_required every documented key must be present (null where absent).
"""

from __future__ import annotations

import copy
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, validate

from schemas.data_types import DATA_TYPES, QueryKind

SPEC_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "oura-openapi-2026.yml"
LIST_TYPES = [t for t in DATA_TYPES if t.query is not QueryKind.SINGLE]
SINGLE_TYPES = [t for t in DATA_TYPES if t.has_id and t.query in (QueryKind.DATE, QueryKind.NONE)]


def _nullable_refs(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _nullable_refs(v) for k, v in node.items()}
        if "$ref" in node and node.get("nullable") is True:
            ref = node.pop("$ref")
            node.pop("nullable")
            node["anyOf"] = [{"$ref": ref}, {"enum": [None]}]
        return node
    if isinstance(node, list):
        return [_nullable_refs(v) for v in node]
    return node


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    assert loaded["openapi"].startswith("3.0"), "validator choice assumes OpenAPI 3.0"
    return loaded


@cache
def components() -> dict[str, Any]:
    return _nullable_refs(copy.deepcopy(spec()["components"]))  # type: ignore[no-any-return]


def response_ref(path: str, status: str = "200") -> str:
    schema = spec()["paths"][path]["get"]["responses"][status]["content"]["application/json"][
        "schema"
    ]
    ref = schema["anyOf"][0]["$ref"] if "anyOf" in schema else schema["$ref"]
    assert isinstance(ref, str)
    return ref


def check(instance: Any, ref: str) -> None:
    schema = {"components": components(), "$ref": ref}
    validate(
        instance,
        schema,
        cls=OAS30Validator,
        check_schema=False,
        enforce_properties_required=True,
    )


def model_properties(ref: str) -> set[str]:
    name = ref.rsplit("/", 1)[1]
    return set(spec()["components"]["schemas"][name]["properties"])


def assert_formats(document: dict[str, Any], day_field: str | None) -> None:
    """What the spec's bare `type: string` aliases cannot check: ISO dates and offsets."""
    if day_field and day_field in document:
        date.fromisoformat(document[day_field])
    for key in ("timestamp", "bedtime_start", "bedtime_end", "start_datetime", "end_datetime"):
        value = document.get(key)
        if value is not None:
            assert datetime.fromisoformat(value).tzinfo is not None, (key, value)


# Large pages keep this fast; pagination has its own tests.
pytestmark = pytest.mark.simulator(page_size=500, heartrate_page_size=5_000)


@pytest.mark.parametrize("data_type", LIST_TYPES, ids=lambda t: t.name)
async def test_list_routes_validate(api: Any, data_type: Any) -> None:
    headers = await api.headers()
    params = (
        {"start_datetime": "2025-03-10T00:00:00+00:00", "end_datetime": "2025-03-12T00:00:00Z"}
        if data_type.query is QueryKind.DATETIME
        else {"start_date": "2025-01-01", "end_date": "2025-03-15"}
    )
    if data_type.query is QueryKind.NONE:
        params = {}
    path = f"/v2/usercollection/{data_type.path}"
    ref = response_ref(path)
    pages = await api.pages(data_type.path, headers, params)
    documents = [d for page in pages for d in page["data"]]
    assert documents, f"{data_type.name}: the demo user should have documents in 2.5 months"
    item_ref = spec()["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]["data"][
        "items"
    ]["$ref"]
    expected_keys = model_properties(item_ref)
    for page in pages:
        check(page, ref)
        assert set(page) == {"data", "next_token"}
    for document in documents:
        assert set(document) == expected_keys, data_type.name
        assert_formats(document, data_type.day_field)
    if data_type.query is QueryKind.DATETIME:
        assert all(d["timestamp"].endswith("+00:00") for d in documents)


@pytest.mark.parametrize("data_type", SINGLE_TYPES, ids=lambda t: t.name)
async def test_single_document_routes_validate(api: Any, data_type: Any) -> None:
    headers = await api.headers()
    params = {} if data_type.query is QueryKind.NONE else {"start_date": "2024-12-01"}
    documents = await api.collect(data_type.path, headers, params)
    assert documents
    path = f"/v2/usercollection/{data_type.path}/{{document_id}}"
    ref = response_ref(path)
    for document in documents[:: max(1, len(documents) // 5)]:
        response = await api.http.get(
            f"/v2/usercollection/{data_type.path}/{document['id']}", headers=headers
        )
        assert response.status_code == 200
        assert response.json() == document
        check(response.json(), ref)
    missing = await api.http.get(
        f"/v2/usercollection/{data_type.path}/00000000-0000-4000-8000-000000000000",
        headers=headers,
    )
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Document not found."}


async def test_personal_info_validates(api: Any) -> None:
    headers = await api.headers()
    response = await api.http.get("/v2/usercollection/personal_info", headers=headers)
    assert response.status_code == 200
    check(response.json(), response_ref("/v2/usercollection/personal_info"))
    assert set(response.json()) == model_properties("#/components/schemas/PersonalInfoResponse")


async def test_validation_errors_match_the_spec(api: Any) -> None:
    headers = await api.headers()
    for params in (
        {"start_date": "yesterday"},
        {"start_date": "2025-03-10", "end_date": "2025-03-01"},
    ):
        response = await api.http.get(
            "/v2/usercollection/daily_sleep", headers=headers, params=params
        )
        assert response.status_code == 422
        check(response.json(), response_ref("/v2/usercollection/daily_sleep", "422"))
