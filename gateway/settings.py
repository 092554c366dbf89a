"""The gateway's configuration: one typed object, read from the environment once per process.

Shared names (JWT_SECRET, TOKEN_ENCRYPTION_KEYS, OURA_*, DB_*, KAFKA_*, LOG_LEVEL) are kept
exactly; knobs only the gateway has are `GATEWAY_*`."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic.types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from oura_connection.settings import OuraOAuthSettings
from schemas.secret_strength import is_placeholder, weakness
from schemas.settings import Port, service_settings

# Only ever accepted in development: anyone can read it here.
DEVELOPMENT_JWT_SECRET = "development-only-jwt-secret-do-not-use-in-production"


class GatewaySettings(OuraOAuthSettings):
    """Everything `python -m gateway` reads from the environment."""

    model_config = service_settings("GATEWAY_")

    log_level: str = "INFO"
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    token_encryption_keys: SecretStr = SecretStr("")
    oura_redirect_uri: str = "http://127.0.0.1:8080/api/callback"

    gateway_host: str = "0.0.0.0"
    gateway_port: Port = 8080
    gateway_workers: int = Field(default=1, ge=1, le=64)
    metrics_port: Port = 9100
    """Prometheus metrics on their own port (never on the API port the ingress exposes)."""
    sync_status_interval_s: PositiveFloat = 60.0
    access_log: bool = False
    """One log line per request; query strings are scrubbed of OAuth codes, states, tokens and
    emails, but the lines still say who asked for what, so they are off unless asked for."""

    jwt_ttl_s: int = Field(default=900, ge=60)
    """Access tokens are short-lived; a refresh token (GATEWAY_REFRESH_TTL_S) renews them."""
    refresh_ttl_s: int = Field(default=30 * 86400, ge=300)
    bcrypt_rounds: int = Field(default=12, ge=12, le=16)
    oauth_state_ttl_s: int = Field(default=600, ge=30)
    post_connect_redirect: str | None = None
    oura_pkce: bool = True
    """PKCE (S256) on the authorization request and the code exchange. Oura's documentation
    does not say whether its endpoints check it; turn it off if its token endpoint refuses the
    `code_verifier` field."""
    web_session_ttl_s: int = Field(default=8 * 3600, ge=300)
    """How long a browser stays signed in; signing out, the API's logout and a password change
    end it sooner."""
    grafana_url: str | None = None
    """The pages link to the dashboards when set."""
    backfill_on_connect: bool = False
    backfill_days: PositiveInt = 90

    login_window_s: PositiveInt = 900
    """Failures of a pair are forgotten this long after its last one; the login budget of an
    address is counted over windows this long."""
    login_free_failures: NonNegativeInt = 3
    login_delay_base_s: PositiveFloat = 1.0
    login_delay_cap_s: PositiveFloat = 300.0
    login_budget_address: PositiveInt = 100
    register_budget_address: PositiveInt = 10
    register_window_s: PositiveInt = 3600
    password_min_score: int = Field(default=3, ge=0, le=4)
    """zxcvbn's 0-4 strength score a new password needs (3: safely unguessable online)."""
    hash_concurrency: int = Field(default=2, ge=1, le=64)
    """bcrypt runs at most this many at once per process (about one per core), so a burst of
    logins or registrations cannot take every core from the rest of the API."""
    hash_queue: NonNegativeInt = 32
    """Hashing requests that may wait for a slot; beyond it the answer is 503 at once."""
    trusted_proxy_hops: int = Field(default=0, ge=0, le=8)
    """How many reverse proxies append to X-Forwarded-For in front of the gateway (1 behind the
    Istio ingress gateway, which the chart sets); 0 = use the TCP peer address."""

    max_range_days: PositiveInt = 366
    default_range_days: PositiveInt = 30
    max_body_bytes: int = Field(default=65536, ge=1024)
    cache_ttl_s: NonNegativeFloat = 30.0
    """Per-process cache of user existence and dashboards; invalidated across replicas through
    PostgreSQL NOTIFY. 0 disables it."""
    ready_cache_s: NonNegativeFloat = 2.0
    db_pool_min: NonNegativeInt = 2
    db_pool_max: PositiveInt = 10
    db_acquire_timeout_s: PositiveFloat = 5.0
    """A request waits this long for a pooled connection, then answers 503."""
    db_statement_timeout_s: PositiveFloat = 15.0
    db_idle_in_transaction_timeout_s: PositiveFloat = 30.0
    export_pool_max: PositiveInt = 2
    """Connections for exports only: however many exports stream, queries keep their pool."""
    export_acquire_timeout_s: PositiveFloat = 2.0
    export_statement_timeout_s: PositiveFloat = 120.0
    export_idle_timeout_s: PositiveFloat = 60.0
    """An export whose reader stops reading holds its snapshot this long, then PostgreSQL ends
    its session (idle_in_transaction_session_timeout)."""

    oura_webhook_verification_token: SecretStr = SecretStr("")
    """What Oura echoes in a subscription's verification handshake (the subscriptions command
    registers it). Unset: the webhook receiver answers 404 and no producer is started."""
    webhook_replay_window_s: PositiveFloat = 300.0
    """A delivery whose x-oura-timestamp is further than this from the gateway's clock, either
    way, is refused: a captured delivery cannot be replayed later."""
    webhook_max_body_bytes: int = Field(default=16384, ge=256)
    """An Oura event is a few hundred bytes; anything far larger is refused with 413 before
    its signature is computed."""

    erasure_retry_interval_s: PositiveFloat = 300.0
    """How often an erasure left in progress (a restart, a broker outage) is run again; also
    run at startup."""
    erasure_stall_timeout_s: PositiveFloat = 60.0
    """An erasure reading a topic partition that yields nothing for this long, short of its
    end, gives up this attempt (recorded on the receipt, retried)."""
    purge_interval_s: PositiveFloat = 3600.0
    """How often expired OAuth states, throttle rows past their window and dead refresh-token
    families are deleted (`python -m gateway.purge` does it once)."""

    @property
    def webhooks_enabled(self) -> bool:
        return bool(self.oura_webhook_verification_token.get_secret_value())

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> GatewaySettings:
        secret = self.jwt_secret.get_secret_value()
        keys = self.token_encryption_keys.get_secret_value().strip()
        # A value from an example file is public, whatever the environment.
        for name, value in (("JWT_SECRET", secret), ("TOKEN_ENCRYPTION_KEYS", keys)):
            if is_placeholder(value):
                raise ValueError(f"{name} is a placeholder from an example file")
        token = self.oura_webhook_verification_token.get_secret_value()
        if is_placeholder(token):
            raise ValueError(
                "OURA_WEBHOOK_VERIFICATION_TOKEN is a placeholder from an example file"
            )
        if token and not self.oura_client_secret.get_secret_value():
            # The client secret is the key of every delivery's signature.
            raise ValueError("OURA_WEBHOOK_VERIFICATION_TOKEN is set but OURA_CLIENT_SECRET is not")
        if self.environment == "development":
            return self
        problems: list[str] = []
        if secret == DEVELOPMENT_JWT_SECRET:
            problems.append("JWT_SECRET is unset or the development default")
        elif (reason := weakness("JWT_SECRET", secret)) is not None:
            problems.append(reason)
        if not keys:
            problems.append("TOKEN_ENCRYPTION_KEYS is unset")
        if problems:
            raise ValueError(
                f"refusing to start in {self.environment} (ENVIRONMENT=development must be asked"
                f" for explicitly): {'; '.join(problems)}"
            )
        return self
