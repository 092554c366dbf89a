"""Tokens encrypted at rest: no network, no database."""

from __future__ import annotations

import pytest

from oura_connection import TokenCipher, TokenCipherError


def test_cipher_round_trip_and_rotation() -> None:
    old, new = TokenCipher.generate_key(), TokenCipher.generate_key()
    before = TokenCipher.from_keys(old)
    ciphertext = before.encrypt("secret-token")
    after = TokenCipher.from_keys(f"{new},{old}")
    assert after.decrypt(ciphertext) == "secret-token"
    rotated = after.rotate(ciphertext)
    assert TokenCipher.from_keys([new]).decrypt(rotated) == "secret-token"
    with pytest.raises(TokenCipherError):
        before.decrypt(rotated)


def test_cipher_rejects_bad_keys_with_a_clear_message() -> None:
    with pytest.raises(TokenCipherError, match="entry 2 is not a Fernet key"):
        TokenCipher.from_keys(f"{TokenCipher.generate_key()},nope")
    with pytest.raises(TokenCipherError, match="empty"):
        TokenCipher.from_keys(" , ")
