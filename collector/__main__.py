"""`python -m collector run | backfill | rotate-keys | requeue-quarantine | subscriptions |
webhooks`.

Exit codes: 0 everything succeeded, 1 some user or data type failed (one line each on stdout),
2 the command or its configuration is wrong (one line on stderr, never a traceback)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from uuid import UUID

import asyncpg
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from collector.backfill import run_backfill
from collector.collect import Collector, RunReport, run_daily, utc_today
from collector.metrics import RUNS, serve_metrics
from collector.oura import OuraClient, RateLimiter, SharedBudget
from collector.publisher import PublishError, RawPublisher
from collector.requeue import requeue_quarantine
from collector.settings import CollectorSettings
from collector.webhooks import subscriptions_cli
from collector.webhooks.fetcher import WebhookFetcher
from oura_connection import (
    OuraOAuthClient,
    TokenCipher,
    TokenCipherError,
    retry_revocations,
    rotate_all_tokens,
)
from schemas.data_types import BY_NAME, DataType
from schemas.db import open_pool
from schemas.logs import configure_logging
from schemas.settings import DatabaseSettings, KafkaSettings

log = logging.getLogger("collector")


class UsageError(Exception):
    """Bad arguments or configuration: reported as one line, exit code 2."""


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def _parse_user(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a user id (a UUID)") from None


def _parse_types(values: Sequence[str] | None) -> list[DataType] | None:
    if not values:
        return None
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise UsageError(f"unknown data type(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in dict.fromkeys(names)]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m collector", description="Collect Oura data into Kafka.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="the daily run for every connected user")
    run.add_argument("--types", nargs="+", metavar="TYPE", help="only these data types")
    backfill = commands.add_parser("backfill", help="fetch history, only the gaps")
    who = backfill.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", type=_parse_user, help="one user id")
    who.add_argument("--all", action="store_true", help="every user with an active connection")
    backfill.add_argument("--since", type=_parse_day, required=True, help="YYYY-MM-DD")
    backfill.add_argument("--types", nargs="+", metavar="TYPE", help="only these data types")
    commands.add_parser("rotate-keys", help="re-encrypt stored tokens with the first key")
    requeue = commands.add_parser(
        "requeue-quarantine",
        help="publish quarantined documents the schema now takes to their raw topics",
    )
    requeue.add_argument("--since", type=_parse_day, help="only those fetched on or after")
    requeue.add_argument("--types", nargs="+", metavar="TYPE", help="only these data types")
    subscriptions_cli.add_parser(commands)
    commands.add_parser(
        "webhooks", help="the webhook fetcher: fetch what Oura's webhooks announce, until stopped"
    )
    return parser


@dataclass
class Resources:
    settings: CollectorSettings
    pool: asyncpg.Pool
    cipher: TokenCipher


def _cipher(settings: CollectorSettings) -> TokenCipher:
    keys = settings.token_encryption_keys.get_secret_value()
    if not keys.strip():
        raise UsageError("TOKEN_ENCRYPTION_KEYS is not set (comma-separated Fernet keys)")
    try:
        return TokenCipher.from_keys(keys)
    except TokenCipherError as exc:
        raise UsageError(str(exc)) from None


@contextlib.asynccontextmanager
async def _resources(settings: CollectorSettings) -> AsyncIterator[Resources]:
    cipher = _cipher(settings)
    db = DatabaseSettings()
    try:
        pool = await open_pool(db)
    except (OSError, asyncpg.PostgresError) as exc:
        raise UsageError(
            f"cannot connect to PostgreSQL at {db.host}:{db.port}/{db.name}: {exc}"
        ) from None
    try:
        yield Resources(settings, pool, cipher)
    finally:
        await pool.close()


def _rate_limiter(res: Resources) -> RateLimiter:
    """The Oura request budget: shared with every other collector process of the application
    (keyed by its client id) unless COLLECTOR_RATE_BUDGET_SHARED is off."""
    settings = res.settings
    budget = None
    if settings.rate_budget_shared:
        budget = SharedBudget(
            res.pool,
            settings.oura_client_id or "default",
            settings.rate_limit_requests,
            settings.rate_limit_window_s,
            chunk=settings.rate_budget_chunk,
        )
    return RateLimiter(settings.rate_limit_requests, settings.rate_limit_window_s, budget)


@contextlib.asynccontextmanager
async def _publisher(kafka: KafkaSettings) -> AsyncIterator[RawPublisher]:
    publisher = RawPublisher(kafka)
    try:
        await publisher.start()
    except Exception as exc:  # aiokafka raises several unrelated types for "unreachable"
        raise UsageError(
            f"cannot connect to Kafka at {kafka.bootstrap_servers}: {type(exc).__name__}: {exc}"
        ) from None
    try:
        yield publisher
    finally:
        await publisher.stop()


@contextlib.asynccontextmanager
async def _collector(res: Resources) -> AsyncIterator[Collector]:
    client = OuraClient(res.settings, limiter=_rate_limiter(res))
    oauth = OuraOAuthClient(res.settings)
    try:
        async with _publisher(KafkaSettings()) as publisher:
            yield Collector(res.settings, res.pool, client, publisher, oauth, res.cipher)
    finally:
        await client.aclose()
        await oauth.aclose()


def _print_report(command: str, report: RunReport) -> None:
    out = sys.stdout
    out.write(
        f"{command}: {report.documents} documents from {report.users} users, "
        f"{report.windows} windows, {report.requests} requests, {report.seconds:.1f}s, "
        f"{len(report.failures)} failed"
        + (f", {report.quarantined} quarantined" if report.quarantined else "")
        + "\n"
    )
    for line in report.not_granted:
        out.write(f"not granted: {line}\n")
    for line in report.failures:
        out.write(f"FAILED: {line}\n")
    out.flush()


async def _requeue(args: argparse.Namespace, only: list[DataType] | None) -> int:
    kafka = KafkaSettings()
    since = datetime.combine(args.since, time(0), UTC) if args.since else None
    async with _publisher(kafka) as publisher:
        try:
            report = await requeue_quarantine(
                kafka, publisher, since=since, only={t.name for t in only or ()}
            )
        except PublishError as exc:
            sys.stdout.write(f"requeue-quarantine: FAILED: {exc}\n")
            return 1
    sys.stdout.write(report.summary() + "\n")
    return 0


async def _fetch_webhooks(collector: Collector) -> None:
    """Run the webhook fetcher until SIGTERM or SIGINT; the batch in hand is finished first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    kafka = KafkaSettings()
    try:
        await WebhookFetcher(collector, kafka).run(stop)
    except KafkaConnectionError as exc:
        raise UsageError(f"cannot connect to Kafka at {kafka.bootstrap_servers}: {exc}") from None


