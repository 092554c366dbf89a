"""What every benchmark needs: a freshly migrated database of its own, a way to merge its
figures into benchmarks/results.json without clobbering the others', and the services it
measures started as processes of their own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command

from migrations import alembic_config
from schemas.settings import DatabaseSettings

RESULTS = Path(__file__).resolve().parent / "results.json"
ROOT = RESULTS.parent.parent


def merge_results(figures: dict[str, Any]) -> None:
    """Add or replace these keys in results.json; keys of other benchmarks stay."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(figures)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


async def recreate_database(base: DatabaseSettings, name: str) -> DatabaseSettings:
    """Drop and create database `name`, migrate it to head, and return settings that use it."""
    conn = await asyncpg.connect(**base.asyncpg_kwargs())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    settings = base.model_copy(update={"name": name})
    url = settings.dsn().replace("postgresql://", "postgresql+psycopg://", 1)
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_module(
    name: str, args: list[str], env: dict[str, str], logs: Path
) -> subprocess.Popen[bytes]:
    """`python -m <args>` in its own session (so `stop` reaches its children), logging to
    `<logs>/<name>.log`."""
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        stdout=(logs / f"{name}.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
