"""Query parameters shared by the list routes: a date window and cursor pagination."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Query
from pydantic import AfterValidator

from gateway.deps import ReadsDep
from gateway.errors import ApiError

EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2100, 12, 31)


def _supported_day(value: date) -> date:
    # Days far from now overflow the window arithmetic (date.min - 30 days) and match no ring
    # data anyway: refused at the edge, with the same 422 as any other bad parameter.
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise ValueError(f"must be between {EARLIEST_DAY} and {LATEST_DAY}")
    return value


ApiDate = Annotated[date, AfterValidator(_supported_day)]
"""A day a route accepts: 1970-01-01 through 2100-12-31 (422 otherwise)."""


@dataclass(frozen=True, slots=True)
class Window:
    start: date
    end: date


def today() -> date:
    return datetime.now(UTC).date()


def resolve_window(
    start: date | None, end: date | None, *, default_days: int, max_days: int
) -> Window:
    """Default: the `default_days` days ending at `end` (default today; with only `start`
    given, from `start` to today). Refuses inverted windows and windows over `max_days`."""
    end = end or max(today(), start or today())
    start = start or end - timedelta(days=default_days - 1)
    if start > end:
        raise ApiError(422, "invalid_range", "query.start_date: must not be after end_date")
    if (end - start).days + 1 > max_days:
        raise ApiError(
            422,
            "range_too_large",
            f"query.end_date: at most {max_days} days per request (use pagination or /api/export)",
        )
    return Window(start, end)


async def date_window(
    reads: ReadsDep,
    start_date: Annotated[
        ApiDate | None,
        Query(description="First day (YYYY-MM-DD, 1970 to 2100); default: 30 days before end"),
    ] = None,
    end_date: Annotated[
        ApiDate | None, Query(description="Last day (YYYY-MM-DD, 1970 to 2100); default: today")
    ] = None,
) -> Window:
    return resolve_window(
        start_date, end_date, default_days=reads.default_range_days, max_days=reads.max_range_days
    )


WindowDep = Annotated[Window, Depends(date_window)]


def encode_cursor(key: tuple[date | None, str]) -> str:
    day, doc_id = key
    raw = json.dumps([day.isoformat() if day else None, doc_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(token: str) -> tuple[date | None, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        day, doc_id = json.loads(raw)
        if not isinstance(doc_id, str) or (day is not None and not isinstance(day, str)):
            raise ValueError
        return (date.fromisoformat(day) if day else None, doc_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422, "invalid_next_token", "query.next_token: not a token this API returned"
        ) from None


@dataclass(frozen=True, slots=True)
class Pagination:
    after: tuple[date | None, str] | None
    limit: int


async def pagination(
    next_token: Annotated[
        str | None, Query(max_length=1024, description="`next_token` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Rows per page")] = 100,
) -> Pagination:
    return Pagination(decode_cursor(next_token) if next_token else None, limit)


PaginationDep = Annotated[Pagination, Depends(pagination)]
