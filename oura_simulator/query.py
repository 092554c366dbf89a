"""Query parameters of the data routes: parsing with Oura/FastAPI-like errors, the date-filter
semantics (documented default and Oura's quirks), and opaque signed `next_token`s that carry
the whole query so a client may send the token alone or with the original parameters."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from oura_simulator.data import Document, UserProfile

# Types whose quirks-mode filter runs on the document timestamp (00:00 local of `day` when the
# model has none): a date-only end_date then means midnight and excludes daily_activity (04:00).
TIMESTAMP_FILTERED = frozenset(
    {
        "daily_sleep",
        "daily_activity",
        "daily_readiness",
        "daily_spo2",
        "daily_stress",
        "daily_resilience",
        "daily_cardiovascular_age",
        "sleep_time",
        "vo2_max",
    }
)


class ApiError(Exception):
    """An error answer with a JSON body, raised anywhere inside a handler."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def validation_error(name: str, message: str, value: object, kind: str = "value_error") -> ApiError:
    detail = {"type": kind, "loc": ["query", name], "msg": message, "input": value}
    return ApiError(422, {"detail": [detail]})


@dataclass(frozen=True, slots=True)
class Bound:
    value: date | datetime
    """A date, or a datetime (naive means the user's local time)."""

    def day(self) -> date:
        return self.value.date() if isinstance(self.value, datetime) else self.value

    def moment(self, user: UserProfile) -> datetime:
        if isinstance(self.value, datetime):
            return self.value if self.value.tzinfo else self.value.replace(tzinfo=user.tz)
        return datetime.combine(self.value, time(0), user.tz)

    def encode(self) -> str:
        return self.value.isoformat()


def parse_bound(name: str, raw: str | None, *, lenient: bool) -> Bound | None:
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if lenient and text.isdigit():
        # Oura parses nonsense like start_date=1 as a (very early) year and answers 200.
        return Bound(date(max(1, min(9999, int(text))), 1, 1))
    try:
        if len(text) == 10:
            return Bound(date.fromisoformat(text))
        return Bound(datetime.fromisoformat(text))
    except ValueError:
        raise validation_error(
            name, "Input should be a valid date or datetime", raw, "date_from_datetime_parsing"
        ) from None


def parse_datetime(name: str, raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise validation_error(
            name, "Input should be a valid datetime", raw, "datetime_from_date_parsing"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_bool(name: str, raw: str | None) -> bool:
    if raw is None or raw == "":
        return False
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise validation_error(name, "Input should be a valid boolean", raw, "bool_parsing")


def date_window(start: Bound, end: Bound, *, quirks: bool) -> tuple[date, date]:
    """Days whose documents can pass the filter (a superset; `keep_filter` decides)."""
    pad = timedelta(days=1) if quirks else timedelta()
    low = start.day() - pad if start.day() > date.min + pad else date.min
    high = end.day() + pad if end.day() < date.max - pad else date.max
    return low, high


def keep_filter(
    type_name: str, day_field: str, start: Bound, end: Bound, user: UserProfile, *, quirks: bool
) -> Callable[[Document], bool]:
    """Default: start.day <= document day <= end.day. Quirks (OURA_API_V2.md §2.2): sleep is
    start-exclusive by day; daily summaries compare their timestamp with the bounds, a bare
    date meaning local midnight."""
    low_day, high_day = start.day().isoformat(), end.day().isoformat()
    if not quirks or type_name not in TIMESTAMP_FILTERED | {"sleep"}:
        return lambda d: low_day <= d[day_field][:10] <= high_day
    if type_name == "sleep":
        return lambda d: low_day < d[day_field][:10] <= high_day
    low, high = start.moment(user), end.moment(user)

    def by_timestamp(document: Document) -> bool:
        stamp = document.get("timestamp")
        if stamp is None:
            moment = datetime.combine(date.fromisoformat(document["day"]), time(0), user.tz)
        else:
            moment = datetime.fromisoformat(stamp)
        return low <= moment <= high

    return by_timestamp


class PageTokens:
    """Signed, opaque continuation tokens bound to one user and route."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"simulator-next-token|{seed}".encode()).digest()

    def encode(self, state: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(
            json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        ).rstrip(b"=")
        signature = hmac.new(self._key, payload, hashlib.sha256).digest()[:12]
        return (payload + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()

    def decode(self, token: str, *, user_id: str, route: str) -> dict[str, Any]:
        try:
            payload, signature = token.encode().split(b".", 1)
            expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:12]
            given = base64.urlsafe_b64decode(signature + b"=" * (-len(signature) % 4))
            if not hmac.compare_digest(expected, given):
                raise ValueError("bad signature")
            state = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        except (ValueError, binascii.Error, UnicodeError):
            raise ApiError(400, {"detail": "Invalid next_token."}) from None
        if not isinstance(state, dict) or state.get("u") != user_id or state.get("r") != route:
            raise ApiError(400, {"detail": "Invalid next_token."})
        return state
