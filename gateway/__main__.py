"""`python -m gateway`: serve the gateway with uvicorn (GATEWAY_HOST, GATEWAY_PORT,
GATEWAY_WORKERS)."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from gateway.app import create_app
from gateway.metrics import serve_metrics
from gateway.server import uvicorn_options
from gateway.settings import GatewaySettings
from schemas.logs import configure_logging


def _settings() -> GatewaySettings:
    try:
        return GatewaySettings()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        sys.stderr.write(f"gateway: invalid configuration: {problems}\n")
        raise SystemExit(2) from None


def build_app() -> FastAPI:
    """uvicorn factory (each worker process builds its own app)."""
    settings = _settings()
    configure_logging("gateway", settings.log_level, access_log=settings.access_log)
    return create_app(settings)


def main() -> None:
    settings = _settings()  # fail here, before any worker starts, with the reason
    configure_logging("gateway", settings.log_level, access_log=settings.access_log)
    if settings.metrics_port:
        serve_metrics(settings.gateway_host, settings.metrics_port)
    uvicorn.run(
        "gateway.__main__:build_app",
        factory=True,
        **uvicorn_options(
            host=settings.gateway_host,
            port=settings.gateway_port,
            workers=settings.gateway_workers,
            log_level=settings.log_level,
            access_log=settings.access_log,
        ),
    )


if __name__ == "__main__":
    main()
