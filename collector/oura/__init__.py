"""Oura data API client: pagination, date quirks, heart-rate windows, retries and the
process-wide request budget."""

from collector.oura._client import (
    MalformedPage,
    OuraClient,
    TokenSource,
    data_path,
    group_heartrate_by_day,
    retry_after_seconds,
    split_range,
)
from collector.oura._errors import (
    DocumentNotFound,
    NotGranted,
    OuraFetchError,
    Unauthorized,
    WindowFailed,
)
from collector.oura._limiter import RateLimiter, SharedBudget

__all__ = [
    "DocumentNotFound",
    "MalformedPage",
    "NotGranted",
    "OuraClient",
    "OuraFetchError",
    "RateLimiter",
    "SharedBudget",
    "TokenSource",
    "Unauthorized",
    "WindowFailed",
    "data_path",
    "group_heartrate_by_day",
    "retry_after_seconds",
    "split_range",
]
