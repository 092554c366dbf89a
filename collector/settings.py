"""The collector's configuration: one typed object, read from the environment once per process.

Names shared with the rest of the platform (OURA_*, TOKEN_ENCRYPTION_KEYS, LOG_LEVEL, ...) are kept
exactly; knobs that only the collector has are `COLLECTOR_*`."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic.types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from oura_connection.settings import OuraOAuthSettings
from schemas.secret_strength import is_placeholder
from schemas.settings import Port, service_settings


class CollectorSettings(OuraOAuthSettings):
    """Everything `python -m collector` reads from the environment."""

    model_config = service_settings("COLLECTOR_")

    log_level: str = "INFO"
    token_encryption_keys: SecretStr = SecretStr("")
    collector_metrics_port: Port = 9101
    metrics_linger_s: NonNegativeFloat = 0.0
    """Keep serving /metrics this long after a run, so Prometheus scrapes a finished CronJob."""

    overlap_days: NonNegativeInt = 3
    initial_days: PositiveInt = 30
    user_concurrency: PositiveInt = 16
    # Requests in flight for the whole process. Oura's budget is ~17 requests/s sustained, which
    # 8 requests at Oura's few hundred ms latency already exceed; more connections only add
    # connection-pool overhead.
    request_concurrency: PositiveInt = 8
    rate_limit_requests: PositiveInt = 5000
    rate_limit_window_s: PositiveFloat = 300.0
    request_timeout_s: PositiveFloat = Field(default=30.0, validation_alias="COLLECTOR_TIMEOUT_S")
    max_attempts: PositiveInt = 5
    backoff_base_s: NonNegativeFloat = 0.5
    backoff_cap_s: NonNegativeFloat = 30.0
    max_rate_limit_wait_s: NonNegativeFloat = 900.0
    # Heart rate is ~500 rows a day and Oura pages it by ~1,000 rows: a window's pages follow
    # each other, windows (and backfill chunks) run concurrently. Longer windows waste fewer
    # requests on short last pages; 30 days is ~15 pages.
    heartrate_window_days: PositiveInt = 30
    # Daily documents come thousands to a page (OURA_API_V2.md §2.1: 2,141 in one page), so a
    # year is a request or a few; each chunk advances `covered` once the broker acknowledged it.
    backfill_chunk_days: PositiveInt = 365
    # Webhook subscriptions (`python -m collector subscriptions`): Oura calls this URL (the
    # gateway's receiver) and echoes the token in its handshake, which the receiver checks.
    oura_webhook_callback_url: str = ""
    oura_webhook_verification_token: SecretStr = SecretStr("")
    # Third parties renew at least 3 days ahead (OURA_API_V2.md §4.4): a missed daily renewal
    # run or two still leaves time before deliveries stop.
    webhook_renew_within_days: PositiveFloat = 3.0
    # The webhook fetcher (`python -m collector webhooks`).
    webhook_group_id: str = "myhealth-webhook-fetcher"
    webhook_batch_window_ms: int = Field(default=200, ge=0, le=60_000)
    """Events arriving within this long of the first are handled together: one fetch per
    announced document however often it was announced."""
    webhook_batch_max: PositiveInt = 500
    # One Oura request budget for every collector process (scheduled runs, backfills, the
    # webhook fetcher): a token bucket in PostgreSQL, taken in chunks.
    rate_budget_shared: bool = True
    rate_budget_chunk: PositiveInt = 10
    """Requests a process takes from the shared budget per database round trip; what it holds
    unused when it stops is lost to the budget until the bucket refills."""

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> CollectorSettings:
        if is_placeholder(self.token_encryption_keys.get_secret_value()):
            raise ValueError("TOKEN_ENCRYPTION_KEYS is a placeholder from an example file")
        if self.environment != "development":
            missing = [
                name
                for name, value in (
                    ("OURA_CLIENT_ID", self.oura_client_id),
                    ("OURA_CLIENT_SECRET", self.oura_client_secret.get_secret_value()),
                    ("TOKEN_ENCRYPTION_KEYS", self.token_encryption_keys.get_secret_value()),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"{', '.join(missing)} must be set in {self.environment}")
        return self
