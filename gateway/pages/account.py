"""Account pages: sign up, sign in, sign out, change the password, delete the account.

Each form is handled by the same functions as the JSON API (registration, login throttles,
password policy, session ending, erasure), so the pages add no second set of rules."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from gateway.errors import ApiError
from gateway.models import PasswordChange, UserCreate
from gateway.oura_connect import read_connect_link
from gateway.pages.render import (
    Answered,
    accounts_of,
    answers,
    checked_form,
    connections_of,
    current_session,
    page,
    redirect,
    signed_in,
)
from gateway.repositories import users
from gateway.routes.accounts import delete_me, register, verify_login
from gateway.routes.sessions import change_password, end_sessions
from gateway.security.browser import BrowserSession
from gateway.web_session import end_session, start_session

router = APIRouter(include_in_schema=False)
log = logging.getLogger("gateway.pages")

Body = TypeVar("Body", bound=BaseModel)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{first['loc'][-1]}: {first['msg']}" if first.get("loc") else str(first["msg"])


def _refused(
    request: Request, template: str, session: BrowserSession | None, exc: ValidationError | ApiError
) -> Response:
    """The form again, saying what the API's rules refused (a malformed field: 422)."""
    if isinstance(exc, ValidationError):
        return page(request, template, session, status_code=422, error=_problem(exc))
    return page(request, template, session, status_code=exc.status, error=exc.detail)


def _form_body(model: type[Body], fields: Mapping[str, str]) -> Body:
    """The form as the API's request body: a blank optional field counts as not given."""
    given = {
        name: fields.get(name, "")
        for name, field in model.model_fields.items()
        if field.is_required() or fields.get(name)
    }
    return model.model_validate(given)


async def _submit(
    request: Request,
    session: BrowserSession | None,
    template: str,
    model: type[Body],
    action: Callable[[Body], Awaitable[object]],
) -> None:
    """Run the API's `action` on the form's fields as `model`; when the API refuses, the answer
    is the form again, saying why (a check, as in gateway.pages.render)."""
    fields = await checked_form(request, session)
    try:
        await action(_form_body(model, fields))
    except (ValidationError, ApiError) as exc:
        raise Answered(_refused(request, template, session, exc)) from exc


def _signed_out(request: Request, title: str, text: str) -> Response:
    """A last message once every session of the account has ended; this browser's too."""
    response = page(request, "message.html", None, title=title, message=text)
    end_session(response)
    return response


@router.get("/")
async def home(request: Request) -> Response:
    session = await current_session(request)
    return redirect("/connection" if session else "/signin")


@router.get("/signup")
async def signup_form(request: Request) -> Response:
    return page(request, "signup.html", await current_session(request))


@router.post("/signup")
@answers
async def signup(request: Request) -> Response:
    session = await current_session(request)
    accounts = accounts_of(request)
    await _submit(
        request, session, "signup.html", UserCreate, lambda body: register(body, request, accounts)
    )
    # The same answer whether or not the email was free (as the API's 202).
    return redirect("/signin?registered=1")


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    return page(
        request,
        "signin.html",
        await current_session(request),
        registered=request.query_params.get("registered") == "1",
        link=request.query_params.get("for", ""),
    )


@router.post("/signin")
@answers
async def signin(request: Request) -> Response:
    session = await current_session(request)
    fields = await checked_form(request, session)
    accounts = accounts_of(request)
    link = fields.get("for", "")
    try:
        user = await verify_login(
            accounts, request, fields.get("login", ""), fields.get("password", "")
        )
    except ApiError as exc:
        return page(
            request, "signin.html", session, status_code=exc.status, error=exc.detail, link=link
        )
    wanted: UUID | None = read_connect_link(connections_of(request), link) if link else None
    if link and wanted != user.id:
        # Signing in must not let a forwarded link continue on someone else's account.
        return page(
            request,
            "signin.html",
            session,
            status_code=403,
            error="This connect link was made for another account: sign in as that account.",
            link=link,
        )
    response = redirect(f"/connect/oura?{urlencode({'for': link})}" if link else "/connection")
    start_session(response, accounts, user.id, user.token_version)
    return response


@router.post("/signout")
@answers
async def signout(request: Request) -> Response:
    session = await signed_in(request)
    await checked_form(request, session)
    # Ends every session of the account, API tokens included: the API's logout does the same.
    await end_sessions(accounts_of(request), session.user_id)
    response = redirect("/signin")
    end_session(response)
    return response


@router.get("/password")
@answers
async def password_form(request: Request) -> Response:
    session = await signed_in(request)
    return page(request, "password.html", session)


@router.post("/password")
@answers
async def password(request: Request) -> Response:
    session = await signed_in(request)
    accounts = accounts_of(request)
    await _submit(
        request,
        session,
        "password.html",
        PasswordChange,
        lambda body: change_password(body, session.user_id, accounts),
    )
    return _signed_out(
        request,
        "Password changed",
        "Every session has ended, here and in the API. Sign in with the new password.",
    )


@router.get("/account/delete")
@answers
async def delete_form(request: Request) -> Response:
    session = await signed_in(request)
    user = await users.get_user(accounts_of(request).pool, session.user_id)
    return page(request, "delete.html", session, email=user.email if user else "")


@router.post("/account/delete")
@answers
async def delete(request: Request) -> Response:
    session = await signed_in(request)
    fields = await checked_form(request, session)
    accounts = accounts_of(request)
    user = await users.get_user(accounts.pool, session.user_id)
    email = user.email if user else ""
    if user is None or fields.get("confirm_email", "").strip().lower() != email.lower():
        return page(
            request,
            "delete.html",
            session,
            status_code=422,
            email=email,
            error="Type your email address exactly to confirm.",
        )
    try:
        accepted = await delete_me(session.user_id, accounts, connections_of(request))
    except ApiError as exc:
        return page(
            request, "delete.html", session, status_code=exc.status, email=email, error=exc.detail
        )
    return _signed_out(
        request,
        "Account deleted",
        "Your account and every piece of your data are gone from the database, and Oura's"
        " access is revoked; the copies in the event log are removed within 7 days. Your"
        f" erasure receipt: {accepted.status_url}",
    )
