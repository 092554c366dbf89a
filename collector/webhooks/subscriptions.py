"""Keep the app's webhook subscriptions as they should be: one per (event type, data type) the
app is granted, all pointing at our receiver, none lapsing.

`ensure` creates what is missing, recreates what expired, points stray callbacks back at ours,
removes duplicates and leaves good subscriptions alone; `renew` renews the ones expiring within
the window; `delete` removes them. Each returns what it did, as lines a person reads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Gauge

from collector.settings import CollectorSettings
from collector.webhooks.subscription_api import Subscription, SubscriptionApi, SubscriptionApiError
from schemas.data_types import DATA_TYPES
from schemas.webhooks import EVENT_TYPES, OURA_DATA_TYPES

EXPIRES_IN = Gauge(
    "collector_webhook_subscription_expiry_seconds",
    "Seconds from the last subscriptions command until the subscription expires (negative:"
    " expired)",
    ["event_type", "data_type"],
)
EXPIRES_AT = Gauge(
    "collector_webhook_subscription_expiration_timestamp_seconds",
    "Unix time at which the subscription expires, as Oura last reported it (the alert reads this:"
    " it stays true between the daily renewal runs)",
    ["event_type", "data_type"],
)
MISSING = Gauge(
    "collector_webhook_subscriptions_missing",
    "(event type, data type) pairs the app is granted that have no live subscription",
)

Pair = tuple[str, str]


def wanted_pairs(settings: CollectorSettings) -> list[Pair]:
    """(event type, data type) for every webhook data type whose scope the app asks for."""
    granted = set(settings.oura_scopes)
    # Heart rate and personal info have no webhooks; `tag` and `meal` are not collected.
    types = [t.name for t in DATA_TYPES if t.name in OURA_DATA_TYPES and t.scope in granted]
    return [(event, data_type) for data_type in types for event in EVENT_TYPES]


def _pair(subscription: Subscription) -> Pair:
    return subscription.event_type, subscription.data_type


@dataclass
class Outcome:
    """What a command did, line by line, and the subscriptions it leaves."""

    lines: list[str] = field(default_factory=list)
    """One line per change (created, renewed, deleted, ...); good ones are only counted."""
    failures: list[str] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    unchanged: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def did(self, verb: str, subscription: Subscription) -> None:
        self.lines.append(f"{verb}: {describe(subscription)}")

    def failed(self, what: str, error: SubscriptionApiError) -> None:
        self.failures.append(f"{what}: {error}")


def describe(subscription: Subscription) -> str:
    expires = subscription.expiration_time.astimezone(UTC).isoformat(timespec="seconds")
    return (
        f"{subscription.event_type} {subscription.data_type} ({subscription.id}, expires {expires})"
    )


def _expired(subscription: Subscription, now: datetime) -> bool:
    return subscription.expiration_time <= now


class Subscriptions:
    """The commands, over one subscription API client."""

    def __init__(self, api: SubscriptionApi, settings: CollectorSettings) -> None:
        self.api = api
        self.settings = settings

    def _callback(self) -> tuple[str, str]:
        url = self.settings.oura_webhook_callback_url
        token = self.settings.oura_webhook_verification_token.get_secret_value()
        if not url or not token:
            raise ValueError(
                "OURA_WEBHOOK_CALLBACK_URL and OURA_WEBHOOK_VERIFICATION_TOKEN must be set"
            )
        return url, token

    async def ensure(self, now: datetime | None = None) -> Outcome:
        url, token = self._callback()
        now = now or datetime.now(UTC)
        outcome = Outcome()
        by_pair: dict[Pair, list[Subscription]] = defaultdict(list)
        for subscription in await self.api.subscriptions():
            by_pair[_pair(subscription)].append(subscription)
        for pair in wanted_pairs(self.settings):
            keep = await self._ensure_one(pair, by_pair.pop(pair, []), url, token, now, outcome)
            if keep is not None:
                outcome.subscriptions.append(keep)
        # Anything else (a data type no longer collected) would deliver events nobody fetches.
        for extra in (s for group in by_pair.values() for s in group):
            await self._delete(extra, outcome, "deleted (not wanted)")
        return outcome

    async def _ensure_one(
        self,
        pair: Pair,
        existing: list[Subscription],
        url: str,
        token: str,
        now: datetime,
        outcome: Outcome,
    ) -> Subscription | None:
        live = sorted(
            (s for s in existing if not _expired(s, now)),
            key=lambda s: (s.callback_url != url, -s.expiration_time.timestamp()),
        )
        keep = live[0] if live else None
        for stale in (s for s in existing if s is not keep):
            await self._delete(
                stale,
                outcome,
                "deleted (expired)" if _expired(stale, now) else "deleted (duplicate)",
            )
        event_type, data_type = pair
        try:
            if keep is None:
                keep = await self.api.create(
                    callback_url=url,
                    verification_token=token,
                    event_type=event_type,
                    data_type=data_type,
                )
                outcome.did("created", keep)
            elif keep.callback_url != url:
                keep = await self.api.update(keep.id, callback_url=url, verification_token=token)
                outcome.did("callback updated", keep)
            else:
                outcome.unchanged += 1
        except SubscriptionApiError as exc:
            outcome.failed(f"{event_type} {data_type}", exc)
        return keep

    async def _delete(self, subscription: Subscription, outcome: Outcome, verb: str) -> bool:
        try:
            await self.api.delete(subscription.id)
        except SubscriptionApiError as exc:
            outcome.failed(f"delete {subscription.id}", exc)
            return False
        outcome.did(verb, subscription)
        return True

    async def renew(self, now: datetime | None = None) -> Outcome:
        now = now or datetime.now(UTC)
        horizon = now + timedelta(days=self.settings.webhook_renew_within_days)
        outcome = Outcome()
        for subscription in await self.api.subscriptions():
            if _expired(subscription, now):
                # Oura cannot renew what has lapsed: `ensure` recreates it.
                outcome.failures.append(
                    f"expired, run `subscriptions ensure`: {describe(subscription)}"
                )
                outcome.subscriptions.append(subscription)
            elif subscription.expiration_time <= horizon:
                try:
                    renewed = await self.api.renew(subscription.id)
                except SubscriptionApiError as exc:
                    outcome.failed(f"renew {subscription.id}", exc)
                    outcome.subscriptions.append(subscription)
                else:
                    outcome.did("renewed", renewed)
                    outcome.subscriptions.append(renewed)
            else:
                outcome.unchanged += 1
                outcome.subscriptions.append(subscription)
        return outcome

    async def delete(self, ids: Iterable[str] = ()) -> Outcome:
        outcome = Outcome()
        chosen = set(ids)
        existing = await self.api.subscriptions()
        unknown = chosen - {s.id for s in existing}
        for missing in sorted(unknown):
            outcome.failures.append(f"no subscription {missing}")
        for subscription in existing:
            if (chosen and subscription.id not in chosen) or not await self._delete(
                subscription, outcome, "deleted"
            ):
                outcome.subscriptions.append(subscription)
        return outcome

    async def current(self) -> Outcome:
        return Outcome(subscriptions=await self.api.subscriptions())


def record_metrics(
    subscriptions: list[Subscription], wanted: list[Pair], now: datetime | None = None
) -> None:
    """Expiry per subscription as the command leaves them; pairs without one count as missing."""
    now = now or datetime.now(UTC)
    EXPIRES_IN.clear()
    EXPIRES_AT.clear()
    for subscription in subscriptions:
        labels = _pair(subscription)
        EXPIRES_IN.labels(*labels).set((subscription.expiration_time - now).total_seconds())
        EXPIRES_AT.labels(*labels).set(subscription.expiration_time.timestamp())
    live = {_pair(s) for s in subscriptions if not _expired(s, now)}
    MISSING.set(len(set(wanted) - live))
