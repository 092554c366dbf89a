"""A property-based run (schemathesis) over the OpenAPI schema, against the gateway served over
real HTTP on loopback with an authenticated user who has data: no 5xx, statuses and content
types as documented."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from gateway.routes.params import today
from tests.gateway.factories import insert_every_type, insert_trend, new_user

pytestmark = pytest.mark.slow


def _st() -> str | None:
    local = Path(sys.executable).with_name("st")
    return str(local) if local.exists() else shutil.which("st")


async def test_openapi_property_run_finds_no_server_errors(live_server, db: asyncpg.Pool) -> None:
    st = _st()
    assert st is not None, "schemathesis is a dev dependency: make venv installs it"
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        user_id, headers = await new_user(client)
        schema = (await client.get("/openapi.json")).json()
    for offset in range(3):
        await insert_every_type(db, user_id, today() - timedelta(days=offset), seed=offset)
    await insert_trend(db, user_id, "sleep_score", today(), 80, flag=True)

    started = time.monotonic()
    result = await asyncio.to_thread(
        subprocess.run,
        [
            st,
            "run",
            f"{live_server.url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "15",
            "--seed",
            "20261127",
            "--no-shrink",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--header",
            f"Authorization: {headers['Authorization']}",
            # Erasing the test's own account would leave every later call at 401.
            "--exclude-by",
            "method == 'DELETE' and path == '/api/me'",
            # Logging out ends the session the rest of the run uses.
            "--exclude-path",
            "/api/logout",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, output
    assert len(schema["paths"]) >= 30
    print(f"schemathesis: {elapsed:.1f}s\n{result.stdout[-1500:]}")
