"""Security headers on every response, as a pure ASGI middleware (microseconds per request).

The API answers JSON to programs, so the strictest browser policy costs nothing: no sniffing,
no framing, no referrer, HTTPS only; data and account answers are never cached (a shared
machine's browser or a proxy would keep someone's health data). The interactive docs (/docs,
/redoc) load their scripts from a CDN and are left without a content security policy."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from gateway.asgi import HttpMiddleware

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
]
API_ONLY = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
]
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = str(scope.get("path", "")).startswith("/api")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += ALWAYS
                if api:
                    headers += API_ONLY
                    if not any(name.lower() == b"cache-control" for name, _ in headers):
                        headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
