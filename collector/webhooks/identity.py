"""Oura's user id for connections made before the gateway stored it at connect time: webhook
events name the Oura user, so a connection without the id gets no webhooks until this runs
(the scheduled run and the webhook fetcher's start call it)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from collector.metrics import OURA_IDS_FILLED
from collector.oura import OuraFetchError
from oura_connection import (
    NeedsReauth,
    NotConnected,
    OAuthError,
    TokenCipherError,
    set_oura_user_id,
    users_without_oura_id,
)
from schemas.data_types import BY_NAME

if TYPE_CHECKING:
    from collector.collect import Collector

log = logging.getLogger("collector.webhooks")


async def fill_missing_oura_user_ids(collector: Collector) -> int:
    """Look up and store `personal_info.id` for every active connection without one; returns
    how many were filled. A user whose lookup fails is left for the next call."""
    filled = 0
    personal_info = BY_NAME["personal_info"]
    today = datetime.now(UTC).date()  # personal_info has no day: any window serves
    for user_id in await users_without_oura_id(collector.pool):
        try:
            [document] = await collector.client.fetch(
                collector.tokens_for(user_id), personal_info, today, today
            )
        except (OuraFetchError, NeedsReauth, NotConnected, OAuthError, TokenCipherError) as exc:
            log.warning(
                "oura user id not looked up",
                extra={"user_id": str(user_id), "error": f"{type(exc).__name__}: {exc}"},
            )
            continue
        oura_id = document.get("id")
        if isinstance(oura_id, str) and oura_id:
            await set_oura_user_id(collector.pool, user_id, oura_id)
            filled += 1
    OURA_IDS_FILLED.inc(filled)
    return filled
