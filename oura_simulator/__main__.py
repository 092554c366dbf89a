"""`python -m oura_simulator`: serve the Oura simulator (used by `make run` and compose)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date

import uvicorn

from oura_simulator.app import create_app
from oura_simulator.config import SimulatorConfig
from oura_simulator.syncs import DEFAULT_SYNC_TYPES, SYNC_TYPES
from schemas.logs import configure_logging

log = logging.getLogger("oura_simulator")


def _env_redirect_uris() -> list[str]:
    """The gateway's callback as the services are configured (`make run`, compose)."""
    uri = os.environ.get("OURA_REDIRECT_URI")
    return [uri] if uri else []


def _seconds(
    group: argparse._ActionsContainer,
    flag: str,
    dest: str,
    default: float | None,
    text: str | None = None,
) -> None:
    group.add_argument(flag, dest=dest, type=float, default=default, metavar="SECONDS", help=text)


def parse_args(argv: Sequence[str] | None = None) -> SimulatorConfig:
    """Each option stores into the SimulatorConfig field it names (`dest`)."""
    defaults = SimulatorConfig()
    p = argparse.ArgumentParser(prog="python -m oura_simulator", description=__doc__)
    p.add_argument("--host", default=defaults.host)
    p.add_argument("--port", type=int, default=defaults.port)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument(
        "--users", type=int, default=defaults.users, help="demo accounts (demo, demo2, ...)"
    )
    p.add_argument("--quirks", action="store_true", help="replicate Oura's date-filter quirks")
    p.add_argument(
        "--data-quirks",
        action="store_true",
        help="serve data with real Oura's quirks: missing ids, nulls, odd values, new fields",
    )
    p.add_argument("--client-id", default=os.environ.get("OURA_CLIENT_ID") or defaults.client_id)
    p.add_argument(
        "--client-secret",
        default=os.environ.get("OURA_CLIENT_SECRET") or defaults.client_secret,
        help="default: $OURA_CLIENT_SECRET or the development secret",
    )
    p.add_argument(
        "--redirect-uri",
        dest="redirect_uris",
        action="append",
        metavar="URI",
        default=[],
        help="a registered redirect URI (repeatable); default: $OURA_REDIRECT_URI",
    )
    p.add_argument("--page-size", type=int, default=defaults.page_size)
    p.add_argument("--heartrate-page-size", type=int, default=defaults.heartrate_page_size)
    p.add_argument(
        "--token-ttl", dest="access_token_ttl_s", type=int, default=defaults.access_token_ttl_s
    )
    p.add_argument(
        "--rate-limit", dest="rate_limit_requests", type=int, default=defaults.rate_limit_requests
    )
    p.add_argument(
        "--rate-window", dest="rate_limit_window_s", type=int, default=defaults.rate_limit_window_s
    )
    p.add_argument("--today", type=date.fromisoformat, default=None, help="fix today (YYYY-MM-DD)")
    p.add_argument("--history-days", type=int, default=defaults.history_days)
    _seconds(p, "--revision-every", "revision_every_s", None)
    _seconds(p, "--fault-latency", "latency_s", 0.0)
    p.add_argument("--fault-429", dest="rate_limit_burst", type=int, default=0, metavar="N")
    p.add_argument("--fault-5xx", dest="server_error_burst", type=int, default=0, metavar="N")
    p.add_argument("--fault-malformed", dest="malformed_pages", type=int, default=0, metavar="N")
    w = p.add_argument_group("webhooks")
    _seconds(
        w,
        "--sync-every",
        "sync_every_s",
        None,
        "sync every user's ring this often (new documents and webhook events)",
    )
    w.add_argument(
        "--sync-types",
        type=_sync_types,
        default=None,
        metavar="TYPE,...",
        help=f"what each timed sync changes, of {','.join(SYNC_TYPES)} "
        f"(default: {','.join(DEFAULT_SYNC_TYPES)})",
    )
    _seconds(
        w,
        "--webhook-ttl",
        "webhook_subscription_ttl_s",
        defaults.webhook_subscription_ttl_s,
        "subscription lifetime per create or renew (default: 7 days)",
    )
    w.add_argument(
        "--webhook-retries",
        dest="webhook_max_retries",
        type=int,
        default=defaults.webhook_max_retries,
    )
    _seconds(
        w,
        "--webhook-backoff",
        "webhook_retry_base_s",
        defaults.webhook_retry_base_s,
        "wait before the first retry, doubled for each next one",
    )
    _seconds(w, "--webhook-timeout", "webhook_timeout_s", defaults.webhook_timeout_s)
    _seconds(
        w,
        "--webhook-delay",
        "webhook_delay_s",
        defaults.webhook_delay_s,
        "wait between an event and its first delivery (Oura: about 30 s)",
    )
    for flag, dest in (
        ("--webhook-drop", "webhook_drop_probability"),
        ("--webhook-duplicate", "webhook_duplicate_probability"),
    ):
        w.add_argument(flag, dest=dest, type=_probability, default=0.0, metavar="P")
    p.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    chosen = vars(p.parse_args(argv))
    configure_logging("simulator", chosen.pop("log_level"))
    chosen["redirect_uris"] = tuple(chosen["redirect_uris"] or _env_redirect_uris())
    return SimulatorConfig(**chosen)


def _sync_types(text: str) -> tuple[str, ...]:
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in types if t not in SYNC_TYPES]
    if unknown or not types:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {','.join(SYNC_TYPES)}")
    return types


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def _refuse_outside_development() -> None:
    # Everything here is fake on purpose (auto-approved consent, known client secret, controls
    # that mint tokens): it must never answer where real accounts live. Unset means production.
    environment = os.environ.get("ENVIRONMENT", "production")
    if environment != "development":
        sys.stderr.write(
            f"python -m oura_simulator: refusing to start with ENVIRONMENT={environment}: "
            "the Oura simulator runs only with ENVIRONMENT=development\n"
        )
        raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> None:
    _refuse_outside_development()
    config = parse_args(argv)
    log.info(
        "starting the Oura simulator",
        extra={
            "host": config.host,
            "port": config.port,
            "users": config.users,
            "quirks": config.quirks,
            "data_quirks": config.data_quirks,
            "sync_every_s": config.sync_every_s,
        },
    )
    # Access logs are off: query strings can carry tokens (/oauth/revoke?access_token=...).
    uvicorn.run(
        create_app(config), host=config.host, port=config.port, access_log=False, log_config=None
    )


if __name__ == "__main__":
    main()
