"""`python -m stream_processor worker|replay` (also installed as `myhealth-processor`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict

from aiokafka.errors import KafkaError
from asyncpg import PostgresError
from pydantic import ValidationError

from schemas.logs import configure_logging
from schemas.settings import DatabaseSettings, KafkaSettings
from stream_processor import replay as replay_module
from stream_processor.settings import ProcessorSettings

log = logging.getLogger("stream_processor")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stream_processor",
        description="Validate, dedupe and persist raw Oura records; publish daily trends.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "worker",
        help="run the Faust worker: consume the raw topics, offsets committed after the database",
    )
    replay = commands.add_parser(
        "replay",
        help="reprocess raw topics up to their current end, then exit (also rebuilds the DB)",
        description=(replay_module.__doc__ or "").split("\n\n")[0],
    )
    replay_module.add_arguments(replay)
    return parser


def _stopped_while_starting(signum: int, frame: object) -> None:
    # Until the worker installs its own handler, a SIGTERM (a rollout, a test) finds nothing
    # consumed yet: leave quietly with 0 instead of dying by the signal.
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stopped_while_starting)
    args = _parser().parse_args(argv)
    try:
        settings = ProcessorSettings()
        kafka = KafkaSettings()
        db = DatabaseSettings()
    except ValidationError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)  # noqa: T201 - CLI error
        return 2
    configure_logging("stream_processor", settings.log_level)
    try:
        if args.command == "worker":
            from stream_processor.worker import run_worker

            run_worker(settings, kafka, db)
        stats = asyncio.run(
            replay_module.replay(
                settings,
                kafka,
                db,
                topics=args.topics,
                since=args.since,
                dead_letter=args.dead_letter,
            )
        )
    except replay_module.ReplayError as exc:
        print(f"replay: {exc}", file=sys.stderr)  # noqa: T201 - CLI error
        return 2
    except (KafkaError, OSError, PostgresError) as exc:
        # A dependency that cannot be reached: one line naming it, not a traceback.
        print(f"{args.command}: cannot proceed: {type(exc).__name__}: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:
        return 130
    summary = {**asdict(stats), "records_per_s": round(stats.records_per_s, 1)}
    log.info("replay finished", extra=summary)
    print(json.dumps(summary))  # noqa: T201 - the command's result, for people and scripts
    return 0


if __name__ == "__main__":
    sys.exit(main())
