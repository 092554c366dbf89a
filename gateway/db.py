"""The gateway's asyncpg pool, timed: every query observes `gateway_db_query_duration_seconds`,
labelled with the name of the function that issued it.

`TimedPool` wraps the pool once (in the app's lifespan). A function that runs SQL names its
queries explicitly, `conn = labelled(conn, "list_documents")` (schemas.db.labelled): on a timed
pool or connection that gives a view whose queries carry the label, on a plain asyncpg handle
(the processor, tests) it does nothing. The label values are fixed by the code, never SQL text
or user data; unlabelled queries are `other`.

What is timed is the query itself on a connection: for `pool.fetch(...)` and friends, the wait
for a free connection is left out (pool saturation has its own gauges and alert). A cursor is
timed until its first row (or its end, when empty): the rest of the stream runs at the pace of
whoever reads it."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Generator
from types import TracebackType
from typing import Any, TypeVar

import asyncpg
from prometheus_client.metrics import Histogram

from gateway.errors import ApiError
from gateway.metrics import DB_QUERY_DURATION

T = TypeVar("T")

OTHER = "other"
_LABEL = re.compile(r"[a-z][a-z0-9_]*")
_histograms: dict[str, Histogram] = {}


def _histogram(label: str) -> Histogram:
    """The histogram child of a label; one dict lookup once the label has been seen."""
    child = _histograms.get(label)
    if child is None:
        if not _LABEL.fullmatch(label):
            raise ValueError(f"query label {label!r} is not a snake_case name")
        child = _histograms[label] = DB_QUERY_DURATION.labels(label)
    return child


async def _observe(query: Awaitable[T], histogram: Histogram) -> T:
    started = time.perf_counter()
    try:
        return await query
    finally:
        histogram.observe(time.perf_counter() - started)


async def _observe_first_row(rows: Any, histogram: Histogram) -> AsyncIterator[Any]:
    iterator = rows.__aiter__()
    started = time.perf_counter()
    try:
        first = await iterator.__anext__()
    except StopAsyncIteration:
        return
    finally:
        histogram.observe(time.perf_counter() - started)
    yield first
    async for row in iterator:
        yield row


class TimedConnection:
    """A pooled connection whose queries are timed under its label; everything else
    (`transaction()`, `copy_records_to_table()`, ...) is the connection's own."""

    def __init__(self, connection: asyncpg.Connection, label: str = OTHER) -> None:
        self.raw = connection
        self._histogram = _histogram(label)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def labelled(self, label: str) -> TimedConnection:
        """The same connection, its queries labelled `label`."""
        return TimedConnection(self.raw, label)

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.execute(query, *args, **kwargs), self._histogram)

    def executemany(self, command: str, args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.executemany(command, args, **kwargs), self._histogram)

    def fetch(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.fetch(query, *args, **kwargs), self._histogram)

    def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.fetchrow(query, *args, **kwargs), self._histogram)

    def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.fetchval(query, *args, **kwargs), self._histogram)

    def cursor(self, query: str, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Rows of a server-side cursor, for `async for` inside a transaction."""
        rows = self.raw.cursor(query, *args, **kwargs)
        return _observe_first_row(rows, self._histogram)


class _Acquire:
    """`pool.acquire()`, as `async with` or `await`, handing out a TimedConnection."""

    def __init__(self, context: Any, label: str) -> None:
        self._context = context
        self._label = label

    async def __aenter__(self) -> TimedConnection:
        return TimedConnection(await self._context.__aenter__(), self._label)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._context.__aexit__(exc_type, exc, traceback)

    def __await__(self) -> Generator[Any, None, TimedConnection]:
        return self._acquire().__await__()

    async def _acquire(self) -> TimedConnection:
        return TimedConnection(await self._context, self._label)


class PoolExhausted(ApiError):
    """No pooled connection came free in time: the request fails fast instead of queueing."""

    def __init__(self) -> None:
        super().__init__(
            503, "database_busy", "the database is busy; try again shortly", {"Retry-After": "1"}
        )


class _Released:
    def __init__(self, pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
        self._pool = pool
        self._connection = connection

    async def __aenter__(self) -> Any:
        return self._connection

    async def __aexit__(self, *exc: object) -> None:
        await self._pool.release(self._connection)


class TimedPool:
    """An asyncpg pool whose queries are timed under its label (see the module docstring); its
    connections carry the same label. Pool methods not listed here (`close`, `get_size`, ...)
    are the pool's own."""

    def __init__(
        self, pool: asyncpg.Pool, *, acquire_timeout_s: float | None = None, label: str = OTHER
    ) -> None:
        self.raw = pool
        self._acquire_timeout_s = acquire_timeout_s
        self._label = label
        self._histogram = _histogram(label)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def labelled(self, label: str) -> TimedPool:
        """The same pool, its queries labelled `label`."""
        return TimedPool(self.raw, acquire_timeout_s=self._acquire_timeout_s, label=label)

    def acquire(self, *, timeout: float | None = None) -> _Acquire:
        context = self.raw.acquire(timeout=timeout or self._acquire_timeout_s)
        return _Acquire(context, self._label)

    def release(
        self, connection: TimedConnection | asyncpg.Connection, *, timeout: float | None = None
    ) -> Awaitable[None]:
        raw = connection.raw if isinstance(connection, TimedConnection) else connection
        release: Awaitable[None] = self.raw.release(raw, timeout=timeout)
        return release

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run("execute", query, args, kwargs)

    def executemany(self, command: str, args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run("executemany", command, (args,), kwargs)

    def fetch(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run("fetch", query, args, kwargs)

    def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run("fetchrow", query, args, kwargs)

    def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run("fetchval", query, args, kwargs)

    async def _run(self, method: str, query: str, args: tuple[Any, ...], kwargs: Any) -> Any:
        try:
            context = await self.raw.acquire(timeout=self._acquire_timeout_s)
        except TimeoutError:
            raise PoolExhausted from None
        async with _Released(self.raw, context) as connection:
            started = time.perf_counter()
            try:
                return await getattr(connection, method)(query, *args, **kwargs)
            finally:
                self._histogram.observe(time.perf_counter() - started)
