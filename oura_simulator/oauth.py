"""Oura's OAuth2 endpoints: consent (auto-approved for a chosen simulated user), the token
endpoint (also at the developer-portal path) and revocation."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from html import escape
from urllib.parse import unquote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from oura_simulator.state import Simulator
from oura_simulator.tokens import OAuthFailure
from schemas.data_types import ALL_SCOPES

log = logging.getLogger(__name__)

TOKEN_PATHS = ("/oauth/token", "/oauth/v2/ext/oauth-token")


def oauth_error(failure: OAuthFailure) -> JSONResponse:
    """RFC 6749 fields plus Oura's generic {status, title, detail} (OURA_API_V2.md §1.6)."""
    titles = {400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}
    body = {
        "error": failure.error,
        "error_description": failure.description,
        "status": failure.status,
        "title": titles.get(failure.status, "Error"),
        "detail": failure.description,
    }
    headers = {"Cache-Control": "no-store"}
    if failure.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oura"'
    return JSONResponse(body, status_code=failure.status, headers=headers)


def _redirect(redirect_uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=302)


def _consent_page(params: list[tuple[str, str]], login: str, scopes: list[str]) -> HTMLResponse:
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in params
        if k not in ("approve", "deny")
    )
    items = "".join(f"<li>{escape(s)}</li>" for s in scopes)
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Oura simulator: allow access</title></head><body>"
        f"<h1>Allow access to your Oura data?</h1><p>Simulated Oura user: "
        f"<strong>{escape(login)}</strong></p><p>The application asks for:</p><ul>{items}</ul>"
        f'<form method="get" action="/oauth/authorize">{hidden}'
        '<button type="submit" id="allow" name="approve" value="1">Allow</button> '
        '<button type="submit" id="deny" name="deny" value="1">Deny</button></form>'
        "</body></html>"
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


def oauth_router(sim: Simulator) -> APIRouter:
    router = APIRouter()
    config = sim.config

    @router.get("/oauth/authorize")
    async def authorize(request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != config.client_id:
            return oauth_error(OAuthFailure(400, "invalid_client", "Unknown client_id."))
        redirect_uri = q.get("redirect_uri")
        if redirect_uri is None and len(config.redirect_uris) == 1:
            target = config.redirect_uris[0]
        # Only registered URIs, exactly, as Oura does: a code sent anywhere else is a code
        # handed to whoever wrote the link.
        elif redirect_uri is None or redirect_uri not in config.redirect_uris:
            return oauth_error(
                OAuthFailure(400, "invalid_redirect_uri", "redirect_uri is not registered.")
            )
        else:
            target = redirect_uri
        state = q.get("state")
        if q.get("response_type") != "code":
            return _redirect(
                target,
                {
                    "error": "unsupported_response_type",
                    "error_description": "response_type must be code.",
                    "state": state,
                },
            )
        raw_scope = q.get("scope")
        requested = (
            [s for s in re.split(r"[\s,+]+", raw_scope) if s] if raw_scope else list(ALL_SCOPES)
        )
        unknown = [s for s in requested if s not in ALL_SCOPES]
        if unknown:
            return _redirect(
                target,
                {
                    "error": "invalid_scope",
                    "error_description": f"Unknown scope: {' '.join(unknown)}.",
                    "state": state,
                },
            )
        login = q.get("user") or "demo"
        if not sim.has_user(login):
            return JSONResponse({"detail": f"Unknown simulated user {login!r}."}, status_code=400)
        challenge = q.get("code_challenge")
        if challenge is not None and q.get("code_challenge_method") != "S256":
            # `plain` would hand the verifier to whoever reads the authorization URL.
            return _redirect(
                target,
                {
                    "error": "invalid_request",
                    "error_description": "code_challenge_method must be S256.",
                    "state": state,
                },
            )
        if "text/html" in request.headers.get("accept", "") and not (
            q.get("approve") or q.get("deny")
        ):
            # A browser sees a consent screen, as at Oura; programs are approved at once.
            return _consent_page(q.multi_items(), login, requested)
        if q.get("deny") in ("1", "true", "yes"):
            return _redirect(
                target,
                {
                    "error": "access_denied",
                    "error_description": "The user denied access.",
                    "state": state,
                },
            )
        code, granted = sim.authorize(
            login, config.client_id, redirect_uri, requested, code_challenge=challenge
        )
        log.info("authorization approved", extra={"user": login, "scopes": sorted(granted)})
        return _redirect(target, {"code": code, "state": state})

    async def token(request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        basic_id, basic_secret = _basic_credentials(request)
        client_id = fields.get("client_id") or basic_id
        client_secret = fields.get("client_secret") or basic_secret
        grant_type = fields.get("grant_type") or ""
        credential = fields.get("code" if grant_type == "authorization_code" else "refresh_token")
        login = sim.tokens.login_of(grant_type, credential) if credential else None
        sim.tokens.count_request(grant_type or "missing", login)
        now = sim.clock.timestamp()
        try:
            sim.check_client(client_id, client_secret)
            if grant_type == "authorization_code":
                if not credential:
                    raise OAuthFailure(400, "invalid_request", "code is required.")
                access, refresh, grant = sim.tokens.exchange_code(
                    credential,
                    config.client_id,
                    fields.get("redirect_uri"),
                    now,
                    code_verifier=fields.get("code_verifier"),
                )
            elif grant_type == "refresh_token":
                if not credential:
                    raise OAuthFailure(400, "invalid_request", "refresh_token is required.")
                access, refresh, grant = sim.tokens.refresh(credential, config.client_id, now)
            else:
                raise OAuthFailure(
                    400,
                    "unsupported_grant_type",
                    "grant_type must be either authorization_code or refresh_token",
                )
        except OAuthFailure as failure:
            log.info(
                "token request refused",
                extra={"grant_type": grant_type, "error": failure.error, "user": login},
            )
            return oauth_error(failure)
        log.info("tokens issued", extra={"grant_type": grant_type, "user": grant.login})
        return JSONResponse(
            sim.token_response(access, refresh, grant),
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    for path in TOKEN_PATHS:
        router.add_api_route(path, token, methods=["POST"], name=f"token{path}")

    @router.api_route("/oauth/revoke", methods=["GET", "POST"])
    async def revoke(request: Request) -> Response:
        value = request.query_params.get("access_token")
        if value is None and request.method == "POST":
            form = await request.form()
            candidate = form.get("access_token") or form.get("token")
            value = candidate if isinstance(candidate, str) else None
        if not value:
            return oauth_error(OAuthFailure(400, "invalid_request", "access_token is required."))
        # RFC 7009: unknown tokens are not an error for the caller.
        revoked = sim.tokens.revoke_token(value)
        log.info("revocation", extra={"grant_found": revoked})
        return JSONResponse({})

    return router
