"""Oura tokens encrypted at rest with Fernet; MultiFernet for key rotation."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenCipherError(ValueError):
    """A key is malformed, or a ciphertext was not made by any configured key."""


class TokenCipher:
    """Encrypts with the first key; decrypts with any of them, so old ciphertexts stay readable
    while `rotate_all_tokens` re-encrypts them under the new first key."""

    def __init__(self, fernets: list[Fernet]) -> None:
        if not fernets:
            raise TokenCipherError(
                "TOKEN_ENCRYPTION_KEYS is empty: at least one Fernet key is needed"
            )
        self._multi = MultiFernet(fernets)

    @classmethod
    def from_keys(cls, keys: str | list[str]) -> TokenCipher:
        """`keys`: comma-separated Fernet keys (as in TOKEN_ENCRYPTION_KEYS) or a list of them."""
        raw = keys.split(",") if isinstance(keys, str) else keys
        fernets: list[Fernet] = []
        for position, key in enumerate(k.strip() for k in raw):
            if not key:
                continue
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                raise TokenCipherError(
                    f"TOKEN_ENCRYPTION_KEYS entry {position + 1} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with "
                    "`python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)"
                ) from None
        return cls(fernets)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> bytes:
        return self._multi.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._multi.decrypt(bytes(ciphertext)).decode()
        except InvalidToken:
            raise TokenCipherError(
                "stored token cannot be decrypted with any key in TOKEN_ENCRYPTION_KEYS"
            ) from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt under the first (current) key."""
        try:
            return self._multi.rotate(bytes(ciphertext))
        except InvalidToken:
            raise TokenCipherError(
                "stored token cannot be decrypted with any key in TOKEN_ENCRYPTION_KEYS"
            ) from None
