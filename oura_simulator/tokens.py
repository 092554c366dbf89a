"""OAuth state: authorization codes, access tokens and single-use rotating refresh tokens.

A grant is one user's consent to one client; every refresh issues a new access/refresh pair in
the same grant, and revoking the grant kills all of them. Tokens are opaque random strings kept
only in memory and never logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar

GRANT_TYPES = ("authorization_code", "refresh_token")


class OAuthFailure(Exception):
    """An RFC 6749 error answer: status, `error` code and a human description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


@dataclass(slots=True)
class Grant:
    grant_id: str
    login: str
    client_id: str
    scopes: frozenset[str]
    revoked: bool = False


@dataclass(slots=True)
class AccessToken:
    grant: Grant
    expires_at: float
    expired_by_knob: bool = False


@dataclass(slots=True)
class RefreshToken:
    grant: Grant
    used: bool = False


@dataclass(slots=True)
class AuthCode:
    login: str
    client_id: str
    redirect_uri: str | None
    scopes: frozenset[str]
    expires_at: float
    used: bool = False
    code_challenge: str | None = None
    """PKCE S256 challenge of the authorization request; the exchange must bring its verifier."""


_SingleUse = TypeVar("_SingleUse", AuthCode, RefreshToken)


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


@dataclass(slots=True)
class TokenStats:
    by_grant: Counter[str] = field(default_factory=Counter)
    by_user: dict[str, Counter[str]] = field(default_factory=dict)
    issued: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            "token_requests": dict(self.by_grant),
            "token_requests_by_user": {u: dict(c) for u, c in self.by_user.items()},
            "tokens_issued_by_user": dict(self.issued),
            "token_failures": dict(self.failures),
        }


class TokenStore:
    def __init__(self, access_ttl_s: int, code_ttl_s: int) -> None:
        self.access_ttl_s = access_ttl_s
        self.code_ttl_s = code_ttl_s
        self._lock = threading.RLock()
        self._codes: dict[str, AuthCode] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._grants: dict[str, list[Grant]] = {}
        self.stats = TokenStats()

    def new_code(
        self,
        login: str,
        client_id: str,
        redirect_uri: str | None,
        scopes: frozenset[str],
        now: float,
        code_challenge: str | None = None,
    ) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = AuthCode(
                login,
                client_id,
                redirect_uri,
                scopes,
                now + self.code_ttl_s,
                code_challenge=code_challenge,
            )
        return code

    def count_request(self, grant_type: str, login: str | None) -> None:
        with self._lock:
            self.stats.by_grant[grant_type] += 1
            if login is not None:
                self.stats.by_user.setdefault(login, Counter())[grant_type] += 1

    def login_of(self, grant_type: str, credential: str) -> str | None:
        """Which user a code/refresh token belongs to, even if spent (for per-user stats)."""
        with self._lock:
            if grant_type == "authorization_code" and credential in self._codes:
                return self._codes[credential].login
            if grant_type == "refresh_token" and credential in self._refresh:
                return self._refresh[credential].grant.login
            return None

    def exchange_code(
        self,
        code: str,
        client_id: str,
        redirect_uri: str | None,
        now: float,
        code_verifier: str | None = None,
    ) -> tuple[str, str, Grant]:
        with self._lock:
            record = self._unspent(self._codes, code, "authorization code")
            if now >= record.expires_at:
                raise self._fail("invalid_grant", "Authorization code has expired.")
            if record.client_id != client_id:
                raise self._fail(
                    "invalid_grant", "Authorization code was issued to another client."
                )
            if record.redirect_uri is not None and record.redirect_uri != redirect_uri:
                raise self._fail("invalid_grant", "redirect_uri does not match the authorization.")
            if record.code_challenge is not None and not (
                code_verifier and hmac.compare_digest(_s256(code_verifier), record.code_challenge)
            ):
                # RFC 7636 4.6: a missing or wrong verifier is invalid_grant; the code stays
                # unused, as a request from whoever intercepted it must not burn it either.
                raise self._fail("invalid_grant", "PKCE verification failed.")
            record.used = True
            grant = Grant(secrets.token_hex(8), record.login, client_id, record.scopes)
            return (*self._issue(grant, now), grant)

    def refresh(self, refresh_token: str, client_id: str, now: float) -> tuple[str, str, Grant]:
        with self._lock:
            record = self._unspent(self._refresh, refresh_token, "refresh token")
            if record.grant.revoked:
                raise self._fail("invalid_grant", "Refresh token has been revoked.")
            if record.grant.client_id != client_id:
                raise self._fail("invalid_grant", "Refresh token was issued to another client.")
            record.used = True
            return (*self._issue(record.grant, now), record.grant)

    def issue_direct(
        self, login: str, client_id: str, scopes: frozenset[str], now: float
    ) -> tuple[str, str, Grant]:
        """Tokens without the browser dance (test shortcut, same rules afterwards)."""
        with self._lock:
            grant = Grant(secrets.token_hex(8), login, client_id, scopes)
            return (*self._issue(grant, now), grant)

    def _issue(self, grant: Grant, now: float) -> tuple[str, str]:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        self._access[access] = AccessToken(grant, now + self.access_ttl_s)
        self._refresh[refresh] = RefreshToken(grant)
        grants = self._grants.setdefault(grant.login, [])
        if not any(g is grant for g in grants):
            grants.append(grant)
        self.stats.issued[grant.login] += 1
        return access, refresh

    def _unspent(self, records: dict[str, _SingleUse], credential: str, what: str) -> _SingleUse:
        """The record behind a single-use credential: an unknown or spent one is invalid_grant
        (the rest of what makes it redeemable differs between codes and refresh tokens)."""
        record = records.get(credential)
        if record is None:
            raise self._fail("invalid_grant", f"Invalid {what}.")
        if record.used:
            raise self._fail("invalid_grant", f"{what.capitalize()} has already been used.")
        return record

    def _fail(self, error: str, description: str) -> OAuthFailure:
        self.stats.failures[error] += 1
        return OAuthFailure(400, error, description)

    def authenticate(self, token: str, now: float) -> tuple[Grant | None, str]:
        """The grant behind a bearer token, or None and why not."""
        with self._lock:
            record = self._access.get(token)
            if record is None:
                return None, "invalid"
            if record.grant.revoked:
                return None, "revoked"
            if record.expired_by_knob or now >= record.expires_at:
                return None, "expired"
            return record.grant, "ok"

    def revoke_token(self, token: str) -> bool:
        """Revoke the grant behind an access or refresh token (all its tokens die)."""
        with self._lock:
            record: AccessToken | RefreshToken | None = self._access.get(token)
            if record is None:
                record = self._refresh.get(token)
            if record is None:
                return False
            record.grant.revoked = True
            return True

    def granted_scopes(self, login: str, client_id: str) -> frozenset[str]:
        """What the user's live (unrevoked) grants to `client_id` cover: an app hears of a
        user's data only while the user keeps it connected."""
        with self._lock:
            live = [
                g.scopes
                for g in self._grants.get(login, ())
                if not g.revoked and g.client_id == client_id
            ]
        return frozenset().union(*live)

    def revoke_user(self, login: str) -> int:
        with self._lock:
            grants = {id(r.grant): r.grant for r in self._access.values() if r.grant.login == login}
            for grant in grants.values():
                grant.revoked = True
            return len(grants)

    def expire_user(self, login: str) -> int:
        with self._lock:
            expired = 0
            for record in self._access.values():
                if record.grant.login == login and not record.expired_by_knob:
                    record.expired_by_knob = True
                    expired += 1
            return expired
