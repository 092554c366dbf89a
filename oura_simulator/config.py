"""Everything that shapes one simulator instance: identity of the OAuth app, clock, data seed,
paging, rate budget and the faults to start with. Tests build one per test; the CLI builds one
from its flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from schemas.data_types import ALL_SCOPES


@dataclass(slots=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8089
    seed: int = 42
    users: int = 1
    """Demo accounts created at start: `demo`, `demo2`, `demo3`, ..."""
    quirks: bool = False
    """Replicate Oura's observed date-filter quirks (OURA_API_V2.md §2.2) instead of the
    documented default (inclusive filter on each document's day)."""
    data_quirks: bool = False
    """Serve every user's documents with the quirks real Oura data has (oura_simulator/
    quirks.py); per user at /_sim/data-quirks. Unrelated to `quirks`."""

    client_id: str = "simulator-client"
    client_secret: str = field(default="simulator-secret", repr=False)
    redirect_uris: tuple[str, ...] = ()
    """Registered redirect URIs: consent redirects only to these, exactly (none registered:
    every authorization is refused)."""
    access_token_ttl_s: int = 86_400
    code_ttl_s: int = 600
    default_scopes: tuple[str, ...] = ALL_SCOPES
    """What a demo user approves on the consent screen (requested scopes are intersected)."""

    page_size: int = 50
    """Documents per page on date collections; small values make clients paginate."""
    heartrate_page_size: int = 1_000

    rate_limit_requests: int = 5_000
    """Oura's documented budget: 5,000 requests per 5 minutes per application."""
    rate_limit_window_s: int = 300
    token_rate_limit_requests: int | None = None
    """Optional per-access-token budget (Oura's second layer, numbers undocumented)."""

    today: date | None = None
    """Fixes the simulated 'today' (the clock then reads 12:00 UTC that day)."""
    now: datetime | None = None
    """Fixes the simulated wall clock exactly (timezone-aware); wins over `today`."""
    history_days: int = 730
    """How far before today each demo user's data starts."""
    revision_every_s: float | None = None
    """Bump every user's revision counter this often (simulated edits of the last 2 days)."""

    # Faults active from the start (the CLI's --fault-* flags); tests use the Python API.
    latency_s: float = 0.0
    rate_limit_burst: int = 0
    server_error_burst: int = 0
    malformed_pages: int = 0

    # Webhooks (OURA_API_V2.md §4; oura_simulator/deliveries.py, subscriptions.py).
    webhook_subscription_ttl_s: float = 7 * 86_400
    """Lifetime a subscription gets at create and at each renew (Oura's is undocumented)."""
    webhook_verify_timeout_s: float = 10.0
    """How long the verification handshake waits for the callback's answer."""
    webhook_timeout_s: float = 10.0
    """How long a delivery waits for the receiver (Oura: answer within 10 s)."""
    webhook_max_retries: int = 10
    webhook_retry_base_s: float = 3.5
    """Wait before the first retry, doubled for each next one (10 retries ≈ one hour)."""
    webhook_delay_s: float = 0.0
    """Wait between an event and its first delivery attempt (Oura: about 30 s)."""
    webhook_drop_probability: float = 0.0
    webhook_duplicate_probability: float = 0.0
    webhook_log_size: int = 10_000
    """Deliveries kept for GET /_sim/webhooks/deliveries (oldest dropped first)."""
    sync_every_s: float | None = None
    """Sync every user's ring this often (POST /_sim/sync for all users, on a timer)."""
    sync_types: tuple[str, ...] | None = None
    """What the timed syncs change (None: a new session and today's activity revised)."""
