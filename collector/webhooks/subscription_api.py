"""Oura's webhook subscription API (OURA_API_V2.md §4.1): app-level, authenticated with the
OAuth client's id and secret in headers, never with a user's token."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from collector.settings import CollectorSettings

PATH = "/v2/webhook/subscription"


class Subscription(BaseModel):
    """Oura's `WebhookSubscriptionModel`."""

    id: str
    callback_url: str
    event_type: str
    data_type: str
    expiration_time: datetime


_LIST = TypeAdapter(list[Subscription])
T = TypeVar("T")


class SubscriptionApiError(Exception):
    """Oura refused or did not answer; the message names the call and never a credential."""


class SubscriptionApi:
    """One method per route; 5xx and transport errors are retried with a doubling backoff."""

    def __init__(
        self, settings: CollectorSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._attempts = settings.max_attempts
        self._backoff_s = settings.backoff_base_s
        self._http = httpx.AsyncClient(
            base_url=settings.oura_api_base_url,
            headers={
                "x-client-id": settings.oura_client_id,
                "x-client-secret": settings.oura_client_secret.get_secret_value(),
            },
            timeout=settings.request_timeout_s,
            transport=transport,
        )

    async def __aenter__(self) -> SubscriptionApi:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def subscriptions(self) -> list[Subscription]:
        response = await self._call("GET", PATH, expect=200)
        return _parse(response, lambda: _LIST.validate_json(response.content))

    async def create(
        self, *, callback_url: str, verification_token: str, event_type: str, data_type: str
    ) -> Subscription:
        body = {
            "callback_url": callback_url,
            "verification_token": verification_token,
            "event_type": event_type,
            "data_type": data_type,
        }
        response = await self._call("POST", PATH, expect=201, json=body)
        return _one(response)

    async def update(
        self, subscription_id: str, *, callback_url: str, verification_token: str
    ) -> Subscription:
        body = {"callback_url": callback_url, "verification_token": verification_token}
        response = await self._call("PUT", f"{PATH}/{subscription_id}", expect=200, json=body)
        return _one(response)

    async def renew(self, subscription_id: str) -> Subscription:
        response = await self._call("PUT", f"{PATH}/renew/{subscription_id}", expect=200)
        return _one(response)

    async def delete(self, subscription_id: str) -> None:
        await self._call("DELETE", f"{PATH}/{subscription_id}", expect=204)

    async def _call(self, method: str, path: str, *, expect: int, **kw: Any) -> httpx.Response:
        what = f"{method} {path}"
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._http.request(method, path, **kw)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == expect:
                    return response
                problem = f"HTTP {response.status_code}: {_detail(response)}"
                if response.status_code < 500:
                    break
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        raise SubscriptionApiError(f"{what} failed: {problem}")


def _one(response: httpx.Response) -> Subscription:
    return _parse(response, lambda: Subscription.model_validate_json(response.content))


def _parse(response: httpx.Response, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except ValidationError as exc:
        where = f"{response.request.method} {response.request.url.path}"
        problem = exc.errors()[0]
        raise SubscriptionApiError(
            f"{where}: unexpected answer: {'.'.join(map(str, problem['loc']))}: {problem['msg']}"
        ) from None


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    return str(detail)[:200]
