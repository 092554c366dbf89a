"""Oura OAuth tokens: encryption at rest, the OAuth client, and their lifecycle in PostgreSQL.

Shared by the collector and the gateway; this module's names are the public API."""

from collector.tokens._cipher import TokenCipher, TokenCipherError
from collector.tokens._oauth import (
    InvalidGrant,
    OAuthConfig,
    OAuthError,
    OuraOAuthClient,
    TokenGrant,
)
from collector.tokens._store import (
    ConnectionStatus,
    DataTypeStatus,
    NeedsReauth,
    NotConnected,
    connection_status,
    forget_tokens,
    get_access_token,
    refresh_now,
    refresh_rejected,
    retry_revocations,
    rotate_all_tokens,
    set_oura_user_id,
    store_grant,
    users_of_oura_account,
    users_without_oura_id,
)

__all__ = [
    "ConnectionStatus",
    "DataTypeStatus",
    "InvalidGrant",
    "NeedsReauth",
    "NotConnected",
    "OAuthConfig",
    "OAuthError",
    "OuraOAuthClient",
    "TokenCipher",
    "TokenCipherError",
    "TokenGrant",
    "connection_status",
    "forget_tokens",
    "get_access_token",
    "refresh_now",
    "refresh_rejected",
    "retry_revocations",
    "rotate_all_tokens",
    "set_oura_user_id",
    "store_grant",
    "users_of_oura_account",
    "users_without_oura_id",
]
