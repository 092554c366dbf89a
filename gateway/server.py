"""uvicorn configuration: uvloop and httptools when installed, TCP_NODELAY on every connection.

TCP_NODELAY matters: with Nagle's algorithm on, a response written in two segments waits for the
client's delayed ACK (~40 ms). asyncio only sets TCP_NODELAY when the socket reports IPPROTO_TCP,
which a listening socket shared with worker processes may not (uvicorn issue #3149: two workers
stalled at 44 ms per request), so the protocol sets it itself on each accepted connection."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    # Not a TCP socket (unix socket, test transport): nothing to set.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


if _has("httptools"):
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            set_nodelay(transport)
            super().connection_made(transport)

    HTTP_PROTOCOL = "gateway.server:NoDelayHttpToolsProtocol"
else:  # pragma: no cover - httptools ships with uvicorn[standard]
    HTTP_PROTOCOL = "gateway.server:NoDelayH11Protocol"

LOOP = "uvloop" if _has("uvloop") else "asyncio"


def uvicorn_options(
    *, host: str, port: int, workers: int, log_level: str, access_log: bool = False
) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "workers": workers,
        "loop": LOOP,
        "http": HTTP_PROTOCOL,
        "lifespan": "on",
        # Off unless GATEWAY_ACCESS_LOG asks: request lines carry query strings (the OAuth
        # callback's code and state), scrubbed by schemas.logs when on; /metrics counts requests.
        "access_log": access_log,
        # Client addresses come from GATEWAY_TRUSTED_PROXY_HOPS, not uvicorn's proxy headers.
        "proxy_headers": False,
        "server_header": False,
        "log_config": None,
        "log_level": log_level.lower(),
        "backlog": 2048,
        "timeout_keep_alive": 30,
    }
