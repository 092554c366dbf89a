"""Amazon MSK IAM authentication for aiokafka: SASL/OAUTHBEARER with tokens signed by the
optional `aws-msk-iam-sasl-signer-python` package (install `myhealth[msk-iam]`)."""

from __future__ import annotations

from aiokafka.abc import AbstractTokenProvider


class MskIamTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    def __init__(self, region: str | None) -> None:
        if not region:
            raise ValueError("KAFKA_AWS_REGION is required for MSK IAM (OAUTHBEARER)")
        self._region = region

    async def token(self) -> str:
        try:
            from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError("MSK IAM needs the extra: pip install 'myhealth[msk-iam]'") from exc
        token, _expiry_ms = MSKAuthTokenProvider.generate_auth_token(self._region)
        return str(token)
