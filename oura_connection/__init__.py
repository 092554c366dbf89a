"""The Oura connection: what the collector and the gateway both need to talk to Oura on a user's
behalf. Tokens encrypted at rest, the OAuth client, the tokens' lifecycle in PostgreSQL (the
queries on `oauth_tokens`, in `_store`; only the gateway's dashboard, one query for the whole
page, reads a connection's status itself), its settings (`oura_connection.settings`) and
metrics (`oura_connection.metrics`).

Below both services: it imports only `schemas`. This module's names are the public API."""

from oura_connection._cipher import TokenCipher, TokenCipherError
from oura_connection._oauth import (
    InvalidGrant,
    OAuthError,
    OuraOAuthClient,
    TokenGrant,
)
from oura_connection._store import (
    ConnectionCount,
    ConnectionStatus,
    NeedsReauth,
    NotConnected,
    active_connections,
    connection_status,
    connections_by_status,
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
    "ConnectionCount",
    "ConnectionStatus",
    "InvalidGrant",
    "NeedsReauth",
    "NotConnected",
    "OAuthError",
    "OuraOAuthClient",
    "TokenCipher",
    "TokenCipherError",
    "TokenGrant",
    "active_connections",
    "connection_status",
    "connections_by_status",
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
