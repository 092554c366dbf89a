"""Pure pieces of the collector: no network, no database."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import httpx
import pytest

from collector.__main__ import main
from collector.backfill import split_range
from collector.oura import RateLimiter, group_heartrate_by_day, retry_after_seconds
from oura_connection import TokenCipher


async def test_limiter_keeps_the_window_budget() -> None:
    limiter = RateLimiter(5, 0.3)
    started = time.monotonic()
    for _ in range(10):
        await limiter.acquire()
    assert time.monotonic() - started >= 0.3
    assert limiter.total_requests == 10


async def test_limiter_pause_holds_everyone() -> None:
    limiter = RateLimiter(100, 1.0)
    limiter.pause(0.2)
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(3)))
    assert time.monotonic() - started >= 0.19


def test_retry_after_prefers_header_then_reset() -> None:
    request = httpx.Request("GET", "http://x")
    assert (
        retry_after_seconds(
            httpx.Response(429, headers={"Retry-After": "7"}, request=request), fallback=1
        )
        == 7
    )
    reset = str(int(time.time()) + 30)
    waited = retry_after_seconds(
        httpx.Response(429, headers={"X-RateLimit-Reset": reset}, request=request), fallback=1
    )
    assert 28 <= waited <= 31
    assert retry_after_seconds(httpx.Response(429, request=request), fallback=3) == 3


def test_heartrate_rows_grouped_per_utc_day_and_filtered() -> None:
    rows = [
        {"timestamp": "2025-01-01T23:59:00+00:00", "bpm": 60, "source": "awake"},
        {"timestamp": "2025-01-02T00:00:00+00:00", "bpm": 61, "source": "awake"},
        {"timestamp": "2025-01-01T10:00:00+00:00", "bpm": 62, "source": "rest"},
        {"timestamp": "2025-01-03T00:00:00+00:00", "bpm": 63, "source": "rest"},
    ]
    docs = group_heartrate_by_day(rows, date(2025, 1, 1), date(2025, 1, 2))
    assert [d["day"] for d in docs] == ["2025-01-01", "2025-01-02"]
    assert [r["bpm"] for r in docs[0]["rows"]] == [62, 60]
    assert docs[0]["rows"][0]["timestamp_unix"] == 1735725600000


def test_split_range() -> None:
    assert split_range(date(2025, 1, 1), date(2025, 1, 5), 2) == [
        (date(2025, 1, 1), date(2025, 1, 2)),
        (date(2025, 1, 3), date(2025, 1, 4)),
        (date(2025, 1, 5), date(2025, 1, 5)),
    ]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["backfill", "--all", "--since", "2025-13-01"], "not a date"),
        (["backfill", "--user", "bob", "--since", "2025-01-01"], "not a user id"),
        (["backfill", "--since", "2025-01-01"], "one of the arguments --user --all"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_cli_errors_are_one_line(argv, needle, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_unknown_type_is_named(capsys, monkeypatch) -> None:
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", TokenCipher.generate_key())
    monkeypatch.setenv("DB_PORT", "1")  # never reached: the type check comes first
    assert main(["run", "--types", "daily_sleep,bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown data type(s) bogus" in err
