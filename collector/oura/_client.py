"""Async client for Oura's v2 data API (or its sandbox, or the simulator: the base URL is a
setting).

Date collections are asked for one day more on each side and filtered locally by the document's
day, because Oura's date filters are not inclusive in the way one would expect (OURA_API_V2.md
§2.2). Heart rate is fetched in bounded UTC-aligned datetime windows and grouped into one
platform document per UTC day: `{"day": "YYYY-MM-DD", "rows": [...]}`."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from operator import itemgetter
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import orjson

from collector.metrics import OURA_REQUEST_SECONDS, OURA_REQUESTS
from collector.oura._errors import DocumentNotFound, NotGranted, Unauthorized, WindowFailed
from collector.oura._limiter import RateLimiter
from collector.settings import CollectorSettings
from schemas.data_types import DataType, QueryKind

Document = dict[str, Any]
_MAX_PAGES = 10_000
_PAD = timedelta(days=1)
_HR_PAD = timedelta(hours=1)
_DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_BY_UNIX = itemgetter("timestamp_unix")


def split_range(first_day: date, last_day: date, days: int) -> list[tuple[date, date]]:
    """[first_day, last_day] in consecutive inclusive chunks of at most `days` days."""
    chunks: list[tuple[date, date]] = []
    start = first_day
    while start <= last_day:
        end = min(last_day, start + timedelta(days=days - 1))
        chunks.append((start, end))
        start = end + timedelta(days=1)
    return chunks


class TokenSource(Protocol):
    """Where the client gets a user's bearer token, and a fresh one after a 401."""

    async def access_token(self) -> str: ...

    async def after_rejection(self, rejected: str) -> str: ...


class MalformedPage(ValueError):
    """The response parsed but is not the envelope Oura documents."""


def data_path(data_type: DataType) -> str:
    return f"/v2/usercollection/{data_type.path}"


