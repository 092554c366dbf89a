"""HTTP routes, one module per resource."""

from __future__ import annotations

from typing import Any

from gateway.models import ErrorResponse


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route can give (all with the error shape)."""
    descriptions = {
        400: "Bad request",
        401: "Missing, invalid or expired access token",
        404: "Not found",
        409: "Conflict",
        413: "Request body too large",
        422: "Invalid input; `detail` names the field",
        429: "Too many attempts",
        502: "Oura could not be reached or refused",
        503: "Not available",
    }
    return {
        s: {"model": ErrorResponse, "description": descriptions.get(s, "Error")} for s in statuses
    }
