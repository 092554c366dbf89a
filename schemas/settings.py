"""Connection settings shared by every service: Kafka and PostgreSQL.

Read from the environment (names kept from the original platform where they existed) through
pydantic-settings, once per process."""

from __future__ import annotations

import ssl
from typing import Annotated, Any, Literal

from pydantic import AliasGenerator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.secret_strength import is_placeholder

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"]

Port = Annotated[int, Field(ge=0, le=65535)]

# Variables every service reads under the same name (ENVIRONMENT, OURA_CLIENT_ID, JWT_SECRET,
# ...); whatever else a service reads is its own knob, named after the service.
PLATFORM_NAMES = ("environment", "log_level", "jwt_", "token_encryption_keys", "oura_", "grafana_")


def service_settings(prefix: str) -> SettingsConfigDict:
    """The settings config of a service whose own knobs are named `<prefix><FIELD>`.

    Platform-wide fields and fields already named after the service keep their own name; an
    explicit `validation_alias` on a field still wins (a name kept from an older release)."""
    return SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, alias_generator=_knobs(prefix)
    )


def _knobs(prefix: str) -> AliasGenerator:
    own = prefix.lower()

    def env_name(field: str) -> str:
        if field.startswith(PLATFORM_NAMES) or field.startswith(own):
            return field.upper()
        return f"{prefix}{field.upper()}"

    return AliasGenerator(validation_alias=env_name)


class KafkaSettings(BaseSettings):
    """`KAFKA_*` variables. OAUTHBEARER means Amazon MSK IAM authentication."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", env_file=".env", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:19092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    aws_region: str | None = None
    topic_prefix: str = ""
    replication_factor: int = Field(default=1, ge=1)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (producer, consumer, admin)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_context"] = ssl.create_default_context()
        if self.security_protocol.startswith("SASL"):
            kwargs.update(self._sasl_kwargs())
        return kwargs

    def _sasl_kwargs(self) -> dict[str, Any]:
        if self.sasl_mechanism is None:
            raise ValueError("KAFKA_SASL_MECHANISM is required with a SASL security protocol")
        if self.sasl_mechanism == "OAUTHBEARER":
            from schemas._msk_iam import MskIamTokenProvider

            return {
                "sasl_mechanism": "OAUTHBEARER",
                "sasl_oauth_token_provider": MskIamTokenProvider(self.aws_region),
            }
        if not self.sasl_username or self.sasl_password is None:
            missing = "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            raise ValueError(f"{missing} are required for {self.sasl_mechanism}")
        return {
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.sasl_username,
            "sasl_plain_password": self.sasl_password.get_secret_value(),
        }


class DatabaseSettings(BaseSettings):
    """`DB_*` and `SSL_MODE`, as the original platform named them."""

    model_config = SettingsConfigDict(env_prefix="DB_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 55432
    user: str = "myhealth"
    password: SecretStr = SecretStr("")
    name: str = "myhealth"
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        default="disable", validation_alias="SSL_MODE"
    )
    ssl_root_cert: str | None = Field(default=None, validation_alias="SSL_ROOT_CERT")
    """CA bundle the server certificate must chain to with verify-ca / verify-full (the RDS
    bundle in the image: /etc/myhealth/rds-global-bundle.pem); default: the system CAs."""
    pool_min: int = Field(default=1, ge=0)
    pool_max: int = Field(default=10, ge=1)

    @field_validator("password")
    @classmethod
    def _not_a_placeholder(cls, value: SecretStr) -> SecretStr:
        # deploy/compose.env.example is public: its values must never become a real password.
        if is_placeholder(value.get_secret_value()):
            raise ValueError("DB_PASSWORD is a placeholder from an example file")
        return value

    def dsn(self, database: str | None = None) -> str:
        """A libpq URL (password included: never log it)."""
        from urllib.parse import quote

        password = quote(self.password.get_secret_value(), safe="")
        db = database or self.name
        url = f"postgresql://{quote(self.user)}:{password}@{self.host}:{self.port}/{db}"
        if self.ssl_mode == "disable":
            return url
        url += f"?sslmode={self.ssl_mode}"
        if self.ssl_root_cert:
            url += f"&sslrootcert={quote(self.ssl_root_cert, safe='/')}"
        return url

    def asyncpg_kwargs(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password.get_secret_value(),
            "database": self.name,
            "ssl": self._ssl(),
        }

    def _ssl(self) -> str | ssl.SSLContext | None:
        if self.ssl_mode == "disable":
            return None
        if self.ssl_mode not in ("verify-ca", "verify-full"):
            return self.ssl_mode
        # An explicit context: asyncpg would otherwise look for ~/.postgresql/root.crt only.
        context = ssl.create_default_context(cafile=self.ssl_root_cert)
        context.check_hostname = self.ssl_mode == "verify-full"
        return context