class OuraClient:
    """One per process: shares the HTTP connection pool, the request budget and the
    in-flight bound across every user and data type."""

    def __init__(
        self,
        settings: CollectorSettings,
        http: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._base = settings.oura_api_base_url.rstrip("/")
        self._http = http or httpx.AsyncClient(
            timeout=settings.request_timeout_s,
            limits=httpx.Limits(
                max_connections=settings.request_concurrency,
                max_keepalive_connections=settings.request_concurrency,
            ),
        )
        self._owns_http = http is None
        self.limiter = limiter or RateLimiter(
            settings.rate_limit_requests, settings.rate_limit_window_s
        )
        self._in_flight = asyncio.Semaphore(settings.request_concurrency)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    @property
    def requests_sent(self) -> int:
        return self.limiter.total_requests

    async def fetch(
        self, tokens: TokenSource, data_type: DataType, start: date, end: date
    ) -> list[Document]:
        """Every document of `data_type` whose day lies in [start, end] (ring configuration and
        personal info have no day: all of them)."""
        if data_type.query is QueryKind.DATE:
            return await self._fetch_dated(tokens, data_type, start, end)
        if data_type.query is QueryKind.DATETIME:
            return await self.fetch_heartrate(tokens, data_type, start, end)
        if data_type.query is QueryKind.NONE:
            return await self._collect_pages(tokens, data_type, {})
        return [await self._get(tokens, data_type, {}, _single_validator)]

    async def fetch_document(
        self, tokens: TokenSource, data_type: DataType, document_id: str
    ) -> Document:
        """One document by its Oura id (`GET /v2/usercollection/<route>/{id}`, the route
        spelled as Oura does: `vO2_max`). Raises DocumentNotFound for a 404."""
        return await self._get(  # type: ignore[no-any-return]
            tokens, data_type, {}, _single_validator, path_suffix=f"/{quote(document_id, safe='')}"
        )

    async def _fetch_dated(
        self, tokens: TokenSource, data_type: DataType, start: date, end: date
    ) -> list[Document]:
        params = {"start_date": (start - _PAD).isoformat(), "end_date": (end + _PAD).isoformat()}
        field = data_type.day_field
        documents = await self._collect_pages(tokens, data_type, params)
        low, high = start.isoformat(), end.isoformat()
        return [d for d in documents if field is None or low <= d[field][:10] <= high]

    async def fetch_heartrate(
        self, tokens: TokenSource, data_type: DataType, start: date, end: date
    ) -> list[Document]:
        """One document per UTC day with samples, windows of COLLECTOR_HEARTRATE_WINDOW_DAYS
        fetched concurrently."""
        windows = split_range(start, end, self._settings.heartrate_window_days)
        parts = await asyncio.gather(
            *(self._heartrate_window(tokens, data_type, a, b) for a, b in windows)
        )
        return [document for part in parts for document in part]

    async def _heartrate_window(
        self, tokens: TokenSource, data_type: DataType, start: date, end: date
    ) -> list[Document]:
        low = datetime(start.year, start.month, start.day, tzinfo=UTC)
        high = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        params = {
            "start_datetime": (low - _HR_PAD).isoformat(),
            "end_datetime": (high + _HR_PAD).isoformat(),
        }
        rows = await self._collect_pages(tokens, data_type, params)
        return group_heartrate_by_day(rows, start, end)

    async def _collect_pages(
        self, tokens: TokenSource, data_type: DataType, params: dict[str, str]
    ) -> list[Document]:
        validate = _page_validator(data_type)
        documents: list[Document] = []
        seen_tokens: set[str] = set()
        next_token: str | None = None
        for _ in range(_MAX_PAGES):
            page_params = (
                dict(params) if next_token is None else {**params, "next_token": next_token}
            )
            page = await self._get(tokens, data_type, page_params, validate)
            documents.extend(page["data"])
            next_token = page.get("next_token")
            if not next_token:
                return documents
            if next_token in seen_tokens:
                raise WindowFailed(
                    f"{data_type.name}: Oura repeated a next_token (pagination loop)"
                )
            seen_tokens.add(next_token)
        raise WindowFailed(f"{data_type.name}: more than {_MAX_PAGES} pages")

    async def _get(
        self,
        tokens: TokenSource,
        data_type: DataType,
        params: dict[str, str],
        validate: Callable[[Any], Any],
        *,
        path_suffix: str = "",
    ) -> Any:
        """GET one page with the whole failure policy: 401 refresh-once, 403 not granted,
        429 wait as told, 5xx/network/malformed capped backoff, other 4xx fail at once (a 404
        for one document: DocumentNotFound)."""
        settings = self._settings
        url = self._base + data_path(data_type) + path_suffix
        token = await tokens.access_token()
        refreshed = False
        failures = 0
        waited_for_limit = 0.0
        while True:
            response, problem = await self._send(url, params, token, data_type.name)
            if response is not None:
                status = response.status_code
                if status == 200:
                    try:
                        return validate(_json(response))
                    except MalformedPage as exc:
                        problem = f"malformed page: {exc}"
                elif status == 401:
                    if refreshed:
                        raise Unauthorized(f"{data_type.name}: 401 even after a token refresh")
                    token = await tokens.after_rejection(token)
                    refreshed = True
                    continue
                elif status == 403:
                    raise NotGranted(f"{data_type.name}: not granted ({_detail(response)})")
                elif status == 429:
                    wait = retry_after_seconds(response, fallback=settings.backoff_cap_s)
                    waited_for_limit += wait
                    if waited_for_limit > settings.max_rate_limit_wait_s:
                        raise WindowFailed(
                            f"{data_type.name}: still rate limited after {waited_for_limit:.0f}s"
                        )
                    self.limiter.pause(wait)
                    continue
                elif status == 404 and path_suffix:
                    raise DocumentNotFound(f"{data_type.name}: no document {path_suffix[1:]}")
                elif status >= 500:
                    problem = f"HTTP {status}"
                else:
                    raise WindowFailed(f"{data_type.name}: HTTP {status} ({_detail(response)})")
            failures += 1
            if failures >= settings.max_attempts:
                raise WindowFailed(f"{data_type.name}: {problem} after {failures} attempts")
            await asyncio.sleep(self._backoff(failures))

    async def _send(
        self, url: str, params: dict[str, str], token: str, label: str
    ) -> tuple[httpx.Response | None, str]:
        async with self._in_flight:
            await self.limiter.acquire()
            started = time.monotonic()
            try:
                response = await self._http.get(
                    url, params=params, headers={"Authorization": f"Bearer {token}"}
                )
                # Read the body inside the bound: a slow body is part of the request.
                await response.aread()
            except httpx.HTTPError as exc:
                OURA_REQUESTS.labels(label, "error").inc()
                return None, type(exc).__name__
            finally:
                OURA_REQUEST_SECONDS.labels(label).observe(time.monotonic() - started)
        OURA_REQUESTS.labels(label, str(response.status_code)).inc()
        return response, ""

    def _backoff(self, failures: int) -> float:
        ceiling = min(
            self._settings.backoff_cap_s, self._settings.backoff_base_s * 2.0 ** (failures - 1)
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after_seconds(response: httpx.Response, *, fallback: float) -> float:
    """Seconds to wait after a 429: Retry-After (seconds or HTTP date), else X-RateLimit-Reset
    (Unix epoch seconds), else `fallback`."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                moment = parsedate_to_datetime(retry_after)
                return max(0.0, (moment - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return fallback


def group_heartrate_by_day(rows: list[Document], start: date, end: date) -> list[Document]:
    """Heart-rate rows → one `{"day", "rows"}` document per UTC day in [start, end]."""
    by_day: dict[int, list[Document]] = {}
    for row in rows:
        unix_ms = row.get("timestamp_unix")
        if not isinstance(unix_ms, int):
            moment = datetime.fromisoformat(row["timestamp"])
            unix_ms = int(moment.timestamp() * 1000)
            row = {**row, "timestamp_unix": unix_ms}
        day_rows = by_day.get(unix_ms // _DAY_MS)
        if day_rows is None:
            by_day[unix_ms // _DAY_MS] = [row]
        else:
            day_rows.append(row)
    low = start.toordinal() - _EPOCH_ORDINAL
    high = end.toordinal() - _EPOCH_ORDINAL
    documents: list[Document] = []
    for number in sorted(by_day):
        if low <= number <= high:
            day_rows = by_day[number]
            day_rows.sort(key=_BY_UNIX)  # already in order from Oura: one linear pass
            day = date.fromordinal(_EPOCH_ORDINAL + number).isoformat()
            documents.append({"day": day, "rows": day_rows})
    return documents


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise MalformedPage(f"not JSON ({exc})") from None


def _envelope(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise MalformedPage("no `data` list")
    next_token = payload.get("next_token")
    if next_token is not None and not isinstance(next_token, str):
        raise MalformedPage("`next_token` is neither a string nor null")
    return payload


def _document_validator(day_field: str | None) -> Callable[[Any], Any]:
    def validate(payload: Any) -> Any:
        page = _envelope(payload)
        for item in page["data"]:
            if not isinstance(item, dict):
                raise MalformedPage("a `data` item is not an object")
            if day_field is not None and not isinstance(item.get(day_field), str):
                raise MalformedPage(f"a document has no `{day_field}`")
        return page

    return validate


def _page_validator(data_type: DataType) -> Callable[[Any], Any]:
    """What a list page of `data_type` must hold: heart-rate rows, or documents with their day."""
    if data_type.query is QueryKind.DATETIME:
        return _heartrate_validator
    return _document_validator(data_type.day_field)


def _heartrate_validator(payload: Any) -> Any:
    page = _envelope(payload)
    for row in page["data"]:
        if not (
            isinstance(row, dict)
            and isinstance(row.get("timestamp"), str)
            and isinstance(row.get("bpm"), int)
        ):
            raise MalformedPage("a heart-rate row lacks `timestamp` or `bpm`")
    return page


def _single_validator(payload: Any) -> Any:
    if not isinstance(payload, dict) or "data" in payload:
        raise MalformedPage("expected one object")
    return payload


def _detail(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(payload, dict):
        for key in ("detail", "error_description", "message", "title", "error"):
            if key in payload:
                return str(payload[key])[:200]
    return str(payload)[:200]
