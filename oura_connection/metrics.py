"""Prometheus metrics of token refreshes, in whichever process refreshes (a collector run, the
webhook fetcher, a gateway replica): the names carry no service, so one alert covers them all."""

from __future__ import annotations

from prometheus_client import Counter

TOKEN_REFRESHES = Counter(
    "oura_token_refreshes_total", "Oura token refreshes by outcome", ["outcome"]
)
TOKEN_REFRESH_FAILURES = Counter(
    "oura_token_refresh_failures_total", "Oura token refreshes that failed, by reason", ["reason"]
)
