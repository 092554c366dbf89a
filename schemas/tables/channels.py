"""PostgreSQL NOTIFY channels."""

from __future__ import annotations

USER_CHANGED_CHANNEL = "myhealth_user_changed"
"""Payload: a user id, or `*` for everyone. Whoever changes a user's account, connection or data
announces it here; every gateway replica listens and drops that user's cached entries."""
