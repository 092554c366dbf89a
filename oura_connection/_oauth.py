"""Oura's OAuth2 endpoints: authorize URL, code exchange, refresh (single-use rotating refresh
tokens) and revocation. Works against Oura, its developer-portal token endpoint, or the simulator:
every URL comes from settings."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from oura_connection.settings import OuraOAuthSettings
from schemas.data_types import ALL_SCOPES


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scopes: list[str]
    """Granted scopes as Oura reported them; empty when the token response did not say."""


class OAuthError(Exception):
    """A token-endpoint failure other than invalid_grant. `retryable`: worth trying again later
    (5xx, 429, network), as opposed to a configuration problem (invalid_client, bad redirect)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class InvalidGrant(OAuthError):
    """The code or refresh token was expired, already used or revoked: the user must reconnect."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, retryable=False, status=status)


def _parse_scopes(value: Any) -> list[str]:
    if isinstance(value, str):
        return [s for s in value.replace(",", " ").split() if s]
    if isinstance(value, list):
        return [str(s) for s in value]
    return []


class OuraOAuthClient:
    """Talks to the token endpoint. Retries 5xx/429/network failures a few times with backoff;
    never retries invalid_grant (that would only burn more tokens and hammer Oura)."""

    def __init__(
        self,
        settings: OuraOAuthSettings,
        http: httpx.AsyncClient | None = None,
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self._settings = settings
        self._http = http or httpx.AsyncClient(timeout=settings.oauth_timeout_s)
        self._owns_http = http is None
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> OuraOAuthClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def authorization_url(
        self, state: str, scopes: list[str] | None = None, *, code_challenge: str | None = None
    ) -> str:
        """Where to send the browser; Oura redirects back with `code` and `state`. With a PKCE
        `code_challenge` (S256), the exchange must bring its verifier."""
        wanted = scopes if scopes is not None else (self._settings.oura_scopes or ALL_SCOPES)
        query = {
            "response_type": "code",
            "client_id": self._settings.oura_client_id,
            "redirect_uri": self._settings.oura_redirect_uri,
            "state": state,
            "scope": " ".join(wanted),
        }
        if code_challenge is not None:
            query |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        separator = "&" if "?" in self._settings.oura_authorize_url else "?"
        return f"{self._settings.oura_authorize_url}{separator}{urlencode(query)}"

    async def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenGrant:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._settings.oura_redirect_uri,
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return await self._token_request(form)

    async def refresh(self, refresh_token: str) -> TokenGrant:
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def revoke(self, token: str) -> None:
        """Revoke a token (access or refresh) at Oura. Raises OAuthError unless Oura answered
        2xx: a 401 or 404 means the request never reached a revocation (our credentials, the
        URL), not that the grant is gone (RFC 7009 answers 200 for an unknown token)."""
        try:
            response = await self._http.post(
                self._settings.oura_revoke_url, params={"access_token": token}
            )
        except httpx.HTTPError as exc:
            raise OAuthError(f"revoke failed: {type(exc).__name__}", retryable=True) from None
        if response.status_code >= 300:
            raise OAuthError(
                f"revoke answered HTTP {response.status_code}",
                retryable=response.status_code >= 500,
                status=response.status_code,
            )

    async def oura_user_id(self, access_token: str) -> str | None:
        """Oura's id of the account a token belongs to (`personal_info.id`, readable with any
        scope): what webhook events name. None when Oura does not say; the collector's next run
        tries again, so connecting never fails on it."""
        base = self._settings.oura_api_base_url.rstrip("/")
        try:
            response = await self._http.get(
                f"{base}/v2/usercollection/personal_info",
                headers={"Authorization": f"Bearer {access_token}"},
            )
        except httpx.HTTPError:
            return None
        payload = _json_or_none(response) if response.status_code == 200 else None
        found = (payload or {}).get("id")
        return found if isinstance(found, str) and found else None

    async def _token_request(self, form: dict[str, str]) -> TokenGrant:
        body = {
            **form,
            "client_id": self._settings.oura_client_id,
            "client_secret": self._settings.oura_client_secret.get_secret_value(),
        }
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._post_token(body)
            except OAuthError as exc:
                if isinstance(exc, InvalidGrant) or not exc.retryable or attempt == self._attempts:
                    raise
                delay = self._backoff_s * 2 ** (attempt - 1)
                await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
        raise AssertionError("unreachable")

    async def _post_token(self, body: dict[str, str]) -> TokenGrant:
        grant_type = body["grant_type"]
        try:
            response = await self._http.post(
                self._settings.oura_token_url,
                data=body,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise OAuthError(
                f"{grant_type} request failed: {type(exc).__name__}", retryable=True
            ) from None
        payload = _json_or_none(response)
        if response.status_code >= 400:
            raise _error_from(grant_type, response.status_code, payload)
        if payload is None:
            raise OAuthError(
                f"{grant_type} answered HTTP {response.status_code} without a JSON body",
                retryable=True,
                status=response.status_code,
            )
        return _grant_from(grant_type, payload)


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _error_from(grant_type: str, status: int, payload: dict[str, Any] | None) -> OAuthError:
    error = str((payload or {}).get("error") or "")
    description = str(
        (payload or {}).get("error_description") or (payload or {}).get("detail") or ""
    )
    message = f"{grant_type} refused: HTTP {status} {error or 'error'}"
    if description:
        message += f" ({description[:200]})"
    if error == "invalid_grant":
        return InvalidGrant(message, status=status)
    return OAuthError(message, retryable=status >= 500 or status == 429, status=status)


def _grant_from(grant_type: str, payload: dict[str, Any]) -> TokenGrant:
    access = payload.get("access_token")
    refresh = payload.get("refresh_token")
    if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
        raise OAuthError(
            f"{grant_type} response lacks access_token or refresh_token", retryable=False
        )
    try:
        expires_in = float(payload.get("expires_in", 86400))
    except (TypeError, ValueError):
        expires_in = 86400.0
    return TokenGrant(
        access_token=access,
        refresh_token=refresh,
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        scopes=_parse_scopes(payload.get("scope")),
    )
