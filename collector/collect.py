"""The daily collection run (the CronJob) and the machinery it shares with backfill.

For every user with an active connection and every data type they granted: fetch from
(cursor - overlap) through today, publish, wait for the broker's acknowledgements, then advance
the cursor. Users run concurrently within a bound; one failing user or data type never stops the
others."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from collector.metrics import DOCUMENTS_UNANNOUNCED, LAST_SUCCESS, WINDOW_FAILURES
from collector.oura import NotGranted, OuraClient, OuraFetchError, data_path
from collector.publisher import PublishError, RawPublisher
from collector.settings import CollectorSettings
from collector.webhooks import announcements
from collector.webhooks.identity import fill_missing_oura_user_ids
from oura_connection import (
    NeedsReauth,
    NotConnected,
    OAuthError,
    OuraOAuthClient,
    TokenCipher,
    TokenCipherError,
    active_connections,
    get_access_token,
    refresh_rejected,
)
from schemas.data_types import DATA_TYPES, DataType
from schemas.db import Pool
from schemas.tables import collection_cursors as cursors

log = logging.getLogger("collector")

_TOKEN_RECHECK_S = 60.0


class UserTokens:
    """A user's bearer token for the Oura client: cached briefly, refreshed through the shared
    per-user lock when it nears expiry or after a 401."""

    def __init__(
        self, pool: Pool, user_id: UUID, oauth: OuraOAuthClient, cipher: TokenCipher
    ) -> None:
        self._pool = pool
        self._user_id = user_id
        self._oauth = oauth
        self._cipher = cipher
        self._token: str | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()

    async def access_token(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() - self._checked > _TOKEN_RECHECK_S:
                self._token = await get_access_token(
                    self._pool, self._user_id, self._oauth, self._cipher
                )
                self._checked = time.monotonic()
            return self._token

    async def after_rejection(self, rejected: str) -> str:
        async with self._lock:
            if self._token is not None and self._token != rejected:
                return self._token
            self._token = await refresh_rejected(
                self._pool, self._user_id, self._oauth, self._cipher, rejected
            )
            self._checked = time.monotonic()
            return self._token


@dataclass(slots=True)
class WindowOutcome:
    user_id: UUID
    data_type: str
    first_day: date
    last_day: date
    documents: int = 0
    quarantined: int = 0
    """Documents that could not be encoded and went to the quarantine topic; they do not fail
    the window."""
    error: str | None = None
    not_granted: bool = False
    needs_reauth: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class RunReport:
    users: int = 0
    windows: int = 0
    documents: int = 0
    quarantined: int = 0
    requests: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    not_granted: list[str] = field(default_factory=list)

    def add(self, outcome: WindowOutcome) -> None:
        self.windows += 1
        self.documents += outcome.documents
        self.quarantined += outcome.quarantined
        label = f"user {outcome.user_id} {outcome.data_type}"
        if outcome.not_granted:
            self.not_granted.append(f"{label}: not granted")
        elif outcome.error is not None:
            self.failures.append(
                f"{label} {outcome.first_day}..{outcome.last_day}: {outcome.error}"
            )

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


def granted_types(scopes: list[str], only: list[DataType] | None = None) -> list[DataType]:
    """Data types the connection's scopes allow; all of them when Oura did not report scopes
    (a 403 then marks the missing ones)."""
    candidates = only if only is not None else list(DATA_TYPES)
    if not scopes:
        return candidates
    return [t for t in candidates if t.scope in scopes]


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass(eq=False)
class Collector:
    """Fetch → publish → acknowledge → advance, for one (user, data type, window) at a time."""

    settings: CollectorSettings
    pool: Pool
    client: OuraClient
    publisher: RawPublisher
    oauth: OuraOAuthClient
    cipher: TokenCipher

    def tokens_for(self, user_id: UUID) -> UserTokens:
        return UserTokens(self.pool, user_id, self.oauth, self.cipher)

    async def active_users(self) -> list[tuple[UUID, list[str]]]:
        return await active_connections(self.pool)

    async def collect_window(
        self,
        user_id: UUID,
        tokens: UserTokens,
        data_type: DataType,
        first_day: date,
        last_day: date,
        *,
        reconcile: bool = False,
    ) -> WindowOutcome:
        """Never raises for an expected failure: the outcome says what happened, and the
        cursor row records it. `reconcile`: count what no webhook announced (scheduled runs)."""
        outcome = WindowOutcome(user_id, data_type.name, first_day, last_day)
        try:
            fetched_at = datetime.now(UTC)
            documents = await self.client.fetch(tokens, data_type, first_day, last_day)
            published = await self.publisher.publish(
                str(user_id),
                data_type.name,
                documents,
                fetched_at=fetched_at,
                endpoint=data_path(data_type),
            )
            outcome.documents = published.records
            outcome.quarantined = len(published.quarantined)
            if reconcile and data_type.has_id:
                await self._count_unannounced(user_id, data_type, documents)
        except NotGranted as exc:
            outcome.error, outcome.not_granted = str(exc), True
        except (NeedsReauth, NotConnected) as exc:
            outcome.error, outcome.needs_reauth = f"needs_reauth: {exc}", True
        except (OuraFetchError, PublishError, OAuthError, TokenCipherError) as exc:
            outcome.error = str(exc)
        if outcome.ok:
            await cursors.record_success(
                self.pool, user_id, data_type.name, first_day, last_day, outcome.documents
            )
            LAST_SUCCESS.labels(data_type.name).set(time.time())
        else:
            WINDOW_FAILURES.labels(data_type.name).inc()
            await cursors.record_failure(
                self.pool,
                user_id,
                data_type.name,
                outcome.error or "",
                not_granted=outcome.not_granted,
            )
            log.warning(
                "window failed",
                extra={
                    "user_id": str(user_id),
                    "data_type": data_type.name,
                    "first_day": first_day.isoformat(),
                    "last_day": last_day.isoformat(),
                    "error": outcome.error,
                },
            )
        return outcome

    async def _count_unannounced(
        self, user_id: UUID, data_type: DataType, documents: list[dict[str, Any]]
    ) -> None:
        ids = [d["id"] for d in documents if isinstance(d.get("id"), str)]
        unannounced = await announcements.record_polled(self.pool, user_id, data_type.name, ids)
        DOCUMENTS_UNANNOUNCED.labels(data_type.name).inc(unannounced)


async def run_daily(
    collector: Collector, *, today: date | None = None, only: list[DataType] | None = None
) -> RunReport:
    """The CronJob: every active user x granted type, from cursor - overlap through today."""
    started = time.monotonic()
    requests_before = collector.client.requests_sent
    today = today or utc_today()
    report = RunReport()
    # Connections made before Oura's user id was stored get webhooks from now on.
    await fill_missing_oura_user_ids(collector)
    await announcements.prune(collector.pool)
    users = await collector.active_users()
    report.users = len(users)
    bound = asyncio.Semaphore(collector.settings.user_concurrency)

    async def one_user(user_id: UUID, scopes: list[str]) -> list[WindowOutcome]:
        async with bound:
            return await _daily_for_user(collector, user_id, scopes, today, only)

    results = await asyncio.gather(*(one_user(u, s) for u, s in users), return_exceptions=True)
    for (user_id, _), result in zip(users, results, strict=True):
        if isinstance(result, BaseException):
            # A bug or an outage (database gone): report the user, keep the others' results.
            log.error("user run crashed", exc_info=result, extra={"user_id": str(user_id)})
            report.failures.append(f"user {user_id}: {type(result).__name__}: {result}")
            continue
        for outcome in result:
            report.add(outcome)
    report.requests = collector.client.requests_sent - requests_before
    report.seconds = time.monotonic() - started
    return report


async def _daily_for_user(
    collector: Collector,
    user_id: UUID,
    scopes: list[str],
    today: date,
    only: list[DataType] | None,
) -> list[WindowOutcome]:
    settings = collector.settings
    tokens = collector.tokens_for(user_id)
    known = await cursors.load_cursors(collector.pool, user_id)
    types = granted_types(scopes, only)
    try:
        await tokens.access_token()
    except (NeedsReauth, NotConnected, OAuthError, TokenCipherError) as exc:
        reason = f"needs_reauth: {exc}" if isinstance(exc, NeedsReauth | NotConnected) else str(exc)
        return [WindowOutcome(user_id, "token", today, today, error=reason, needs_reauth=True)]

    def window(data_type: DataType) -> tuple[date, date]:
        cursor = known.get(data_type.name)
        if cursor is not None and cursor.cursor_day is not None:
            first = min(cursor.cursor_day, today) - timedelta(days=settings.overlap_days)
        else:
            first = today - timedelta(days=settings.initial_days - 1)
        return first, today

    return list(
        await asyncio.gather(
            *(
                collector.collect_window(user_id, tokens, t, *window(t), reconcile=True)
                for t in types
            )
        )
    )
