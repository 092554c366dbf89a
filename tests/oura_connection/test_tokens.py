"""Token lifecycle against the simulator's OAuth endpoints and the real database."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from oura_connection import (
    InvalidGrant,
    NeedsReauth,
    TokenCipher,
    connection_status,
    forget_tokens,
    get_access_token,
    refresh_now,
    rotate_all_tokens,
    store_grant,
)
from tests.collector.helpers import connect, create_user
from tests.oura_connection.conftest import sim_env

WORKER = Path(__file__).with_name("race_worker.py")
ROOT = Path(__file__).resolve().parents[2]


async def _expire_soon(db, user_id) -> None:
    await db.execute(
        "UPDATE oauth_tokens SET expires_at = now() + interval '1 minute' WHERE user_id = $1",
        user_id,
    )


async def test_code_flow_then_refresh_rotates_the_pair(sim, db, oauth, cipher) -> None:
    url = oauth.authorization_url("state-123", ["daily", "heartrate"])
    async with httpx.AsyncClient() as http:
        redirect = await http.get(url, follow_redirects=False)
    assert redirect.status_code == 302
    query = parse_qs(urlparse(redirect.headers["location"]).query)
    assert query["state"] == ["state-123"]
    grant = await oauth.exchange_code(query["code"][0])
    assert sorted(grant.scopes) == ["daily", "heartrate"]
    user_id = await create_user(db)
    await store_grant(db, user_id, grant, cipher, oura_user_id="oura-1")

    assert await get_access_token(db, user_id, oauth, cipher) == grant.access_token
    await _expire_soon(db, user_id)
    fresh = await get_access_token(db, user_id, oauth, cipher)
    assert fresh != grant.access_token
    with pytest.raises(InvalidGrant):  # the old refresh token was single-use
        await oauth.refresh(grant.refresh_token)
    assert await get_access_token(db, user_id, oauth, cipher) == fresh  # no second refresh
    rotated = await refresh_now(db, user_id, oauth, cipher)
    assert rotated.access_token not in (fresh, grant.access_token)
    assert sim.simulator.stats()["token_requests"] == {
        "authorization_code": 1,
        "refresh_token": 3,
    }
    status = await connection_status(db, user_id)
    assert status is not None and status.status == "active"
    assert status.scopes == ["daily", "heartrate"] and status.oura_user_id == "oura-1"
    assert status.last_refreshed_at is not None
    raw = await db.fetchrow("SELECT access_token_ciphertext FROM oauth_tokens")
    assert rotated.access_token.encode() not in bytes(raw["access_token_ciphertext"])


async def test_processes_racing_to_refresh_make_one_token_request(
    sim, db, settings, cipher, token_key
) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    await _expire_soon(db, user_id)
    sim.simulator.reset_stats()
    env = {**os.environ, **sim_env(settings, token_key), "PYTHONPATH": str(ROOT)}
    start_at = time.time() + 3.0
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            str(user_id),
            str(start_at),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(6)
    ]
    outputs = await asyncio.wait_for(
        asyncio.gather(*(w.communicate() for w in workers)), timeout=60
    )
    results = [(out.decode(), err.decode()) for out, err in outputs]
    assert [w.returncode for w in workers] == [0] * 6, [err for _, err in results]
    tokens = {out.strip() for out, _ in results}
    assert len(tokens) == 1
    assert sim.simulator.stats()["token_requests"] == {"refresh_token": 1}
    assert sim.simulator.authenticate(tokens.pop())[0] is not None


async def test_invalid_grant_marks_needs_reauth_without_retrying(sim, db, oauth, cipher) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    sim.simulator.revoke_user("demo")
    await _expire_soon(db, user_id)
    with pytest.raises(NeedsReauth):
        await get_access_token(db, user_id, oauth, cipher)
    with pytest.raises(NeedsReauth):
        await get_access_token(db, user_id, oauth, cipher)
    assert sim.simulator.stats()["token_requests"] == {"refresh_token": 1}
    status = await connection_status(db, user_id)
    assert status is not None and status.status == "needs_reauth"
    assert "invalid_grant" in (status.last_error or "")


async def test_5xx_during_refresh_keeps_the_still_valid_token(sim, db, oauth, cipher) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    current = await get_access_token(db, user_id, oauth, cipher)
    await _expire_soon(db, user_id)
    sim.simulator.faults.server_error_burst(10, scope="oauth")
    assert await get_access_token(db, user_id, oauth, cipher) == current
    row = await db.fetchrow("SELECT status, refresh_failures FROM oauth_tokens")
    assert row["status"] == "active" and row["refresh_failures"] == 1
    sim.simulator.faults.clear()
    assert await get_access_token(db, user_id, oauth, cipher) != current


async def test_forget_revokes_at_oura_and_deletes(sim, db, oauth, cipher) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    token = await get_access_token(db, user_id, oauth, cipher)
    await forget_tokens(db, user_id, oauth, cipher)
    assert await connection_status(db, user_id) is None
    assert sim.simulator.authenticate(token)[0] is None


async def test_key_rotation_reencrypts_every_token(sim, db, oauth, cipher, token_key) -> None:
    user_id = await connect(db, sim, "demo", cipher)
    token = await get_access_token(db, user_id, oauth, cipher)
    new_key = TokenCipher.generate_key()
    both = TokenCipher.from_keys([new_key, token_key])
    assert await rotate_all_tokens(db, both) == 1
    only_new = TokenCipher.from_keys(new_key)
    assert await get_access_token(db, user_id, oauth, only_new) == token
