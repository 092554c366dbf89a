"""What every page shares: the templates, the page headers, the session and CSRF checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gateway.deps import Services
from gateway.security.browser import BrowserSession
from gateway.web_session import CSRF_FIELD, csrf_for, csrf_ok, session_of, set_csrf_cookie

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _policy(services: Services) -> str:
    authorize = urlsplit(services.settings.oura_authorize_url)
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
    services = services_of(request)
    session_id = session.session_id if session else ""
    token, fresh_cookie = csrf_for(request, services.settings, session_id)
    rendered = TEMPLATES.get_template(template).render(
        request=request,
        csrf_field=CSRF_FIELD,
        csrf_token=token,
        signed_in=session is not None,
        grafana_url=services.settings.grafana_url,
        **context,
    )
    response = HTMLResponse(
        rendered,
        status_code=status_code,
        headers={"Content-Security-Policy": _policy(services), "Cache-Control": "no-store"},
    )
    if fresh_cookie is not None:
        set_csrf_cookie(response, services.settings, fresh_cookie)
    return response


def to_signin(request: Request) -> RedirectResponse:
    return RedirectResponse("/signin", status_code=303)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def current_session(request: Request) -> BrowserSession | None:
    return await session_of(request, services_of(request))


async def form_of(request: Request, session: BrowserSession | None) -> dict[str, str] | None:
    """The submitted form's fields, or None when its CSRF token is missing or wrong."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    token = fields.pop(CSRF_FIELD, "")
    session_id = session.session_id if session else ""
    if not csrf_ok(request, services_of(request).settings, token, session_id):
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
