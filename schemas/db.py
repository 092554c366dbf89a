"""Typed database access for every service: the one pool factory, the `Connection` and `Pool`
protocols the SQL modules take, and explicit query labels.

The protocols cover what the project calls on asyncpg's connections and pools, so a plain
asyncpg pool and the gateway's timed pool (gateway.db.TimedPool) are interchangeable wherever
SQL runs. A query's label names it in the gateway's latency metric: a function that runs SQL
labels its handle with `labelled(conn, "its_name")`, which costs nothing on an asyncpg handle
(it comes back as it is) and gives a timed handle its own histogram series."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import asyncpg

from schemas.settings import DatabaseSettings


class Record(Protocol):
    """A row (asyncpg.Record, which ships no type information): indexed by position or name."""

    def __getitem__(self, key: int | str | slice, /) -> Any: ...

    def get(self, key: str, default: Any = None, /) -> Any: ...

    def keys(self) -> Iterator[str]: ...

    def values(self) -> Iterator[Any]: ...

    def items(self) -> Iterator[tuple[str, Any]]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Queries(Protocol):
    """The query methods a connection and a pool both have (a pool's borrow a connection)."""

    def execute(self, query: str, *args: Any, timeout: float | None = None) -> Awaitable[str]: ...

    def executemany(
        self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> Awaitable[None]: ...

    def fetch(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> Awaitable[list[Record]]: ...

    def fetchrow(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> Awaitable[Record | None]: ...

    def fetchval(
        self, query: str, *args: Any, column: int = 0, timeout: float | None = None
    ) -> Awaitable[Any]: ...


class Transaction(Protocol):
    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: object) -> Any: ...

    async def start(self) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Connection(Queries, Protocol):
    def transaction(
        self, *, isolation: str | None = None, readonly: bool = False, deferrable: bool = False
    ) -> Transaction: ...

    def cursor(
        self, query: str, *args: Any, prefetch: int | None = None, timeout: float | None = None
    ) -> AsyncIterator[Record]: ...

    def copy_records_to_table(
        self,
        table_name: str,
        *,
        records: Iterable[Sequence[Any]],
        columns: Sequence[str] | None = None,
    ) -> Awaitable[str]: ...


class Pool(Queries, Protocol):
    def acquire(self, *, timeout: float | None = None) -> Any:
        """A connection, as `async with pool.acquire() as conn` or `await pool.acquire()` (then
        `release` it)."""

    def release(self, connection: Any, *, timeout: float | None = None) -> Awaitable[None]: ...

    def close(self) -> Awaitable[None]: ...


Handle = TypeVar("Handle", bound=Queries)


def labelled(db: Handle, label: str) -> Handle:
    """`db` with its queries labelled `label` (a fixed name, never SQL or user data) where
    queries are timed; an asyncpg connection or pool as it is."""
    relabel = getattr(db, "labelled", None)
    return db if relabel is None else relabel(label)


async def open_pool(
    db: DatabaseSettings,
    *,
    min_size: int | None = None,
    max_size: int | None = None,
    command_timeout: float | None = None,
    server_settings: Mapping[str, str] | None = None,
) -> asyncpg.Pool:
    """An asyncpg pool on `db` (DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, SSL_MODE,
    SSL_ROOT_CERT), of DB_POOL_MIN to DB_POOL_MAX connections unless the caller sizes it
    (min_size=0 opens no connection until one is needed: a service can start while the
    database is down). The minimum never exceeds the maximum."""
    most = db.pool_max if max_size is None else max_size
    least = db.pool_min if min_size is None else min_size
    pool = await asyncpg.create_pool(
        **db.asyncpg_kwargs(),
        min_size=min(least, most),
        max_size=most,
        command_timeout=command_timeout,
        server_settings=dict(server_settings) if server_settings else None,
    )
    assert pool is not None
    return pool
