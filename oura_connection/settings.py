"""What talking to Oura on a user's behalf needs: the OAuth client's endpoints and credentials.

The collector's and the gateway's settings inherit it, so both read the same OURA_* variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.data_types import ALL_SCOPES


class OuraOAuthSettings(BaseSettings):
    """What talking to Oura's OAuth endpoints needs; the gateway may reuse or subclass it."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Fail closed: an unset ENVIRONMENT is production, so a forgotten variable can never switch
    # on development defaults; `make run` and the tests ask for development.
    environment: Literal["development", "staging", "production"] = "production"
    oura_client_id: str = ""
    oura_client_secret: SecretStr = SecretStr("")
    oura_redirect_uri: str = "http://127.0.0.1:8080/api/callback"
    oura_api_base_url: str = "https://api.ouraring.com"
    oura_authorize_url: str = "https://cloud.ouraring.com/oauth/authorize"
    # Oura's legacy endpoint; the developer portal's moi.ouraring.com/oauth/v2/ext/oauth-token
    # works the same way and is selected by setting this variable.
    oura_token_url: str = "https://api.ouraring.com/oauth/token"
    oura_revoke_url: str = "https://api.ouraring.com/oauth/revoke"
    oura_scopes: list[str] = Field(default_factory=lambda: list(ALL_SCOPES))
    oauth_timeout_s: float = Field(default=20.0, gt=0, validation_alias="OURA_OAUTH_TIMEOUT_S")
