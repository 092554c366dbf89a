"""`python -m collector rotate-keys`: every stored token re-encrypted under the new first key."""

from __future__ import annotations

import asyncio

from collector.__main__ import main
from oura_connection import TokenCipher
from tests.collector.helpers import connect


async def test_cli_rotate_keys(sim, db, settings, cipher, token_key, monkeypatch, capsys) -> None:
    await connect(db, sim, "demo", cipher)
    new_key = TokenCipher.generate_key()
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", f"{new_key},{token_key}")
    code = await asyncio.to_thread(main, ["rotate-keys"])
    assert code == 0
    assert "re-encrypted 1 connections" in capsys.readouterr().out
    row = await db.fetchrow("SELECT access_token_ciphertext FROM oauth_tokens")
    TokenCipher.from_keys(new_key).decrypt(row["access_token_ciphertext"])
