"""A webhook endpoint on a loopback port for the simulator's webhook tests: it answers the
verification handshake the way it is told to, records every delivery (headers and raw body) and
answers deliveries with scripted statuses, so a test can make a receiver fail, stall or say 410."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

Handshake = Literal["echo", "wrong_challenge", "not_json", "status_404", "check_token"]


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, token: str = "verify-me", handshake: Handshake = "check_token") -> None:
        self.token = token
        self.handshake = handshake
        self.statuses: deque[int] = deque()
        """Answers for the next deliveries, in order; 200 once empty."""
        self.stalls: deque[float] = deque()
        """Seconds to wait before answering the next deliveries (to provoke timeouts)."""
        self.handshakes: list[dict[str, str]] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/oura/webhook"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def deliveries(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                with receiver._lock:
                    receiver.handshakes.append(query)
                mode = receiver.handshake
                challenge = query.get("challenge", "")
                if mode == "status_404":
                    self._answer(404, b'{"detail": "Not Found"}')
                elif mode == "not_json":
                    self._answer(200, challenge.encode())
                elif mode == "wrong_challenge":
                    self._answer(200, json.dumps({"challenge": challenge + "x"}).encode())
                elif mode == "check_token" and query.get("verification_token") != receiver.token:
                    self._answer(401, b'{"detail": "bad verification token"}')
                else:
                    self._answer(200, json.dumps({"challenge": challenge}).encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                    stall = receiver.stalls.popleft() if receiver.stalls else 0.0
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                if stall:
                    time.sleep(stall)
                # A stalled answer may find the simulator gone: that is the point of a stall.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer(status, b"{}")

        return Handler


async def eventually(check: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after timeout_s.
    The timeout only bounds a wait for behaviour, nothing asserts how long it took."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s: {check}")
        await asyncio.sleep(0.02)
