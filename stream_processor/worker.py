"""`python -m stream_processor worker`: Faust's worker running the processor app
(stream_processor.app), with the Prometheus endpoint on PROCESSOR_METRICS_PORT.

SIGTERM/SIGINT stop it gracefully (Faust's worker handles both): the batches being written are
given PROCESSOR_STOP_WAIT_S to commit and their offsets are committed; otherwise they are
redelivered after the restart. The exit status is 0 after a stop and non-zero after a crash."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from typing import NoReturn

import faust

from schemas.settings import DatabaseSettings, KafkaSettings
from stream_processor.app import ProcessorApp, build_app
from stream_processor.metrics import serve_metrics
from stream_processor.settings import ProcessorSettings

log = logging.getLogger(__name__)


def run_worker(settings: ProcessorSettings, kafka: KafkaSettings, db: DatabaseSettings) -> NoReturn:
    _limit_malloc_arenas()
    serve_metrics(settings.metrics_port)
    # Faust's services bind to the loop current when they are built.
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = build_app(settings, kafka, db)
    _announce_start(app, settings)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        # The process already logs JSON (schemas.logs); Faust's worker would add its own
        # handlers and send stdout through the log.
        override_logging=False,
        redirect_stdouts=False,
    )
    # Its progress spinner writes terminal control codes to stdout: not a log line.
    worker.spinner = None
    worker.execute_from_commandline()


def _announce_start(app: ProcessorApp, settings: ProcessorSettings) -> None:
    async def started() -> None:
        # Runs once the worker is up, its signal handlers installed: from here a SIGTERM is a
        # graceful stop.
        log.info(
            "processor started",
            extra={"group_id": settings.group_id, "feed": settings.feed},
        )

    app.task(started)


M_ARENA_MAX = -8
"""glibc's mallopt parameter for the number of malloc arenas."""


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """Faust runs the Kafka consumer in a thread of its own, and glibc gives each thread that
    allocates a malloc arena of its own, which it rarely returns: tens of MB of RSS for nothing.
    Two arenas (the same as MALLOC_ARENA_MAX=2) keep the batches' churn in shared ones. Must run
    before the threads start; a libc without mallopt (musl) is left alone."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        log.info("malloc arenas left as they are (no glibc mallopt)")
