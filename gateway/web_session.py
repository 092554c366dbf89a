"""Browser sessions and CSRF cookies for the web pages, and the connect cookie of the OAuth flow.

A session cookie names the account and the token version it was issued under: the API's logout
and a password change bump the version, which ends browser sessions too, on every replica."""

from __future__ import annotations

from urllib.parse import urlsplit
from uuid import UUID

from fastapi import Request, Response

from gateway.deps import Accounts, current_token_version
from gateway.security import browser
from gateway.settings import GatewaySettings

SESSION_COOKIE = "myhealth_session"
CSRF_COOKIE = "myhealth_csrf"
CONNECT_COOKIE = "myhealth_connect"
CSRF_FIELD = "csrf_token"


def _secret(settings: GatewaySettings) -> str:
    return settings.jwt_secret.get_secret_value()


def set_cookie(
    response: Response,
    settings: GatewaySettings,
    name: str,
    value: str,
    *,
    max_age: int | None,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        # Lax: sent on the top-level navigation back from Oura's consent, never on a
        # cross-site POST.
        samesite="lax",
        secure=settings.environment != "development",
    )


async def session_of(request: Request, accounts: Accounts) -> browser.BrowserSession | None:
    """The browser's live session: signed by us, unexpired, of an account that still exists
    and has not ended its sessions since."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        session = browser.read_session(token, secret=_secret(accounts.settings))
    except browser.InvalidBrowserToken:
        return None
    current = await current_token_version(accounts, session.user_id)
    return session if current == session.token_version else None


def start_session(response: Response, accounts: Accounts, user_id: UUID, version: int) -> None:
    settings = accounts.settings
    token = browser.create_session(
        user_id, version=version, secret=_secret(settings), ttl_s=settings.web_session_ttl_s
    )
    set_cookie(response, settings, SESSION_COOKIE, token, max_age=settings.web_session_ttl_s)
    # A fresh CSRF cookie with every session: a value planted before sign-in is worth nothing.
    set_cookie(response, settings, CSRF_COOKIE, browser.new_secret(), max_age=None)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def csrf_for(
    request: Request, settings: GatewaySettings, session_id: str
) -> tuple[str, str | None]:
    """The token for the forms of a page, and a new CSRF cookie value to set when the browser
    has none yet."""
    cookie = request.cookies.get(CSRF_COOKIE)
    fresh = None
    if not cookie:
        cookie = fresh = browser.new_secret()
    token = browser.csrf_token(secret=_secret(settings), csrf_cookie=cookie, session_id=session_id)
    return token, fresh


def set_csrf_cookie(response: Response, settings: GatewaySettings, value: str) -> None:
    set_cookie(response, settings, CSRF_COOKIE, value, max_age=None)


def csrf_ok(request: Request, settings: GatewaySettings, token: str, session_id: str) -> bool:
    return browser.csrf_valid(
        token,
        secret=_secret(settings),
        csrf_cookie=request.cookies.get(CSRF_COOKIE, ""),
        session_id=session_id,
    )


def callback_path(settings: GatewaySettings) -> str:
    return urlsplit(settings.oura_redirect_uri).path or "/"


def set_connect_cookie(response: Response, settings: GatewaySettings, nonce: str) -> None:
    # Scoped to the callback: no other request of ours carries it.
    set_cookie(
        response,
        settings,
        CONNECT_COOKIE,
        nonce,
        max_age=settings.oauth_state_ttl_s,
        path=callback_path(settings),
    )


def clear_connect_cookie(response: Response, settings: GatewaySettings) -> None:
    response.delete_cookie(CONNECT_COOKIE, path=callback_path(settings))
