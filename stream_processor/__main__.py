"""`python -m stream_processor worker|replay|dead-letters|migrate-topics` (also installed as
`myhealth-processor`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from asyncpg import PostgresError
from pydantic import ValidationError

from schemas.logs import configure_logging
from schemas.settings import DatabaseSettings, KafkaSettings
from stream_processor import replay as replay_module
from stream_processor import topic_migration
from stream_processor.settings import ProcessorSettings
from stream_processor.storage.dead_letters import DeadLetterRow, list_dead_letters

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
    letters = commands.add_parser(
        "dead-letters",
        help="list the records the processor refused, newest first (from the dead_letters table)",
    )
    letters.add_argument("--user", help="only this user's (a user id, or 'unknown')")
    letters.add_argument("--limit", type=_positive, default=100, help="at most this many")
    letters.add_argument("--json", action="store_true", help="one JSON object per line")
    migrate = commands.add_parser(
        "migrate-topics",
        help="rewrite user-keyed, non-compacted topics into the compacted layout (workers stopped)",
        description=(topic_migration.__doc__ or "").split("\n\n")[0],
    )
    migrate.add_argument(
        "--keep-backup", action="store_true", help="keep the <topic>.pre-compaction copies"
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


async def _dead_letters(db: DatabaseSettings, user: str | None, limit: int) -> list[DeadLetterRow]:
    conn = await asyncpg.connect(**db.asyncpg_kwargs())
    try:
        return await list_dead_letters(conn, user_id=user, limit=limit)
    finally:
        await conn.close()


def _print_dead_letters(letters: list[DeadLetterRow], as_json: bool) -> None:
    for letter in letters:
        fields: dict[str, Any] = letter._asdict()
        moment = letter.dead_lettered_at
        fields["dead_lettered_at"] = moment.isoformat() if moment else None
        if as_json:
            print(json.dumps(fields))  # noqa: T201 - the command's output
        else:
            print(  # noqa: T201 - the command's output
                f"{fields['dead_lettered_at']}  {letter.user_id}  {letter.source_topic}"
                f"[{letter.source_partition}]@{letter.source_offset}  {letter.data_type}  "
                f"{letter.error_class}: {letter.reason[:200]}"
            )
    if not as_json:
        print(f"{len(letters)} dead letter(s)")  # noqa: T201 - the command's output


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
        if args.command == "dead-letters":
            letters = asyncio.run(_dead_letters(db, args.user, args.limit))
            _print_dead_letters(letters, args.json)
            return 0
        if args.command == "migrate-topics":
            report = asyncio.run(
                topic_migration.migrate_topics(
                    kafka, settings.group_id, keep_backup=args.keep_backup
                )
            )
            for topic in report.topics:
                print(json.dumps(asdict(topic)))  # noqa: T201 - the command's result
            return 0
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
    except topic_migration.MigrationError as exc:
        print(f"migrate-topics: {exc}", file=sys.stderr)  # noqa: T201 - CLI error
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
