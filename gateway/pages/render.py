"""What every page shares: the templates, the page headers, the session and CSRF checks."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gateway.deps import Accounts, Connections, Reads
from gateway.errors import ApiError
from gateway.security.browser import BrowserSession
from gateway.settings import GatewaySettings
from gateway.web_session import CSRF_FIELD, csrf_for, csrf_ok, session_of, set_csrf_cookie

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
P = ParamSpec("P")


def accounts_of(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def connections_of(request: Request) -> Connections:
    connections: Connections = request.app.state.connections
    return connections


def reads_of(request: Request) -> Reads:
    reads: Reads = request.app.state.reads
    return reads


def _policy(settings: GatewaySettings) -> str:
    authorize = urlsplit(settings.oura_authorize_url)
    oura = f"{authorize.scheme}://{authorize.netloc}"
    # form-action also governs where a form's redirect may lead: the connect form ends at Oura.
    return (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action 'self' {oura}; frame-ancestors 'none'; base-uri 'none'"
    )


def page(
    request: Request,
    template: str,
    session: BrowserSession | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page; its forms get this browser's CSRF token. Pages hold health data and
    account state: never cached."""
    settings = accounts_of(request).settings
    session_id = session.session_id if session else ""
    token, fresh_cookie = csrf_for(request, settings, session_id)
    rendered = TEMPLATES.get_template(template).render(
        request=request,
        csrf_field=CSRF_FIELD,
        csrf_token=token,
        signed_in=session is not None,
        grafana_url=settings.grafana_url,
        **context,
    )
    response = HTMLResponse(
        rendered,
        status_code=status_code,
        headers={"Content-Security-Policy": _policy(settings), "Cache-Control": "no-store"},
    )
    if fresh_cookie is not None:
        set_csrf_cookie(response, settings, fresh_cookie)
    return response


def to_signin(request: Request) -> RedirectResponse:
    return RedirectResponse("/signin", status_code=303)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def current_session(request: Request) -> BrowserSession | None:
    return await session_of(request, accounts_of(request))


async def form_of(request: Request, session: BrowserSession | None) -> dict[str, str] | None:
    """The submitted form's fields, or None when its CSRF token is missing or wrong."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    token = fields.pop(CSRF_FIELD, "")
    session_id = session.session_id if session else ""
    if not csrf_ok(request, accounts_of(request).settings, token, session_id):
        return None
    return fields


def csrf_refused(request: Request, session: BrowserSession | None) -> Response:
    return page(
        request,
        "message.html",
        session,
        status_code=403,
        title="Form expired",
        message="This form was not sent from this site's current page. Go back, reload and "
        "try again.",
    )


class Answered(Exception):
    """A check's own answer in place of the page (sign in first, the form expired)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def answers(handler: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """A page route whose checks (`signed_in`, `checked_form`) answer by raising `Answered`.
    FastAPI reads the route's parameters through the wrapper."""

    @functools.wraps(handler)
    async def answered(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except Answered as answer:
            return answer.response

    return answered


async def signed_in(request: Request) -> BrowserSession:
    """The browser's session; without one, the answer is the way to sign in."""
    session = await current_session(request)
    if session is None:
        raise Answered(to_signin(request))
    return session


async def checked_form(request: Request, session: BrowserSession | None) -> dict[str, str]:
    """The submitted form's fields; when its CSRF token is missing or wrong, the answer says the
    form expired."""
    fields = await form_of(request, session)
    if fields is None:
        raise Answered(csrf_refused(request, session))
    return fields


def message(
    request: Request, session: BrowserSession | None, title: str, exc: ApiError
) -> HTMLResponse:
    """The API's refusal as a page: its status and its detail under the page's title."""
    return page(
        request, "message.html", session, status_code=exc.status, title=title, message=exc.detail
    )
