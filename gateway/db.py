"""The gateway's asyncpg pool, timed: every query observes `gateway_db_query_duration_seconds`,
labelled with the name of the function that issued it.

`TimedPool` wraps the pool once (in the app's lifespan), so repositories and the functions of
oura_connection the gateway calls (`connection_status`, `refresh_sync_status`, ...) are measured
without naming themselves. The label is the calling function's name, read from its code object
at call time: the values are fixed by the code (`list_documents`, `render_dashboard`,
`token_version`, ...), never SQL text or user data; callers outside the project's packages are
labelled `other`.

What is timed is the query itself on a connection: for `pool.fetch(...)` and friends, the wait
for a free connection is left out (pool saturation has its own gauges and alert). A cursor is
timed until its first row (or its end, when empty): the rest of the stream runs at the pace of
whoever reads it."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Awaitable, Generator
from types import CodeType, FrameType, TracebackType
from typing import Any, TypeVar

from gateway.errors import ApiError
from gateway.metrics import DB_QUERY_DURATION

T = TypeVar("T")

# Top-level packages whose functions name their queries; anything else is `other`.
_NAMED_PACKAGES = frozenset({"gateway", "oura_connection", "schemas"})
OTHER = "other"

_by_code: dict[CodeType, Any] = {}


def query_name(frame: FrameType) -> str:
    """The label for queries issued from this frame's function."""
    package = str(frame.f_globals.get("__name__", "")).partition(".")[0]
    name = frame.f_code.co_name.lstrip("_")
    return name if package in _NAMED_PACKAGES and name.isidentifier() else OTHER


def _caller_histogram() -> Any:
    """The histogram child of whoever called the pool or connection method calling this
    (two frames up); one dict lookup once a call site has been seen."""
    frame = sys._getframe(2)
    child = _by_code.get(frame.f_code)
    if child is None:
        child = _by_code[frame.f_code] = DB_QUERY_DURATION.labels(query_name(frame))
    return child


async def _observe(query: Awaitable[T], histogram: Any) -> T:
    started = time.perf_counter()
    try:
        return await query
    finally:
        histogram.observe(time.perf_counter() - started)


async def _observe_first_row(rows: Any, histogram: Any) -> AsyncIterator[Any]:
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
    """A pooled connection whose queries are timed; everything else (`transaction()`, ...) is
    the connection's own."""

    def __init__(self, connection: Any) -> None:
        self.raw = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.execute(query, *args, **kwargs), _caller_histogram())

    def executemany(self, command: str, args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.executemany(command, args, **kwargs), _caller_histogram())

    def fetch(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.fetch(query, *args, **kwargs), _caller_histogram())

    def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.fetchrow(query, *args, **kwargs), _caller_histogram())

    def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(self.raw.fetchval(query, *args, **kwargs), _caller_histogram())

    def cursor(self, query: str, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Rows of a server-side cursor, for `async for` inside a transaction."""
        rows = self.raw.cursor(query, *args, **kwargs)
        return _observe_first_row(rows, _caller_histogram())


class _Acquire:
    """`pool.acquire()`, as `async with` or `await`, handing out a TimedConnection."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def __aenter__(self) -> TimedConnection:
        return TimedConnection(await self._context.__aenter__())

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
        return TimedConnection(await self._context)


class PoolExhausted(ApiError):
    """No pooled connection came free in time: the request fails fast instead of queueing."""

    def __init__(self) -> None:
        super().__init__(
            503, "database_busy", "the database is busy; try again shortly", {"Retry-After": "1"}
        )


class _Released:
    def __init__(self, pool: Any, connection: Any) -> None:
        self._pool = pool
        self._connection = connection

    async def __aenter__(self) -> Any:
        return self._connection

    async def __aexit__(self, *exc: object) -> None:
        await self._pool.release(self._connection)


class TimedPool:
    """An asyncpg pool whose queries are timed (see the module docstring). Pool methods not
    listed here (`close`, `get_size`, ...) are the pool's own."""

    def __init__(self, pool: Any, *, acquire_timeout_s: float | None = None) -> None:
        self.raw = pool
        self._acquire_timeout_s = acquire_timeout_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def acquire(self, *, timeout: float | None = None) -> _Acquire:
        return _Acquire(self.raw.acquire(timeout=timeout or self._acquire_timeout_s))

    def release(self, connection: Any, *, timeout: float | None = None) -> Awaitable[None]:
        raw = connection.raw if isinstance(connection, TimedConnection) else connection
        release: Awaitable[None] = self.raw.release(raw, timeout=timeout)
        return release

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run(_caller_histogram(), "execute", query, args, kwargs)

    def executemany(self, command: str, args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run(_caller_histogram(), "executemany", command, (args,), kwargs)

    def fetch(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run(_caller_histogram(), "fetch", query, args, kwargs)

    def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run(_caller_histogram(), "fetchrow", query, args, kwargs)

    def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._run(_caller_histogram(), "fetchval", query, args, kwargs)

    async def _run(
        self, histogram: Any, method: str, query: str, args: tuple[Any, ...], kwargs: Any
    ) -> Any:
        try:
            context = await self.raw.acquire(timeout=self._acquire_timeout_s)
        except TimeoutError:
            raise PoolExhausted from None
        async with _Released(self.raw, context) as connection:
            started = time.perf_counter()
            try:
                return await getattr(connection, method)(query, *args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)
