"""`python -m collector subscriptions ensure | list | renew | delete [ID ...]`.

Prints one line per subscription touched (or a table for `list`), `FAILED: ...` lines for what
did not work (exit code 1), and serves the expiry gauges on COLLECTOR_METRICS_PORT like the other
collector commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from collector.metrics import RUNS, serve_metrics
from collector.settings import CollectorSettings
from collector.webhooks.subscription_api import SubscriptionApi, SubscriptionApiError
from collector.webhooks.subscriptions import (
    Outcome,
    Subscriptions,
    record_metrics,
    wanted_pairs,
)

ACTIONS = ("ensure", "list", "renew", "delete")


def add_parser(commands: Any) -> None:
    """The `subscriptions` subcommand, on the collector's subparsers."""
    parser = commands.add_parser(
        "subscriptions", help="Oura webhook subscriptions: ensure, list, renew or delete them"
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("ids", nargs="*", metavar="ID", help="delete: only these subscriptions")


def table(outcome: Outcome, now: datetime) -> str:
    rows = [("ID", "EVENT", "DATA TYPE", "EXPIRES", "IN", "CALLBACK")]
    for s in sorted(outcome.subscriptions, key=lambda s: (s.data_type, s.event_type)):
        left = (s.expiration_time - now).total_seconds()
        remaining = "expired" if left <= 0 else f"{left / 86400:.1f}d"
        expires = s.expiration_time.astimezone(UTC).isoformat(timespec="seconds")
        rows.append((s.id, s.event_type, s.data_type, expires, remaining, s.callback_url))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(f"{len(outcome.subscriptions)} subscriptions")
    return "\n".join(line.rstrip() for line in lines)


async def run(args: argparse.Namespace, settings: CollectorSettings) -> int:
    """Raises ValueError for configuration the command cannot work without."""
    if args.ids and args.action != "delete":
        raise ValueError(f"subscription ids are only taken by delete, not {args.action}")
    if not settings.oura_client_id or not settings.oura_client_secret.get_secret_value():
        raise ValueError("OURA_CLIENT_ID and OURA_CLIENT_SECRET must be set")
    serve_metrics(settings.collector_metrics_port)
    async with SubscriptionApi(settings) as api:
        commands = Subscriptions(api, settings)
        try:
            if args.action == "ensure":
                outcome = await commands.ensure()
            elif args.action == "renew":
                outcome = await commands.renew()
            elif args.action == "delete":
                outcome = await commands.delete(args.ids)
            else:
                outcome = await commands.current()
        except SubscriptionApiError as exc:
            outcome = Outcome(failures=[str(exc)])
    now = datetime.now(UTC)
    out = sys.stdout
    if args.action == "list" and not outcome.failures:
        out.write(table(outcome, now) + "\n")
    elif args.action != "list":
        # The summary first: `make run` shows a job's first lines.
        out.write(
            f"subscriptions {args.action}: {len(outcome.subscriptions)} subscriptions, "
            f"{len(outcome.lines)} changed, {outcome.unchanged} unchanged, "
            f"{len(outcome.failures)} failed\n"
        )
    for line in outcome.lines:
        out.write(line + "\n")
    for line in outcome.failures:
        out.write(f"FAILED: {line}\n")
    out.flush()
    if not (args.action == "list" and outcome.failures):
        record_metrics(outcome.subscriptions, wanted_pairs(settings), now)
    RUNS.labels(f"subscriptions {args.action}", "failed" if outcome.exit_code else "ok").inc()
    if settings.collector_metrics_port and settings.metrics_linger_s:
        # A CronJob's metrics vanish with its pod: stay up long enough to be scraped.
        await asyncio.sleep(settings.metrics_linger_s)
    return outcome.exit_code
