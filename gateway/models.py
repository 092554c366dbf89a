"""Request and response models, named by role (UserCreate, UserPublic, ...), with examples for
the OpenAPI document at /docs."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal, Unpack
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from schemas.tables import trends as trends_table

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
PASSWORD_MIN_LENGTH = 10
BCRYPT_MAX_BYTES = 72


def with_example(fields: dict[str, Any], **config: Unpack[ConfigDict]) -> ConfigDict:
    """A model's config whose OpenAPI schema shows `fields` as its example."""
    return ConfigDict(json_schema_extra={"examples": [fields]}, **config)


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer has this shape."""

    model_config = with_example(
        {
            "detail": "query.start_date: Input should be a valid date",
            "code": "validation_error",
        }
    )
    detail: str
    code: str


REGISTRATION_DETAIL = (
    "If this email address was free, its account is ready: log in with it. An address that "
    "already has an account keeps it unchanged."
)


class UserCreate(BaseModel):
    model_config = with_example(
        {"email": "ada@example.com", "username": "ada", "password": "correct horse battery"},
        extra="forbid",
    )
    email: str = Field(max_length=254)
    username: str | None = Field(default=None, max_length=32)
    password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=BCRYPT_MAX_BYTES)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not EMAIL_RE.match(value):
            raise ValueError("not a valid email address")
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is not None and not USERNAME_RE.match(value):
            raise ValueError("3 to 32 characters: letters, digits, '_', '.', '-'")
        return value

    @field_validator("password")
    @classmethod
    def _password_bytes(cls, value: str) -> str:
        if len(value.encode()) > BCRYPT_MAX_BYTES:
            raise ValueError(f"at most {BCRYPT_MAX_BYTES} bytes in UTF-8")
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _password_not_identity(self) -> UserCreate:
        lowered = self.password.strip().lower()
        identities = {self.email.lower(), self.email.split("@", 1)[0].lower()}
        if self.username:
            identities.add(self.username.lower())
        if lowered in identities:
            raise ValueError("password: must not be the username or the email address")
        return self


class UserPublic(BaseModel):
    model_config = with_example(
        {
            "id": "0b6a9f0e-6d43-4a8e-9d1c-0d8f3f4b2a11",
            "email": "ada@example.com",
            "username": "ada",
            "created_at": "2026-11-27T06:00:00Z",
        }
    )
    id: UUID
    email: str
    username: str | None
    created_at: datetime


class LoginRequest(BaseModel):
    """Log in with the email address or the username."""

    model_config = with_example(
        {"email": "ada@example.com", "password": "correct horse battery"}, extra="forbid"
    )
    email: str | None = Field(default=None, max_length=254)
    username: str | None = Field(default=None, max_length=254)
    password: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _one_identifier(self) -> LoginRequest:
        if not (self.email or self.username):
            raise ValueError("email: give the email address or the username")
        return self

    @property
    def login(self) -> str:
        return (self.email or self.username or "").strip().lower()


class TokenResponse(BaseModel):
    model_config = with_example(
        {
            "access_token": "eyJhbGciOiJIUzI1NiJ9...",
            "token_type": "bearer",
            "expires_in": 900,
            "refresh_token": "q1J6...",
        }
    )
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str
    """Single-use: POST /api/token/refresh answers a new pair (and spends this one)."""


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=256)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=BCRYPT_MAX_BYTES)

    @field_validator("new_password")
    @classmethod
    def _password_bytes(cls, value: str) -> str:
        if len(value.encode()) > BCRYPT_MAX_BYTES:
            raise ValueError(f"at most {BCRYPT_MAX_BYTES} bytes in UTF-8")
        return value


class SessionsEnded(BaseModel):
    model_config = with_example({"status": "signed_out"})
    status: Literal["signed_out"] = "signed_out"


class RegistrationAccepted(BaseModel):
    """The same answer whether or not the email already had an account (no enumeration)."""

    model_config = with_example({"status": "accepted", "detail": REGISTRATION_DETAIL})
    status: Literal["accepted"] = "accepted"
    detail: str = REGISTRATION_DETAIL


class AuthorizationUrl(BaseModel):
    model_config = with_example(
        {"authorization_url": "https://myhealth.example/connect/oura?for=..."}
    )
    authorization_url: str = Field(
        description="The gateway's connect page for this account, to open in a browser: it "
        "signs in as the same account, then sends the browser to Oura's consent"
    )


class DataTypeSync(BaseModel):
    status: str
    cursor_day: date | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    documents_total: int


class ConnectionPublic(BaseModel):
    model_config = with_example(
        {
            "status": "active",
            "scopes": ["email", "daily", "heartrate"],
            "connected_at": "2026-11-27T06:00:00Z",
            "expires_at": "2026-11-28T06:00:00Z",
            "last_refreshed_at": None,
            "data_types": {
                "daily_sleep": {
                    "status": "ok",
                    "cursor_day": "2026-11-26",
                    "last_success_at": "2026-11-27T01:00:12Z",
                    "last_attempt_at": "2026-11-27T01:00:12Z",
                    "documents_total": 90,
                }
            },
        }
    )
    status: Literal["active", "needs_reauth", "revoked", "revoke_pending", "none"]
    scopes: list[str] = Field(default_factory=list)
    connected_at: datetime | None = None
    expires_at: datetime | None = None
    last_refreshed_at: datetime | None = None
    data_types: dict[str, DataTypeSync] = Field(default_factory=dict)


class ConnectResult(BaseModel):
    model_config = with_example({"status": "active", "scopes": ["daily"], "backfill": "scheduled"})
    status: Literal["active"]
    scopes: list[str]
    backfill: Literal["scheduled", "started"]
    """`scheduled`: the next collector run backfills (empty cursors); `started`: a backfill
    process was spawned (GATEWAY_BACKFILL_ON_CONNECT=true)."""


class RefreshResult(BaseModel):
    model_config = with_example(
        {"status": "active", "expires_at": "2026-11-28T06:00:00Z", "scopes": ["daily"]}
    )
    status: Literal["active"]
    expires_at: datetime
    scopes: list[str]


class Disconnected(BaseModel):
    model_config = with_example({"status": "disconnected"})
    status: Literal["disconnected", "revoke_pending"]


# A stored trend without its user (the caller) and its computation time (schemas.tables.trends).
_TREND_POINT: dict[str, Any] = {
    c.name: (c.python_type, c.default) for c in (*trends_table.KEY[1:], *trends_table.FIELDS)
}
TrendPoint = create_model("TrendPoint", **_TREND_POINT)


class TrendPage(BaseModel):
    model_config = with_example(
        {
            "data": [
                {
                    "metric": "daily_sleep.score",
                    "day": "2026-11-26",
                    "value": 81.0,
                    "mean_7d": 79.4,
                    "mean_28d": 80.1,
                    "baseline": 80.0,
                    "baseline_spread": 4.2,
                    "deviation": 0.24,
                    "direction": "flat",
                    "flag": False,
                    "in_progress": False,
                }
            ]
        }
    )
    data: list[TrendPoint]  # type: ignore[valid-type]


class ScoreSummary(BaseModel):
    latest: float | None
    latest_day: date | None
    latest_label: str | None = None
    """"so far today" (or "so far") when the latest day had not ended when it was fetched; the
    averages leave such days out."""
    avg_7d: float | None
    avg_prev_7d: float | None
    change_7d: float | None
    avg_30d: float | None
    avg_prev_30d: float | None
    change_30d: float | None


class TrendFlag(BaseModel):
    metric: str
    day: date
    value: float | None
    deviation: float | None
    direction: str | None


class SyncSummary(BaseModel):
    status: str | None
    """active | needs_reauth | revoked, or null when Oura is not connected."""
    last_success_at: datetime | None
    failing_types: list[str]


class Dashboard(BaseModel):
    model_config = with_example(
        {
            "as_of": "2026-11-27",
            "scores": {
                "sleep_score": {
                    "latest": 82,
                    "latest_day": "2026-11-27",
                    "avg_7d": 80.3,
                    "avg_prev_7d": 78.0,
                    "change_7d": 2.3,
                    "avg_30d": 79.1,
                    "avg_prev_30d": 79.6,
                    "change_30d": -0.5,
                }
            },
            "flags": [
                {
                    "metric": "resting_heart_rate",
                    "day": "2026-11-26",
                    "value": 58.0,
                    "deviation": 2.4,
                    "direction": "up",
                }
            ],
            "sync": {
                "status": "active",
                "last_success_at": "2026-11-27T01:00:12Z",
                "failing_types": [],
            },
        }
    )
    as_of: date
    scores: dict[str, ScoreSummary]
    flags: list[TrendFlag]
    sync: SyncSummary


class Health(BaseModel):
    model_config = with_example({"status": "ok"})
    status: Literal["ok"]


class Readiness(BaseModel):
    model_config = with_example({"status": "ready", "checks": {"database": "ok", "kafka": "ok"}})
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


def page_example(data_type: str, columns: dict[str, Any]) -> dict[str, Any]:
    """An example page for a data type's list route."""
    row: dict[str, Any] = {
        "id": f"{data_type}-example",
        "day": "2026-11-26",
        **columns,
        "in_progress": False,
        "quality": None,
        "document": {"id": f"{data_type}-example", "day": "2026-11-26"},
    }
    return {"data": [row], "next_token": None}
