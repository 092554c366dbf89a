"""Export slots: a connection from the export pool, a read-only snapshot and a per-user lock.

Exports stream for as long as the client takes to read, so they never use the query pool: a
separate small pool (GATEWAY_EXPORT_POOL_MAX) is theirs, waited for at most
GATEWAY_EXPORT_ACQUIRE_TIMEOUT_S. A transaction-scoped advisory lock allows one export per user
across every replica, and PostgreSQL's idle_in_transaction_session_timeout ends the session of
an export whose reader stopped reading, which frees the lock."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.errors import ApiError
from schemas.db import Connection, Pool, Transaction, labelled

# Advisory lock namespace of exports (first key); the second is the user's hash.
_EXPORT_LOCK = 0x6578706F


class ExportSlot:
    """Held from the route until the response has been sent (or abandoned)."""

    def __init__(self, pool: Pool, conn: Connection, transaction: Transaction) -> None:
        self._pool = pool
        self.conn = conn
        self._transaction = transaction
        self._closed = False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            # A read-only snapshot has nothing to keep; a session PostgreSQL already ended
            # cannot roll back, and is released all the same.
            with contextlib.suppress(Exception):
                await self._transaction.rollback()
        finally:
            await self._pool.release(self.conn)


async def claim_export(pool: Pool, user_id: UUID, *, acquire_timeout_s: float) -> ExportSlot:
    """A slot for `user_id`'s export; 503 when every export connection is busy, 429 while
    another export of the same user runs."""
    try:
        conn = await pool.acquire(timeout=acquire_timeout_s)
    except TimeoutError:
        raise ApiError(
            503,
            "exports_busy",
            "every export slot is in use; try again shortly",
            {"Retry-After": "5"},
        ) from None
    transaction = conn.transaction(isolation="repeatable_read", readonly=True)
    slot = ExportSlot(pool, conn, transaction)
    try:
        await transaction.start()
        locked = await labelled(conn, "claim_export").fetchval(
            "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", _EXPORT_LOCK, str(user_id)
        )
    except BaseException:
        await slot.close()
        raise
    if not locked:
        await slot.close()
        raise ApiError(
            429,
            "export_in_progress",
            "an export of this account is already running; wait for it to finish",
            {"Retry-After": "10"},
        )
    return slot


class ExportResponse(StreamingResponse):
    """A streamed export that gives its slot back however the response ends: finished, the
    client gone, or never started."""

    def __init__(self, slot: ExportSlot, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._slot.close()
