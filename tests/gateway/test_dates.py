"""Every date parameter the OpenAPI document declares refuses days outside 1970 to 2100 with a 422
naming the parameter (a far day used to overflow the window arithmetic into a 500), and takes
every day inside it without a server error. Property-based, over the gateway served on HTTP."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.factories import PASSWORD, random_email

OUTSIDE = st.dates(max_value=date(1969, 12, 31)) | st.dates(min_value=date(2101, 1, 1))
INSIDE = st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 12, 31))


def _is_date(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(o.get("format") == "date" for o in options)


def date_parameters(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, query parameter) for every date parameter of every GET route."""
    found = []
    for path, operations in openapi["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["in"] == "query" and _is_date(parameter["schema"]):
                found.append((path, parameter["name"]))
    return found


def test_every_date_parameter_is_bounded(live_server: Any) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        email = random_email()
        client.post("/api/register", json={"email": email, "password": PASSWORD})
        login = client.post("/api/login", json={"email": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        targets = date_parameters(client.get("/openapi.json").json())
        # Every list route, /api/trends and /api/export: two parameters each.
        assert len(targets) >= 2 * 19

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(target=st.sampled_from(targets), day=OUTSIDE, other=st.booleans())
        def refuses_outside(target: tuple[str, str], day: date, other: bool) -> None:
            path, name = target
            params = {name: day.isoformat()}
            if other:  # alone, and next to a valid counterpart
                params["start_date" if name == "end_date" else "end_date"] = "2026-01-01"
            response = client.get(path, params=params, headers=headers)
            assert response.status_code == 422, (path, params, response.text)
            body = response.json()
            assert body["code"] == "validation_error"
            assert f"query.{name}: must be between 1970-01-01 and 2100-12-31" in body["detail"]

        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
        @given(target=st.sampled_from(targets), day=INSIDE)
        def takes_inside(target: tuple[str, str], day: date) -> None:
            path, name = target
            response = client.get(path, params={name: day.isoformat()}, headers=headers)
            assert response.status_code < 500, (path, name, day, response.text)
            if response.status_code == 422:
                assert "between 1970-01-01" not in response.text

        refuses_outside()
        takes_inside()
