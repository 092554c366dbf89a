"""`python -m migrations upgrade|downgrade|current` — the database and topic one-shot.

`upgrade` also creates any missing Kafka topic from the registry in `schemas.topics`, so one
Helm hook / compose service prepares both stores."""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiokafka.errors import KafkaError
from alembic import command
from sqlalchemy.exc import SQLAlchemyError

from migrations import alembic_config


def _ensure_topics() -> int:
    from schemas.settings import KafkaSettings
    from schemas.topics import ensure_topics

    return len(asyncio.run(ensure_topics(KafkaSettings())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrations", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="migrate to a revision (default: head) and create topics")
    up.add_argument("revision", nargs="?", default="head")
    up.add_argument("--no-topics", action="store_true", help="skip Kafka topic creation")
    down = sub.add_parser("downgrade", help="migrate down to a revision (e.g. base)")
    down.add_argument("revision")
    sub.add_parser("current", help="print the database's revision")
    args = parser.parse_args(argv)

    config = alembic_config()
    try:
        if args.command == "upgrade":
            command.upgrade(config, args.revision)
            if not args.no_topics:
                created = _ensure_topics()
                print(f"kafka topics ready ({created} created)")  # noqa: T201
        elif args.command == "downgrade":
            command.downgrade(config, args.revision)
        else:
            command.current(config)
    except (OSError, SQLAlchemyError, KafkaError) as exc:
        # One line naming the problem (which service, what it said), not a traceback.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"migrations failed: {type(exc).__name__}: {reason}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
