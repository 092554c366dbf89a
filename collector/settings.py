"""The collector's configuration: one typed object, read from the environment once per process.

Names shared with the rest of the platform (OURA_*, TOKEN_ENCRYPTION_KEYS, LOG_LEVEL, ...) are kept
exactly; knobs that only the collector has are `COLLECTOR_*`."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from oura_connection.settings import OuraOAuthSettings
from schemas.secret_strength import is_placeholder


class CollectorSettings(OuraOAuthSettings):
    """Everything `python -m collector` reads from the environment."""

    log_level: str = "INFO"
    token_encryption_keys: SecretStr = SecretStr("")
    collector_metrics_port: int = Field(default=9101, ge=0, le=65535)
    metrics_linger_s: float = Field(
        default=0.0, ge=0, validation_alias="COLLECTOR_METRICS_LINGER_S"
    )
    """Keep serving /metrics this long after a run, so Prometheus scrapes a finished CronJob."""

    overlap_days: int = Field(default=3, ge=0, validation_alias="COLLECTOR_OVERLAP_DAYS")
    initial_days: int = Field(default=30, ge=1, validation_alias="COLLECTOR_INITIAL_DAYS")
    user_concurrency: int = Field(default=16, ge=1, validation_alias="COLLECTOR_USER_CONCURRENCY")
    # Requests in flight for the whole process. Oura's budget is ~17 requests/s sustained, which
    # 8 requests at Oura's few hundred ms latency already exceed; more connections only add
    # connection-pool overhead.
    request_concurrency: int = Field(
        default=8, ge=1, validation_alias="COLLECTOR_REQUEST_CONCURRENCY"
    )
    rate_limit_requests: int = Field(
        default=5000, ge=1, validation_alias="COLLECTOR_RATE_LIMIT_REQUESTS"
    )
    rate_limit_window_s: float = Field(
        default=300.0, gt=0, validation_alias="COLLECTOR_RATE_LIMIT_WINDOW_S"
    )
    request_timeout_s: float = Field(default=30.0, gt=0, validation_alias="COLLECTOR_TIMEOUT_S")
    max_attempts: int = Field(default=5, ge=1, validation_alias="COLLECTOR_MAX_ATTEMPTS")
    backoff_base_s: float = Field(default=0.5, ge=0, validation_alias="COLLECTOR_BACKOFF_BASE_S")
    backoff_cap_s: float = Field(default=30.0, ge=0, validation_alias="COLLECTOR_BACKOFF_CAP_S")
    max_rate_limit_wait_s: float = Field(
        default=900.0, ge=0, validation_alias="COLLECTOR_MAX_RATE_LIMIT_WAIT_S"
    )
    # Heart rate is ~500 rows a day and Oura pages it by ~1,000 rows: a window's pages follow
    # each other, windows (and backfill chunks) run concurrently. Longer windows waste fewer
    # requests on short last pages; 30 days is ~15 pages.
    heartrate_window_days: int = Field(
        default=30, ge=1, validation_alias="COLLECTOR_HEARTRATE_WINDOW_DAYS"
    )
    # Daily documents come thousands to a page (OURA_API_V2.md §2.1: 2,141 in one page), so a
    # year is a request or a few; each chunk advances `covered` once the broker acknowledged it.
    backfill_chunk_days: int = Field(
        default=365, ge=1, validation_alias="COLLECTOR_BACKFILL_CHUNK_DAYS"
    )
    # Webhook subscriptions (`python -m collector subscriptions`): Oura calls this URL (the
    # gateway's receiver) and echoes the token in its handshake, which the receiver checks.
    oura_webhook_callback_url: str = ""
    oura_webhook_verification_token: SecretStr = SecretStr("")
    # Third parties renew at least 3 days ahead (OURA_API_V2.md §4.4): a missed daily renewal
    # run or two still leaves time before deliveries stop.
    webhook_renew_within_days: float = Field(
        default=3.0, gt=0, validation_alias="COLLECTOR_WEBHOOK_RENEW_WITHIN_DAYS"
    )
    # The webhook fetcher (`python -m collector webhooks`).
    webhook_group_id: str = Field(
        default="myhealth-webhook-fetcher", validation_alias="COLLECTOR_WEBHOOK_GROUP_ID"
    )
    webhook_batch_window_ms: int = Field(
        default=200, ge=0, le=60_000, validation_alias="COLLECTOR_WEBHOOK_BATCH_WINDOW_MS"
    )
    """Events arriving within this long of the first are handled together: one fetch per
    announced document however often it was announced."""
    webhook_batch_max: int = Field(
        default=500, ge=1, validation_alias="COLLECTOR_WEBHOOK_BATCH_MAX"
    )
    # One Oura request budget for every collector process (scheduled runs, backfills, the
    # webhook fetcher): a token bucket in PostgreSQL, taken in chunks.
    rate_budget_shared: bool = Field(default=True, validation_alias="COLLECTOR_RATE_BUDGET_SHARED")
    rate_budget_chunk: int = Field(default=10, ge=1, validation_alias="COLLECTOR_RATE_BUDGET_CHUNK")
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
