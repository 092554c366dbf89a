"""Fixtures of the stream processor's tests (helpers in helpers.py)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas.settings import KafkaSettings
from tests.stream_processor.helpers import ROOT, Worker, make_users


@pytest.fixture
def processor_env(topics: KafkaSettings, group_id: str, db_settings: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_TOPIC_PREFIX": topics.topic_prefix,
            "DB_NAME": db_settings.name,
            "PROCESSOR_GROUP_ID": group_id,
            "PROCESSOR_METRICS_PORT": "0",
            "PROCESSOR_BATCH_WITHIN_S": "0.2",
            "PROCESSOR_BATCH_SIZE": "200",
            "PROCESSOR_RETRY_CAP_S": "2",
            "PROCESSOR_SESSION_TIMEOUT_S": "6",
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


@pytest.fixture
def worker(processor_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    w = Worker(processor_env, tmp_path / "worker.log")
    yield w
    w.stop()


@pytest.fixture
async def users(db: asyncpg.Pool) -> AsyncIterator[list[str]]:
    yield await make_users(db, 3)