async def _main(args: argparse.Namespace, settings: CollectorSettings) -> int:
    only = _parse_types(getattr(args, "types", None))
    if args.command == "requeue-quarantine":
        return await _requeue(args, only)
    if args.command == "subscriptions":
        try:
            return await subscriptions_cli.run(args, settings)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    async with _resources(settings) as res:
        if args.command == "rotate-keys":
            count = await rotate_all_tokens(res.pool, res.cipher)
            sys.stdout.write(f"rotate-keys: re-encrypted {count} connections\n")
            return 0
        serve_metrics(settings.collector_metrics_port)
        async with _collector(res) as collector:
            if args.command == "webhooks":
                await _fetch_webhooks(collector)
                return 0
            if args.command == "run":
                # Grants a disconnect could not revoke: retried first, every run.
                revoked, pending = await retry_revocations(res.pool, collector.oauth, res.cipher)
                if revoked or pending:
                    sys.stdout.write(f"revocations: {revoked} revoked, {pending} still pending\n")
                report = await run_daily(collector, only=only)
            else:
                users = await collector.active_users()
                if args.user is not None:
                    users = [u for u in users if u[0] == args.user]
                    if not users:
                        raise UsageError(f"user {args.user} has no active Oura connection")
                if args.since > utc_today():
                    raise UsageError(f"--since {args.since} is in the future")
                report = await run_backfill(collector, users, args.since, only=only)
        _print_report(args.command, report)
        RUNS.labels(args.command, "failed" if report.exit_code else "ok").inc()
        if settings.collector_metrics_port and settings.metrics_linger_s:
            # A CronJob's metrics vanish with its pod: stay up long enough to be scraped.
            await asyncio.sleep(settings.metrics_linger_s)
        return report.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        settings = CollectorSettings()
    except UsageError as exc:
        sys.stderr.write(f"python -m collector: error: {exc}\n")
        return 2
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        sys.stderr.write(f"python -m collector: configuration error: {problems}\n")
        return 2
    configure_logging("collector", settings.log_level)
    try:
        return asyncio.run(_main(args, settings))
    except UsageError as exc:
        sys.stderr.write(f"python -m collector: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("python -m collector: interrupted; re-run to resume\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
