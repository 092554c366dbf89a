"""Signed webhook deliveries (OURA_API_V2.md §4.3), sent from a background event loop of their own
so the request or sync that caused an event never waits for a receiver.

Each delivery POSTs the compact JSON event with `x-oura-timestamp` (Unix seconds, real time: a
receiver checks it against its own clock even when the simulated clock is fixed) and
`x-oura-signature` (upper-case hex HMAC-SHA256 with the client secret over timestamp + the exact
body bytes). A 2xx or 3xx answer delivers (Oura's FAQ accepts both); anything else, a connection
error or no answer within the timeout is retried up to `max_retries` times, waiting
`retry_base_s * 2**n` before retry n+1 (Oura's schedule is unconfirmed; the default 3.5 s makes
ten retries span about an hour, as Oura's do). A 410 deletes the subscription and ends the
delivery. A seeded random draw drops an event (never sent) or sends it twice, when asked.
Every delivery is kept in a bounded log the admin API serves."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from oura_simulator.clock import Clock
from oura_simulator.config import SimulatorConfig
from oura_simulator.subscriptions import Subscription, Subscriptions
from schemas.webhooks import sign

log = logging.getLogger(__name__)
Outcome = Literal["pending", "delivered", "failed", "cancelled", "abandoned", "dropped"]


@dataclass(slots=True)
class Delivery:
    id: str
    subscription_id: str
    user: str
    event: dict[str, Any]
    body: str
    """Exactly the bytes sent (UTF-8), i.e. what the signature covers after the timestamp."""
    duplicate: bool
    queued_at: str
    outcome: Outcome = "pending"
    reason: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        config: SimulatorConfig,
        subscriptions: Subscriptions,
        secret_of: Callable[[str], str],
        clock: Clock,
    ) -> None:
        """Retries, timeouts, delay, faults and the log's size: the config's `webhook_*`."""
        self.config = config
        self._subscriptions = subscriptions
        self._secret_of = secret_of
        self._clock = clock
        self._random = random.Random(f"{config.seed}|webhooks")
        self._lock = threading.Lock()
        self._log: deque[Delivery] = deque(maxlen=config.webhook_log_size)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.AsyncClient | None = None
        self._futures: set[concurrent.futures.Future[None]] = set()

    # -- the background loop ----------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                self._http = httpx.AsyncClient(
                    follow_redirects=False, limits=httpx.Limits(max_connections=64)
                )
                self._thread = threading.Thread(
                    target=_run_loop,
                    args=(loop, ready),
                    name="oura-simulator-webhooks",
                    daemon=True,
                )
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def _spawn(self, coroutine: Any) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._start())
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def every(self, interval_s: float, job: Callable[[], object]) -> None:
        """Run `job` (in a worker thread, so deliveries keep flowing) every `interval_s`."""
        self._spawn(self._periodic(interval_s, job))

    async def _periodic(self, interval_s: float, job: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(job)
            except Exception:
                log.exception("periodic sync failed")

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the loop: pending deliveries and periodic jobs are cancelled."""
        with self._lock:
            loop, thread, self._loop = self._loop, self._thread, None
            futures = list(self._futures)
        if loop is None or thread is None:
            return
        for future in futures:
            future.cancel()
        http = self._http
        if http is not None:
            closing = asyncio.run_coroutine_threadsafe(http.aclose(), loop)
            with contextlib.suppress(
                concurrent.futures.TimeoutError, concurrent.futures.CancelledError
            ):
                closing.result(timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)

    # -- events -----------------------------------------------------------------------------

    def submit(self, login: str, event: dict[str, Any], targets: list[Subscription]) -> int:
        """Queue `event` to each target; returns how many deliveries were queued (a dropped
        event counts none, a duplicated one two)."""
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        queued = 0
        for subscription in targets:
            with self._lock:
                dropped = self._random.random() < self.config.webhook_drop_probability
                twice = self._random.random() < self.config.webhook_duplicate_probability
            if dropped:
                self._record(subscription, login, event, body, False, "dropped")
                continue
            first = self._record(subscription, login, event, body, duplicate=False)
            deliveries = [first]
            if twice:
                deliveries.append(self._record(subscription, login, event, body, True))
            for delivery in deliveries:
                self._spawn(self._deliver(delivery))
            queued += len(deliveries)
        return queued

    def _record(
        self,
        subscription: Subscription,
        login: str,
        event: dict[str, Any],
        body: str,
        duplicate: bool,
        outcome: Outcome = "pending",
    ) -> Delivery:
        delivery = Delivery(
            id=str(uuid.uuid4()),
            subscription_id=subscription.id,
            user=login,
            event=event,
            body=body,
            duplicate=duplicate,
            queued_at=datetime.now(UTC).isoformat(),
            outcome=outcome,
            reason="drop_probability" if outcome == "dropped" else None,
        )
        with self._lock:
            self._log.append(delivery)
        return delivery

    async def _deliver(self, delivery: Delivery) -> None:
        config = self.config
        if config.webhook_delay_s:
            await asyncio.sleep(config.webhook_delay_s)
        body = delivery.body.encode()
        for attempt in range(config.webhook_max_retries + 1):
            if attempt:
                await asyncio.sleep(config.webhook_retry_base_s * 2 ** (attempt - 1))
            subscription = self._subscriptions.exists(delivery.subscription_id)
            if subscription is None or not subscription.active(self._clock.now()):
                reason = "subscription deleted" if subscription is None else "subscription expired"
                self._finish(delivery, "abandoned", reason)
                return
            status = await self._attempt(delivery, subscription, body)
            if status is not None and 200 <= status < 400:
                self._finish(delivery, "delivered")
                return
            if status == 410:
                self._subscriptions.delete(subscription.id)
                self._finish(delivery, "cancelled", "the receiver answered 410 Gone")
                return
        self._finish(delivery, "failed", f"no success after {config.webhook_max_retries} retries")

    async def _attempt(
        self, delivery: Delivery, subscription: Subscription, body: bytes
    ) -> int | None:
        assert self._http is not None
        timestamp = str(int(time.time()))
        signature = sign(self._secret_of(subscription.client_id), timestamp, body)
        headers = {
            "content-type": "application/json",
            "x-oura-timestamp": timestamp,
            "x-oura-signature": signature,
        }
        status: int | None = None
        error: str | None = None
        try:
            response = await self._http.post(
                subscription.callback_url,
                content=body,
                headers=headers,
                timeout=self.config.webhook_timeout_s,
            )
            status = response.status_code
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        with self._lock:
            delivery.attempts.append(
                {
                    "at": datetime.now(UTC).isoformat(),
                    "callback_url": subscription.callback_url,
                    "timestamp": timestamp,
                    "signature": signature,
                    "status": status,
                    "error": error,
                }
            )
        return status

    def _finish(self, delivery: Delivery, outcome: Outcome, reason: str | None = None) -> None:
        with self._lock:
            delivery.outcome, delivery.reason = outcome, reason
        level = logging.DEBUG if outcome == "delivered" else logging.INFO
        log.log(
            level,
            "webhook delivery finished",
            extra={
                "outcome": outcome,
                "reason": reason,
                "attempts": len(delivery.attempts),
                "subscription_id": delivery.subscription_id,
                "data_type": delivery.event["data_type"],
                "event_type": delivery.event["event_type"],
            },
        )

    # -- the log ----------------------------------------------------------------------------

    def deliveries(self, **match: str | None) -> list[dict[str, Any]]:
        """Logged deliveries, oldest first; keyword filters (user, subscription_id, outcome,
        object_id, data_type, event_type) keep the ones equal to the given value."""
        wanted = {k: v for k, v in match.items() if v is not None}
        with self._lock:
            rows = [asdict(d) for d in self._log]
        return [r for r in rows if all(_field(r, k) == v for k, v in wanted.items())]

    def pending(self) -> int:
        with self._lock:
            return sum(1 for d in self._log if d.outcome == "pending")

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()


def _field(row: dict[str, Any], name: str) -> Any:
    return row["event"][name] if name in ("object_id", "data_type", "event_type") else row[name]


def _run_loop(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        loop.close()
