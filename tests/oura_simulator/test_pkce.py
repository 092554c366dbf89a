"""PKCE (RFC 7636, S256) at the simulator's authorize and token endpoints: a code issued for a
challenge is exchanged only with its verifier; a missing or wrong verifier is invalid_grant."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlparse

REDIRECT = "http://127.0.0.1:9/callback"
VERIFIER = "pkce-verifier-" + "v" * 40


def _challenge(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


async def _code(api: Any) -> str:
    code: str = await api.authorize(
        code_challenge=_challenge(VERIFIER), code_challenge_method="S256"
    )
    return code


async def _exchange(api: Any, code: str, **verifier: str) -> Any:
    return await api.token(
        grant_type="authorization_code", code=code, redirect_uri=REDIRECT, **verifier
    )


async def test_the_right_verifier_gets_tokens(api: Any) -> None:
    answer = await _exchange(api, await _code(api), code_verifier=VERIFIER)
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"]


async def test_missing_or_wrong_verifier_is_refused(api: Any) -> None:
    code = await _code(api)
    missing = await _exchange(api, code)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    wrong = await _exchange(api, code, code_verifier=VERIFIER + "x")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The challenge itself is not the verifier.
    echoed = await _exchange(api, code, code_verifier=_challenge(VERIFIER))
    assert echoed.status_code == 400 and echoed.json()["error"] == "invalid_grant"
    # Failed attempts did not spend the code: its rightful holder still completes.
    assert (await _exchange(api, code, code_verifier=VERIFIER)).status_code == 200


async def test_plain_method_is_refused(api: Any) -> None:
    answer = await api.http.get(
        "/oauth/authorize",
        params={
            "client_id": "simulator-client",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "state": "xyz",
            "code_challenge": VERIFIER,
            "code_challenge_method": "plain",
        },
    )
    assert answer.status_code == 302
    query = parse_qs(urlparse(answer.headers["location"]).query)
    assert query["error"] == ["invalid_request"] and "code" not in query
