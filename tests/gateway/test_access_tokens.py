"""JWT attacks: alg none, another algorithm, tampered payload, expired, deleted user, junk."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from gateway.security.access_tokens import ISSUER, create_access_token
from gateway.settings import GatewaySettings
from tests.gateway.factories import new_user


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user_id: uuid.UUID, **overrides) -> dict:
    now = datetime.now(UTC)
    return {
        "sub": str(user_id),
        "iat": int(now.timestamp()),
        "iss": ISSUER,
        "exp": int((now + timedelta(hours=1)).timestamp()),
        **overrides,
    }


async def _status(client: httpx.AsyncClient, token: str) -> tuple[int, str]:
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    body = response.json()
    assert set(body) == {"detail", "code"} or response.status_code == 200
    return response.status_code, body.get("code", "")


async def test_valid_token_works(client: httpx.AsyncClient, settings: GatewaySettings) -> None:
    user_id, _ = await new_user(client)
    token = create_access_token(user_id, secret=settings.jwt_secret.get_secret_value(), ttl_s=60)
    assert (await _status(client, token))[0] == 200
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == str(user_id) and claims["exp"] - claims["iat"] == 60


async def test_alg_none_rejected(client: httpx.AsyncClient) -> None:
    user_id, _ = await new_user(client)
    for alg in ("none", "None", "NONE"):
        token = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(_claims(user_id))}."
        assert await _status(client, token) == (401, "invalid_token")


async def test_other_algorithms_rejected(client: httpx.AsyncClient, settings) -> None:
    user_id, _ = await new_user(client)
    secret = settings.jwt_secret.get_secret_value()
    for alg in ("HS384", "HS512"):
        token = jwt.encode(_claims(user_id), secret, algorithm=alg)
        assert await _status(client, token) == (401, "invalid_token"), alg
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(user_id), key, algorithm="RS256")
    assert await _status(client, token) == (401, "invalid_token")


async def test_tampered_payload_and_wrong_secret_rejected(
    client: httpx.AsyncClient, settings
) -> None:
    victim, _ = await new_user(client)
    attacker, _ = await new_user(client)
    token = create_access_token(attacker, secret=settings.jwt_secret.get_secret_value(), ttl_s=600)
    header, _payload, signature = token.split(".")
    forged = f"{header}.{_b64(_claims(victim))}.{signature}"
    assert await _status(client, forged) == (401, "invalid_token")
    other_secret = jwt.encode(_claims(victim), "x" * 64, algorithm="HS256")
    assert await _status(client, other_secret) == (401, "invalid_token")


async def test_expired_and_missing_claims_rejected(client: httpx.AsyncClient, settings) -> None:
    user_id, _ = await new_user(client)
    secret = settings.jwt_secret.get_secret_value()
    past = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp())
    expired = jwt.encode(_claims(user_id, exp=past), secret, algorithm="HS256")
    assert await _status(client, expired) == (401, "token_expired")
    for missing in ("exp", "sub", "iat", "iss"):
        claims = _claims(user_id)
        del claims[missing]
        token = jwt.encode(claims, secret, algorithm="HS256")
        assert await _status(client, token) == (401, "invalid_token"), missing
    wrong_issuer = jwt.encode(_claims(user_id, iss="someone-else"), secret, algorithm="HS256")
    assert await _status(client, wrong_issuer) == (401, "invalid_token")
    not_a_uuid = jwt.encode(_claims(user_id, sub="admin"), secret, algorithm="HS256")
    assert await _status(client, not_a_uuid) == (401, "invalid_token")


async def test_token_of_unknown_user_rejected(client: httpx.AsyncClient, settings) -> None:
    token = create_access_token(
        uuid.uuid4(), secret=settings.jwt_secret.get_secret_value(), ttl_s=600
    )
    assert await _status(client, token) == (401, "invalid_token")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not.a.jwt",
        "Bearer ☃.☃.☃".encode(),
        "Bearer " + "a" * 5000,
    ],
)
async def test_junk_authorization_rejected(client: httpx.AsyncClient, header: str | bytes) -> None:
    response = await client.get(
        "/api/dashboard", headers={"Authorization": header} if header else {}
    )
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}
    assert response.headers.get("www-authenticate") == "Bearer"
